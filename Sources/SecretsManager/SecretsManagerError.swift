/// A failed Secrets Manager call: what ``SecretsManagerClient`` throws. Its message names Secrets
/// Manager, the `secretsmanager:` permission, the secret's ARN pattern and
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`; its fields are the ``AWSCallError`` it wraps
/// (`error.category`, `error.resourceID`, …).
@dynamicMemberLookup
public struct SecretsManagerError: Error, Sendable, CustomStringConvertible {
    /// The call's failure, as a source passes it on.
    public var underlying: AWSCallError

    /// `underlying`, as Secrets Manager's.
    public init(_ underlying: AWSCallError) {
        self.underlying = underlying
        self.underlying.service = .secretsManager
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<AWSCallError, Value>) -> Value {
        get { underlying[keyPath: field] }
        set { underlying[keyPath: field] = newValue }
    }

    public subscript<Value>(dynamicMember field: KeyPath<AWSCallError, Value>) -> Value { underlying[keyPath: field] }

    public var description: String { underlying.description }
}
