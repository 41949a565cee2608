/// A failed Secrets Manager call: what ``SecretsManagerClient`` throws. Its message names Secrets
/// Manager, the `secretsmanager:` permission, the secret's ARN pattern and
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
public struct SecretsManagerError: ServiceError {
    public static let service = AWSService.secretsManager
    public var underlying: AWSCallError
    public init(holding underlying: AWSCallError) { self.underlying = underlying }
}
