public import FoundationEssentials

/// CloudTrail's `LookupEvents` (the event history: management events of the last 90 days, in one
/// region), on an ``AWSJSONClient`` configured for CloudTrail. Every call throws a
/// ``CloudTrailError``, whose denial names `cloudtrail:LookupEvents`.
public struct CloudTrailClient: ServiceClient {
    /// The most events one page holds (`MaxResults` 1…50).
    public static let pageSize = 50
    /// CloudTrail allows two lookups a second per account and region: one request at most every
    /// half second, counted from the previous answer, keeps under it whatever the round trip.
    public static let pacing: Duration = .milliseconds(550)
    /// Throttling answers taken (each waited out, 1 s, 2 s, 4 s … plus jitter) before giving up.
    public static let throttlingRetries = 6

    public typealias Failure = CloudTrailError
    public let jsonClient: AWSJSONClient
    public init(holding jsonClient: AWSJSONClient) { self.jsonClient = jsonClient }

    /// What a lookup asks for: one attribute (CloudTrail takes one), and the time window.
    public struct Lookup: Sendable, Equatable {
        public var attributeKey: String
        public var attributeValue: String
        public var start: Date
        public var end: Date

        public init(attributeKey: String, attributeValue: String, start: Date, end: Date) {
            self.attributeKey = attributeKey
            self.attributeValue = attributeValue
            self.start = start
            self.end = end
        }

        /// Every event of `eventSource` (`secretsmanager.amazonaws.com`) from `start` to `end`.
        public static func eventSource(_ eventSource: String, from start: Date, to end: Date) -> Lookup {
            Lookup(attributeKey: "EventSource", attributeValue: eventSource, start: start, end: end)
        }
    }

    /// What a lookup read: its pages and events, and the throttling answers it waited out.
    public struct Totals: Sendable, Equatable {
        public var pages = 0
        public var events = 0
        public var throttled = 0
        public init() {}
    }

    /// `LookupEvents` for `lookup`, page after page (the same parameters and the last `NextToken`),
    /// each page handed to `page` as it comes, most recent events first. Requests are paced
    /// ``pacing`` apart; a throttling answer is waited out with back-off, up to
    /// ``throttlingRetries`` times in a row.
    /// The most pages one lookup reads (about 90 minutes at the pace): an endless run of page
    /// tokens from a broken or hostile endpoint ends.
    public static let maxPages = 10_000

    @discardableResult
    public func lookupEvents(_ lookup: Lookup, page: ([LookupEvent]) -> Void) async throws(CloudTrailError) -> Totals {
        var totals = Totals()
        var token: String?
        var seenTokens: Set<String> = []
        repeat {
            if totals.pages > 0 || totals.throttled > 0 { try await pause(Self.pacing) }
            let request = LookupEventsRequest(
                LookupAttributes: [.init(AttributeKey: lookup.attributeKey, AttributeValue: lookup.attributeValue)],
                StartTime: Int64(lookup.start.timeIntervalSince1970.rounded(.down)),
                EndTime: Int64(lookup.end.timeIntervalSince1970.rounded(.up)), MaxResults: Self.pageSize,
                NextToken: token)
            let answer = try await callPaced(request, totals: &totals)
            totals.pages += 1
            let events = answer.Events ?? []
            totals.events += events.count
            page(events)
            token = answer.NextToken.flatMap { $0.isEmpty ? nil : $0 }
            if token != nil, totals.pages >= Self.maxPages {
                throw CloudTrailError(
                    jsonClient.failure(
                        .service, "LookupEvents", nil,
                        detail:
                            "stopped after \(Self.maxPages) pages (\(Self.maxPages * Self.pageSize) events at most): narrow the window with --days"
                    ))
            }
            if let token, !seenTokens.insert(token).inserted {
                throw CloudTrailError(
                    jsonClient.failure(
                        .service, "LookupEvents", nil, detail: "CloudTrail answered a page token it had given before"))
            }
        } while token != nil
        return totals
    }

    /// One page: throttling waited out here (not by the call loop, whose quick jittered retries
    /// would break the pace), every other failure as the call loop handles it.
    private func callPaced(_ request: LookupEventsRequest, totals: inout Totals) async throws(CloudTrailError)
        -> LookupEventsResponse
    {
        var throttledInARow = 0
        while true {
            do {
                return try await jsonClient.call(
                    "LookupEvents", request, as: LookupEventsResponse.self, retryThrottling: false)
            } catch  where error.category == .throttled && throttledInARow < Self.throttlingRetries {
                throttledInARow += 1
                totals.throttled += 1
                let backOff = Double(1 << (throttledInARow - 1)) * (1 + jsonClient.randomFraction())
                try await pause(.milliseconds(Int(backOff * 1000)))
            } catch {
                throw CloudTrailError(error)
            }
        }
    }

    private func pause(_ duration: Duration) async throws(CloudTrailError) {
        do {
            try await jsonClient.pause(duration)
        } catch {
            throw CloudTrailError(
                jsonClient.failure(.network, "LookupEvents", nil, detail: "cancelled", transient: false))
        }
    }
}

/// One event of a `LookupEvents` page: its id, name and time, and the full record
/// (`CloudTrailEvent`) as the JSON text CloudTrail gives it, to be decoded a second time.
public struct LookupEvent: Sendable, Equatable, Decodable {
    public var eventID: String?
    public var eventName: String?
    public var eventTime: Date?
    public var cloudTrailEvent: String?

    public init(eventID: String?, eventName: String?, eventTime: Date?, cloudTrailEvent: String?) {
        self.eventID = eventID
        self.eventName = eventName
        self.eventTime = eventTime
        self.cloudTrailEvent = cloudTrailEvent
    }

    enum CodingKeys: String, CodingKey {
        case eventID = "EventId"
        case eventName = "EventName"
        case eventTime = "EventTime"
        case cloudTrailEvent = "CloudTrailEvent"
    }
}

struct LookupEventsRequest: Encodable {
    struct Attribute: Encodable {
        var AttributeKey: String
        var AttributeValue: String
    }
    var LookupAttributes: [Attribute]
    /// Epoch seconds, as AWS JSON 1.1 sends a timestamp.
    var StartTime: Int64
    var EndTime: Int64
    var MaxResults: Int
    var NextToken: String?
}

struct LookupEventsResponse: Decodable {
    var Events: [LookupEvent]?
    var NextToken: String?
}

/// A failed CloudTrail call: what ``CloudTrailClient`` throws. Its message names CloudTrail, the
/// `cloudtrail:LookupEvents` permission and `AWS_ENDPOINT_URL_CLOUDTRAIL`.
public struct CloudTrailError: ServiceError {
    public static let service = AWSService.cloudTrail
    public var underlying: AWSCallError
    public init(holding underlying: AWSCallError) { self.underlying = underlying }
}
