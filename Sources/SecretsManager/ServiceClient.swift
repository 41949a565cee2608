/// A service's typed face on an ``AWSJSONClient`` configured for that service: its operations
/// throw the service's ``ServiceError``.
public protocol ServiceClient: Sendable {
    associatedtype Failure: ServiceError
    /// The protocol client every call goes through (signing, retries, counts).
    var jsonClient: AWSJSONClient { get }
    /// Holds `jsonClient` as it is; ``init(_:)`` checks its service first.
    init(holding jsonClient: AWSJSONClient)
}

extension ServiceClient {
    /// The face over `jsonClient`, which must be configured for its service.
    public init(_ jsonClient: AWSJSONClient) {
        precondition(
            jsonClient.configuration.service == Failure.service,
            "a \(Failure.service.name) client over \(jsonClient.configuration.service.name)")
        self.init(holding: jsonClient)
    }

    /// Where the calls go: the endpoint, the region, the retry budget.
    public var configuration: AWSJSONClient.Configuration { jsonClient.configuration }

    /// HTTP requests sent so far, per operation (every attempt counts).
    public var apiCalls: [String: Int] { jsonClient.apiCalls }
}
