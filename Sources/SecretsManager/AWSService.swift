import InjectorBase

/// The AWS JSON 1.1 services this package speaks: what requests are signed for and sent to, and
/// how an error names the service, its permissions, its resources and its endpoint setting.
public enum AWSService: String, Sendable, CaseIterable {
    case secretsManager, parameterStore

    /// The name an operator knows it by, in messages.
    public var name: String {
        switch self {
        case .secretsManager: "Secrets Manager"
        case .parameterStore: "Parameter Store"
        }
    }

    /// The SigV4 service name, which is also the IAM action prefix, the ARN service and the first
    /// label of the regional host (`secretsmanager`, `ssm`).
    public var signingName: String {
        switch self {
        case .secretsManager: "secretsmanager"
        case .parameterStore: "ssm"
        }
    }

    /// The prefix of `X-Amz-Target` (`secretsmanager.GetSecretValue`, `AmazonSSM.GetParameters`).
    var targetPrefix: String {
        switch self {
        case .secretsManager: "secretsmanager"
        case .parameterStore: "AmazonSSM"
        }
    }

    /// The service's own endpoint variable (botocore's name for it), before `AWS_ENDPOINT_URL`.
    public var endpointVariable: String {
        switch self {
        case .secretsManager: "AWS_ENDPOINT_URL_SECRETS_MANAGER"
        case .parameterStore: "AWS_ENDPOINT_URL_SSM"
        }
    }

    /// What the service keeps: `secret`, `parameter`.
    public var resourceNoun: String {
        switch self {
        case .secretsManager: "secret"
        case .parameterStore: "parameter"
        }
    }

    /// The operation a denial without one is taken to be.
    var readOperation: String {
        switch self {
        case .secretsManager: "GetSecretValue"
        case .parameterStore: "GetParameters"
        }
    }

    /// The IAM permissions a denied `operation` on a named resource calls for: as on AWS,
    /// `BatchGetSecretValue` also needs `GetSecretValue` on each secret it returns.
    func permissions(for operation: String) -> [String] {
        let also = self == .secretsManager && operation == "BatchGetSecretValue" ? ["GetSecretValue"] : []
        return ([operation] + also).map { "\(signingName):\($0)" }
    }

    /// What a denial names when it names no resource: `*` for the Secrets Manager calls that take
    /// no resource-level permission (`ListSecrets`, `BatchGetSecretValue`).
    var anyResource: String {
        switch self {
        case .secretsManager: "*"
        case .parameterStore: "the parameters"
        }
    }

    /// The IAM resource pattern that covers `id`, a name or an ARN, in `region`: its ARN, or for a
    /// secret's name the ARN with any suffix (Secrets Manager adds `-` and six random characters).
    public func resourcePattern(of id: String, region: String?) -> String {
        if let arn = ARN(id) { return arn.description }
        switch self {
        case .secretsManager:
            return ARN(service: signingName, region: region, account: nil, resource: "secret:\(id)-*").description
        case .parameterStore:
            return ARN(
                service: signingName, region: region, account: nil, resource: "parameter/\(id.drop { $0 == "/" })"
            )
            .description
        }
    }
}
