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

}
