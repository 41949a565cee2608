import AWSCredentials
import Foundation
import HTTPTransport
import InjectorBase
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorSources

/// The product on the user's own least-privilege policy: every fallback against a
/// fake Secrets Manager that denies what the role does not allow.
@Suite struct PermissionFallbackTests {
    static let four = pipelinePulseFour
    static let requests = four.keys.sorted().map { SecretRequest(id: $0) }

    @Test func aDeniedBatchBecomesSingleReadsPaidForOnceAndWarnedOnce() async throws {
        let secrets = FakeSecrets(Self.four)
        secrets.allowed.withLock { $0 = ["GetSecretValue"] }
        let log = LogLines()
        let (source, client) = try fakeSource(secrets, log: log)
        for _ in 0..<3 {
            let results = try await source.fetch(Self.requests)
            #expect(results.count == 4)
            #expect(try results[SecretRequest(id: "pipeline-pulse/prod/jwt")]?.get().secretString == #"{"secret":"j"}"#)
        }
        #expect(client.apiCalls == ["BatchGetSecretValue": 1, "GetSecretValue": 12], "the denial is remembered")
        #expect(source.deniedOperations == ["BatchGetSecretValue"])
        #expect(log.count(.warning, containing: "secretsmanager:BatchGetSecretValue") == 1)
    }

    @Test func singleReadsRunEightAtATime() async throws {
        let inFlight = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let transport = FakeTransport { request, _ in
            let target = request.headers.first { $0.name == "X-Amz-Target" }?.value ?? ""
            if target == "secretsmanager.BatchGetSecretValue" {
                return .json(400, #"{"__type":"AccessDeniedException","message":"no"}"#)
            }
            let now = inFlight.add(1, ordering: .relaxed).newValue
            _ = most.max(now, ordering: .relaxed)
            try await Task.sleep(for: .milliseconds(30))
            inFlight.subtract(1, ordering: .relaxed)
            let id =
                (try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])?["SecretId"] as? String
                ?? ""
            return .json(
                200,
                #"{"ARN":"arn:\#(id)","Name":"\#(id)","VersionId":"v1","SecretString":"x","VersionStages":["AWSCURRENT"]}"#
            )
        }
        let source = SecretsManagerSource(client: try testClient(transport))
        let results = try await source.fetch((0..<30).map { SecretRequest(id: "app/s\($0)") })
        #expect(results.values.allSatisfy { (try? $0.get()) != nil })
        #expect(most.load(ordering: .relaxed) == 8, "concurrent, bounded: \(most.load(ordering: .relaxed))")
        // Asked by stage, so the answer always carries AWSCURRENT.
        let body = try JSONSerialization.jsonObject(with: Data(transport.requests.last!.body)) as? [String: Any]
        #expect(body?["VersionStage"] as? String == "AWSCURRENT")
    }

    @Test func aBatchAnswerThatIsNotTheCurrentVersionIsReadAgainByStage() async throws {
        let transport = FakeTransport { request, _ in
            let target = request.headers.first { $0.name == "X-Amz-Target" }?.value ?? ""
            if target == "secretsmanager.BatchGetSecretValue" {
                return .json(
                    200,
                    #"{"SecretValues":[{"ARN":"arn:a","Name":"a","VersionId":"old","SecretString":"1","VersionStages":["AWSPREVIOUS"]}],"Errors":[]}"#
                )
            }
            return .json(
                200, #"{"ARN":"arn:a","Name":"a","VersionId":"new","SecretString":"2","VersionStages":["AWSCURRENT"]}"#)
        }
        let client = try testClient(transport)
        let results = try await SecretsManagerSource(client: client).fetch([SecretRequest(id: "a")])
        #expect(try results[SecretRequest(id: "a")]?.get().versionID == "new")
        #expect(client.apiCalls == ["BatchGetSecretValue": 1, "GetSecretValue": 1])
    }

    @Test func aDenialInsideABatchIsThatSecretsDenial() async throws {
        let secrets = FakeSecrets(Self.four)
        secrets.allowed.withLock { $0 = ["BatchGetSecretValue"] }  // and not GetSecretValue on the secrets
        let (source, client) = try fakeSource(secrets)
        let results = try await source.fetch(Self.requests)
        for request in Self.requests {
            #expect(throws: AWSCallError.self) { try results[request]?.get() }
            if case .failure(let error)? = results[request] { #expect(error.category == .accessDenied) }
        }
        #expect(client.apiCalls == ["BatchGetSecretValue": 1], "no fallback: the secrets themselves are denied")
        #expect(source.deniedOperations.isEmpty)
    }

    @Test(arguments: ["ResourceNotFoundException", "DecryptionFailure"])
    func notFoundAndDecryptionFailuresAreNotDenials(code: String) async throws {
        let secrets = FakeSecrets(Self.four)
        secrets.failures.withLock { $0 = ["pipeline-pulse/prod/jwt": code] }
        let (source, client) = try fakeSource(secrets)
        let fetched = try await source.fetch(Self.requests)
        if case .failure(let error)? = fetched[SecretRequest(id: "pipeline-pulse/prod/jwt")] {
            #expect(error.code == code)
        } else {
            Issue.record("jwt should have failed with \(code)")
        }
        let probed = try await source.probe(Self.requests, strategy: .describe, discoveryPrefixes: [])
        #expect(probed.strategy == .describe)
        #expect(source.deniedOperations.isEmpty, "\(code) is an answer, not a missing permission")
        #expect(client.apiCalls["GetSecretValue"] == nil)
    }

    /// `auto` on the four: one ListSecrets a round. Without ListSecrets the denial is paid once
    /// (one call), warned about once, and every round is four DescribeSecret, as before.
    @Test func autoListsTheFourAndWithoutListSecretsDescribesThem() async throws {
        let secrets = FakeSecrets(Self.four)
        let (source, client) = try fakeSource(secrets)
        for _ in 0..<3 {
            let probed = try await source.probe(Self.requests, strategy: .auto, discoveryPrefixes: [])
            #expect(probed.strategy == .list)
            #expect(probed.probes.values.allSatisfy { if case .version = $0 { true } else { false } })
        }
        #expect(client.apiCalls == ["ListSecrets": 3])

        secrets.allowed.withLock { $0 = ["GetSecretValue", "DescribeSecret", "BatchGetSecretValue"] }
        let log = LogLines()
        let (denied, deniedClient) = try fakeSource(secrets, log: log)
        for _ in 0..<3 {
            #expect(try await denied.probe(Self.requests, strategy: .auto, discoveryPrefixes: []).strategy == .describe)
        }
        #expect(deniedClient.apiCalls == ["ListSecrets": 1, "DescribeSecret": 12], "the denial is remembered")
        #expect(denied.deniedOperations == ["ListSecrets"])
        #expect(log.count(.warning, containing: "secretsmanager:ListSecrets") == 1)
    }

    /// A listing whose pages are no fewer than the secrets it checks saves nothing: given up for
    /// good, with one warning; DescribeSecret from then on.
    @Test func aListingThatSavesNothingIsGivenUp() async throws {
        var values = Self.four
        for index in 0..<450 { values["pipeline-pulse/prod/other-\(index)"] = "{}" }
        let secrets = FakeSecrets(values)
        let log = LogLines()
        let (source, client) = try fakeSource(secrets, log: log)
        let two = [SecretRequest(id: "pipeline-pulse/prod/database"), SecretRequest(id: "pipeline-pulse/prod/jwt")]
        _ = try await source.probe(two, strategy: .auto, discoveryPrefixes: [])
        #expect(client.apiCalls == ["ListSecrets": 5], "454 secrets under pipeline-pulse/prod/: five pages")
        for _ in 0..<2 {
            #expect(try await source.probe(two, strategy: .auto, discoveryPrefixes: []).strategy == .describe)
        }
        #expect(client.apiCalls == ["ListSecrets": 5, "DescribeSecret": 4])
        #expect(log.count(.warning, containing: "ListSecrets under pipeline-pulse/prod/") == 1)
    }

    /// The prefixes `auto` lists: one per first path segment with two or more secrets, the longest
    /// prefix they share; a name without `/` and a segment of one are described.
    @Test func theListingGroupsSecretsByTheirLongestCommonPrefix() {
        let four = ListingPlan(names: Self.four.keys.sorted())
        #expect(four.prefixes == ["pipeline-pulse/prod/"])
        #expect(four.listed.count == 4 && four.described.isEmpty && four.calls == 1)
        let mixed = ListingPlan(names: [
            "db-password", "billing/prod/a", "billing/prod/b", "billing/staging/c", "solo/x", "app/prod/s1",
            "app/prod/s2",
        ])
        #expect(mixed.prefixes == ["app/prod/s", "billing/"])
        #expect(Set(mixed.described) == ["db-password", "solo/x"])
        #expect(mixed.calls == 1)
        #expect(ListingPlan(names: (0..<12).map { "g\($0)/a" } + (0..<12).map { "g\($0)/b" }).calls == 2)
    }
}
