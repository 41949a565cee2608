/// A failed Parameter Store call: what ``ParameterStoreClient`` throws. Its message names Parameter
/// Store, the `ssm:` permission, the parameter's ARN and `AWS_ENDPOINT_URL_SSM`; its fields are the
/// ``AWSCallError`` it wraps (`error.category`, `error.resourceID`, …).
@dynamicMemberLookup
public struct ParameterStoreError: Error, Sendable, CustomStringConvertible {
    /// The call's failure, as a source passes it on.
    public var underlying: AWSCallError

    /// `underlying`, as Parameter Store's.
    public init(_ underlying: AWSCallError) {
        self.underlying = underlying
        self.underlying.service = .parameterStore
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<AWSCallError, Value>) -> Value {
        get { underlying[keyPath: field] }
        set { underlying[keyPath: field] = newValue }
    }

    public subscript<Value>(dynamicMember field: KeyPath<AWSCallError, Value>) -> Value { underlying[keyPath: field] }

    public var description: String { underlying.description }
}
