import Foundation
import HTTPTransport
import InjectorAccess
import SecretsManager
import TestSupport
import Testing

/// `LookupEvents` on the wire: AWS JSON 1.1 with CloudTrail's target, one attribute, the window in
/// epoch seconds, paging with the same parameters, a pause between requests, throttling waited out.
@Suite struct CloudTrailClientTests {
    static let start = Date(timeIntervalSince1970: 1_792_224_000)
    static let end = Date(timeIntervalSince1970: 1_800_000_000.5)
    static let lookup = CloudTrailClient.Lookup.eventSource("secretsmanager.amazonaws.com", from: start, to: end)

    static func page(_ ids: [String], next: String?) -> HTTPResponse {
        let events = ids.map {
            #"{"EventId":"\#($0)","EventName":"GetSecretValue","ReadOnly":"true","EventTime":1799990000.0,"EventSource":"secretsmanager.amazonaws.com","CloudTrailEvent":"{\"eventName\":\"GetSecretValue\"}"}"#
        }
        let token = next.map { #","NextToken":"\#($0)""# } ?? ""
        return .json(200, #"{"Events":[\#(events.joined(separator: ","))]\#(token)}"#)
    }

    static func body(_ request: HTTPRequest) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
    }

    @Test func pagesWithTheSameParametersAndPausesBetweenRequests() async throws {
        let transport = FakeTransport(script: [
            .success(Self.page(["a", "b"], next: "t1")), .success(Self.page(["c"], next: "t2")),
            .success(Self.page([], next: nil)),
        ])
        let pauses = Pauses()
        let client = CloudTrailClient(try testJSONClient(.cloudTrail, transport, pauses: pauses))
        var ids: [String] = []
        let totals = try await client.lookupEvents(Self.lookup) { ids += $0.compactMap(\.eventID) }
        #expect(ids == ["a", "b", "c"])
        #expect(totals.pages == 3 && totals.events == 3 && totals.throttled == 0)
        #expect(pauses.durations == [CloudTrailClient.pacing, CloudTrailClient.pacing])
        #expect(CloudTrailClient.pacing >= .milliseconds(500))

        let requests = transport.requests
        #expect(requests.count == 3)
        for (index, request) in requests.enumerated() {
            #expect(
                request.headers.first { $0.name == "X-Amz-Target" }?.value
                    == "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")
            #expect(request.headers.first { $0.name == "Content-Type" }?.value == "application/x-amz-json-1.1")
            let authorization = try #require(request.headers.first { $0.name == "Authorization" }?.value)
            #expect(authorization.contains("/ap-southeast-1/cloudtrail/aws4_request"))
            let body = try Self.body(request)
            let attributes = try #require(body["LookupAttributes"] as? [[String: String]])
            #expect(attributes == [["AttributeKey": "EventSource", "AttributeValue": "secretsmanager.amazonaws.com"]])
            #expect((body["StartTime"] as? Int) == 1_792_224_000)
            #expect((body["EndTime"] as? Int) == 1_800_000_001)
            #expect((body["MaxResults"] as? Int) == 50)
            #expect((body["NextToken"] as? String) == [nil, "t1", "t2"][index])
        }
    }

    @Test func decodesTheEventsSummaryAndRecordText() async throws {
        let transport = FakeTransport(script: [.success(Self.page(["a"], next: nil))])
        let client = CloudTrailClient(try testJSONClient(.cloudTrail, transport))
        var events: [LookupEvent] = []
        try await client.lookupEvents(Self.lookup) { events += $0 }
        #expect(
            events == [
                LookupEvent(
                    eventID: "a", eventName: "GetSecretValue", eventTime: Date(timeIntervalSince1970: 1_799_990_000),
                    cloudTrailEvent: #"{"eventName":"GetSecretValue"}"#)
            ])
    }

    @Test func throttlingIsWaitedOutWithBackOff() async throws {
        let throttled = HTTPResponse.json(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
        let transport = FakeTransport(script: [
            .success(throttled), .success(throttled), .success(Self.page(["a"], next: "t")),
            .success(throttled), .success(Self.page(["b"], next: nil)),
        ])
        let pauses = Pauses()
        let client = CloudTrailClient(try testJSONClient(.cloudTrail, transport, pauses: pauses, random: 0.5))
        var ids: [String] = []
        let totals = try await client.lookupEvents(Self.lookup) { ids += $0.compactMap(\.eventID) }
        #expect(ids == ["a", "b"])
        #expect(totals.throttled == 3 && totals.pages == 2)
        // Back-off 1 s, then 2 s (times 1 + jitter); the pace before the next page; back-off again.
        #expect(
            pauses.durations == [
                .milliseconds(1500), .milliseconds(3000), CloudTrailClient.pacing, .milliseconds(1500),
            ])
        #expect(pauses.durations.allSatisfy { $0 >= .milliseconds(500) })
        // The retried page asks for the same thing.
        #expect(try Self.body(transport.requests[3])["NextToken"] as? String == "t")
        #expect(try Self.body(transport.requests[4])["NextToken"] as? String == "t")
    }

    @Test func endlessThrottlingEndsAsUnavailable() async throws {
        let transport = FakeTransport(script: [
            .success(.json(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#))
        ])
        let client = CloudTrailClient(try testJSONClient(.cloudTrail, transport))
        await #expect(throws: CloudTrailError.self) { try await client.lookupEvents(Self.lookup) { _ in } }
        #expect(transport.requests.count == CloudTrailClient.throttlingRetries + 1)
    }

    @Test func aDenialNamesTheCloudTrailPermission() async throws {
        let transport = FakeTransport(script: [
            .success(
                .json(
                    400,
                    #"{"__type":"AccessDeniedException","Message":"User: arn:aws:sts::1:assumed-role/x/y is not authorized to perform: cloudtrail:LookupEvents"}"#
                ))
        ])
        let client = CloudTrailClient(try testJSONClient(.cloudTrail, transport))
        do {
            try await client.lookupEvents(Self.lookup) { _ in }
            Issue.record("no error")
        } catch {
            #expect(error.category == .accessDenied)
            #expect(error.description.contains("cloudtrail:LookupEvents"), "\(error)")
        }
        #expect(transport.requests.count == 1)
    }

    @Test func aRepeatedPageTokenEndsTheLookup() async throws {
        let transport = FakeTransport(script: [.success(Self.page(["a"], next: "same"))])
        let client = CloudTrailClient(try testJSONClient(.cloudTrail, transport))
        await #expect(throws: CloudTrailError.self) { try await client.lookupEvents(Self.lookup) { _ in } }
        #expect(transport.requests.count == 2)
    }

    @Test func anEndlessRunOfFreshPageTokensEnds() async throws {
        let pages = (1...CloudTrailClient.maxPages + 1).map {
            Result<HTTPResponse, any Error>.success(Self.page([], next: "t\($0)"))
        }
        let transport = FakeTransport(script: pages)
        let client = CloudTrailClient(try testJSONClient(.cloudTrail, transport))
        await #expect(throws: CloudTrailError.self) { try await client.lookupEvents(Self.lookup) { _ in } }
        #expect(transport.requests.count == CloudTrailClient.maxPages)
    }
}
