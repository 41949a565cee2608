/// What a service's face throws: that service's ``AWSCallError``, whose message names the service,
/// its IAM permission and its endpoint variable, and whose fields read through the wrapper
/// (`error.category`, `error.resourceID`, …).
@dynamicMemberLookup
public protocol ServiceError: Error, Sendable, CustomStringConvertible {
    /// The service the face speaks.
    static var service: AWSService { get }
    /// The call's failure, as a source passes it on.
    var underlying: AWSCallError { get set }
    /// Holds `underlying` as it is; ``init(_:)`` names the service first.
    init(holding underlying: AWSCallError)
}

extension ServiceError {
    /// `underlying`, as this service's.
    public init(_ underlying: AWSCallError) {
        var named = underlying
        named.service = Self.service
        self.init(holding: named)
    }

    public subscript<Value>(dynamicMember field: WritableKeyPath<AWSCallError, Value>) -> Value {
        get { underlying[keyPath: field] }
        set { underlying[keyPath: field] = newValue }
    }

    public subscript<Value>(dynamicMember field: KeyPath<AWSCallError, Value>) -> Value { underlying[keyPath: field] }

    public var description: String { underlying.description }
}
