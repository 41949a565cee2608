import InjectorBase

/// The AWS services this package speaks: what requests are signed for and sent to, and how an
/// error names the service, its permissions, its resources and its endpoint setting. CloudTrail
/// (`LookupEvents`), KMS (`GetKeyPolicy`, `DescribeKey`) and IAM (`GetAccountAuthorizationDetails`,
/// the one over the query protocol) serve only the access reviews.
public enum AWSService: String, Sendable, CaseIterable {
    case secretsManager, parameterStore, cloudTrail, keyManagement, identity

    /// How a request is written: a JSON 1.1 body with `X-Amz-Target`, or a form-encoded query
    /// (`Action=…&Version=…`) answered in XML.
    public enum WireProtocol: Sendable { case json, query }

    public var wireProtocol: WireProtocol { self == .identity ? .query : .json }

    /// The API version a query request names (`Version=2010-05-08`).
    var queryVersion: String { self == .identity ? "2010-05-08" : "" }

    /// The region a request is signed for: IAM is global, signed for `us-east-1` (`cn-north-1`
    /// in China, `us-gov-west-1` in GovCloud); every other service for the region it is in.
    public func signingRegion(for region: String) -> String {
        guard self == .identity else { return region }
        if region.hasPrefix("cn-") { return "cn-north-1" }
        if region.hasPrefix("us-gov-") { return "us-gov-west-1" }
        return "us-east-1"
    }

    /// The name an operator knows it by, in messages.
    public var name: String {
        switch self {
        case .secretsManager: "Secrets Manager"
        case .parameterStore: "Parameter Store"
        case .cloudTrail: "CloudTrail"
        case .keyManagement: "KMS"
        case .identity: "IAM"
        }
    }

    /// The SigV4 service name, which is also the IAM action prefix, the ARN service and the first
    /// label of the regional host (`secretsmanager`, `ssm`).
    public var signingName: String {
        switch self {
        case .secretsManager: "secretsmanager"
        case .parameterStore: "ssm"
        case .cloudTrail: "cloudtrail"
        case .keyManagement: "kms"
        case .identity: "iam"
        }
    }

    /// The prefix of `X-Amz-Target` (`secretsmanager.GetSecretValue`, `AmazonSSM.GetParameters`).
    var targetPrefix: String {
        switch self {
        case .secretsManager: "secretsmanager"
        case .parameterStore: "AmazonSSM"
        case .cloudTrail: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
        case .keyManagement: "TrentService"
        case .identity: ""
        }
    }

    /// The service's own endpoint variable (botocore's name for it), before `AWS_ENDPOINT_URL`.
    public var endpointVariable: String {
        switch self {
        case .secretsManager: "AWS_ENDPOINT_URL_SECRETS_MANAGER"
        case .parameterStore: "AWS_ENDPOINT_URL_SSM"
        case .cloudTrail: "AWS_ENDPOINT_URL_CLOUDTRAIL"
        case .keyManagement: "AWS_ENDPOINT_URL_KMS"
        case .identity: "AWS_ENDPOINT_URL_IAM"
        }
    }

    /// What the service keeps: `secret`, `parameter`.
    public var resourceNoun: String {
        switch self {
        case .secretsManager: "secret"
        case .parameterStore: "parameter"
        case .cloudTrail: "event"
        case .keyManagement: "key"
        case .identity: "entity"
        }
    }

    /// The operation a denial without one is taken to be.
    var readOperation: String {
        switch self {
        case .secretsManager: "GetSecretValue"
        case .parameterStore: "GetParameters"
        case .cloudTrail: "LookupEvents"
        case .keyManagement: "GetKeyPolicy"
        case .identity: "GetAccountAuthorizationDetails"
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
        case .secretsManager, .cloudTrail, .identity: "*"
        case .parameterStore: "the parameters"
        case .keyManagement: "the key"
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
        case .cloudTrail, .identity:
            return "*"
        case .keyManagement:
            return ARN(service: signingName, region: region, account: nil, resource: "key/\(id)").description
        }
    }
}
