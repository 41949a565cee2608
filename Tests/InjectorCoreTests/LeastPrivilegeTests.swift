import AWSCredentials
import Foundation
import HTTPTransport
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorCore

/// Log lines, kept for the tests to read.
final class LogLines: Sendable {
    let lines = Mutex<[(level: Logger.Level, message: String)]>([])
    var logger: Logger { Logger(label: "test") { _ in LogLinesHandler(lines: self) } }
    func count(_ level: Logger.Level, containing text: String) -> Int {
        lines.withLock { $0.filter { $0.level == level && $0.message.contains(text) }.count }
    }
}

struct LogLinesHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lines.lines.withLock { $0.append((event.level, "\(event.message)")) }
    }
}

/// The product on the user's own least-privilege policy (SPEC §3, §6): every fallback against a
/// fake Secrets Manager that denies what the role does not allow.
@Suite struct PermissionFallbackTests {
    static let four = [
        "pipeline-pulse/prod/database": #"{"password":"one"}"#, "pipeline-pulse/prod/zoho": #"{"id":"z"}"#,
        "pipeline-pulse/prod/currency": #"{"key":"c"}"#, "pipeline-pulse/prod/jwt": #"{"secret":"j"}"#,
    ]
    static let requests = four.keys.sorted().map { SecretRequest(id: $0) }

    func source(_ secrets: FakeSecrets, log: LogLines = LogLines()) throws -> (
        SecretsManagerSource, SecretsManagerClient
    ) {
        let (client, _) = try fakeSecretsManager(from: secrets)
        return (SecretsManagerSource(client: client, logger: log.logger), client)
    }

    @Test func aDeniedBatchBecomesSingleReadsPaidForOnceAndWarnedOnce() async throws {
        let secrets = FakeSecrets(Self.four)
        secrets.allowed.withLock { $0 = ["GetSecretValue"] }
        let log = LogLines()
        let (source, client) = try source(secrets, log: log)
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
        let (source, client) = try source(secrets)
        let results = try await source.fetch(Self.requests)
        for request in Self.requests {
            #expect(throws: SecretsManagerError.self) { try results[request]?.get() }
            if case .failure(let error)? = results[request] { #expect(error.category == .accessDenied) }
        }
        #expect(client.apiCalls == ["BatchGetSecretValue": 1], "no fallback: the secrets themselves are denied")
        #expect(source.deniedOperations.isEmpty)
    }

    @Test(arguments: ["ResourceNotFoundException", "DecryptionFailure"])
    func notFoundAndDecryptionFailuresAreNotDenials(code: String) async throws {
        let secrets = FakeSecrets(Self.four)
        secrets.failures.withLock { $0 = ["pipeline-pulse/prod/jwt": code] }
        let (source, client) = try source(secrets)
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

    /// (allowed operations, configured strategy) → the strategy really used and its calls per round.
    static let chains:
        [(allowed: Set<String>?, strategy: RefreshStrategy, used: RefreshStrategy, perRound: [String: Int])] = [
            (nil, .list, .list, ["ListSecrets": 1]),
            (["GetSecretValue", "BatchGetSecretValue", "DescribeSecret"], .list, .describe, ["DescribeSecret": 4]),
            (nil, .describe, .describe, ["DescribeSecret": 4]),
            (["GetSecretValue", "BatchGetSecretValue"], .describe, .get, ["BatchGetSecretValue": 1]),
            (["GetSecretValue", "BatchGetSecretValue"], .auto, .get, ["BatchGetSecretValue": 1]),
            (["GetSecretValue"], .describe, .get, ["GetSecretValue": 4]),
            (["GetSecretValue"], .list, .get, ["GetSecretValue": 4]),
            (["GetSecretValue"], .get, .get, ["GetSecretValue": 4]),
        ]

    @Test(arguments: 0..<chains.count)
    func aDeniedProbeFallsBackToTheNextOneTheRoleAllows(case index: Int) async throws {
        let chain = Self.chains[index]
        let secrets = FakeSecrets(Self.four)
        secrets.allowed.withLock { $0 = chain.allowed }
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = LogLines()
        let (source, client) = try source(secrets, log: log)
        let ids = Self.four.keys.sorted().map { #"{"id": "\#($0)"}"# }.joined(separator: ",")
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)", "secrets": [\#(ids)], "refresh": {"strategy": "\#(chain.strategy.rawValue)"}}"#
        )
        let refresher = Refresher(
            injector: Injector(config: config, source: source, logger: log.logger), store: SecretStore(),
            metrics: SidecarMetrics(), logger: log.logger)
        try await refresher.start()
        _ = try await refresher.refresh()  // pays for any denial, once
        let before = client.apiCalls
        for _ in 0..<3 { #expect(try await refresher.refresh().failedSecrets.isEmpty) }
        let perRound = client.apiCalls.mapValues { $0 }.merging(before.mapValues { -$0 }, uniquingKeysWith: +)
            .filter { $0.value != 0 }.mapValues { $0 / 3 }
        #expect(perRound == chain.perRound, "\(chain)")
        #expect(await refresher.store.strategy == chain.used)
        // Each denial is warned about once, naming the permission.
        for operation in source.deniedOperations {
            #expect(log.count(.warning, containing: "secretsmanager:\(operation)") == 1, "\(operation)")
        }
        // A rotation still reaches the files and the answers.
        secrets.values.withLock { $0["pipeline-pulse/prod/database"] = #"{"password":"two"}"# }
        _ = try await refresher.refresh()
        #expect(
            try String(contentsOfFile: "\(directory)/pipeline-pulse/prod/database", encoding: .utf8)
                == #"{"password":"two"}"#)
        let answer = await refresher.store.response(for: SecretRequest(id: "pipeline-pulse/prod/database"))
        #expect(String(decoding: answer ?? [], as: UTF8.self).contains(#"\"two\""#))
    }

    @Test func discoveryWithoutListSecretsCannotStart() async throws {
        let secrets = FakeSecrets(Self.four)
        secrets.allowed.withLock { $0 = ["GetSecretValue", "BatchGetSecretValue", "DescribeSecret"] }
        let (source, _) = try source(secrets)
        let config = try makeConfig(
            #"{"outputDir": "\#(temporaryDirectory())", "secrets": [{"namePrefix": "pipeline-pulse/prod/"}]}"#)
        let refresher = Refresher(
            injector: Injector(config: config, source: source, logger: Logger(label: "test")), store: SecretStore(),
            metrics: SidecarMetrics(), logger: Logger(label: "test"))
        let failure = await #expect(throws: InjectorFailure.self) { try await refresher.start() }
        #expect(failure?.exitStatus == .notFoundOrDenied)
        #expect(
            failure?.description.hasPrefix(
                #"secrets[0].namePrefix "pipeline-pulse/prod/": AccessDeniedException for ListSecrets: the task role needs secretsmanager:ListSecrets on *"#
            ) == true, "\(failure?.description ?? "")")
    }
}

/// `/health` tells the truth (SPEC §6): per-secret staleness on a manual clock.
@Suite struct HealthStateTests {
    @Test func degradedAtTheFirstFailedRoundUnhealthyPastMaxStaleAndBack() async throws {
        let secrets = FakeSecrets(PermissionFallbackTests.four)
        let (client, _) = try fakeSecretsManager(from: secrets)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock()
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)", "secrets": [{"id": "pipeline-pulse/prod/database", "file": "db"}, {"id": "pipeline-pulse/prod/jwt", "file": "jwt"}], "refresh": {"intervalSeconds": 30, "maxStaleSeconds": 60}}"#
        )
        let store = SecretStore()
        let refresher = Refresher(
            injector: Injector(
                config: config, source: SecretsManagerSource(client: client), logger: Logger(label: "t")),
            store: store, metrics: SidecarMetrics(), clock: clock, logger: Logger(label: "t"))
        let loop = RefreshLoop(refresher: refresher, settings: config.refresh, clock: clock, logger: Logger(label: "t"))
        #expect(await loop.health(store: store).status == .unhealthy, "nothing committed yet")
        try await refresher.start()
        _ = await loop.begin()
        #expect(await loop.health(store: store).status == .healthy)
        let answer = await store.response(for: SecretRequest(id: "pipeline-pulse/prod/database"))

        // The role is now denied everything.
        secrets.allowed.withLock { $0 = [] }
        clock.advance(by: 30)
        guard case .sleep(let retry) = await loop.runRound() else { Issue.record("no back-off"); return }
        #expect(retry.timeIntervalSince(clock.now()) <= 1, "a failed round backs off from 1 s")
        var health = await loop.health(store: store)
        #expect(health.status == .degraded)
        #expect(health.consecutiveFailures == 1)
        #expect(health.reason?.contains("AccessDenied") == true, "\(health.reason ?? "")")
        #expect(health.strategy == .get, "DescribeSecret denied: fell back to GetSecretValue")

        clock.advance(by: 31)
        _ = await loop.runRound()
        health = await loop.health(store: store)
        #expect(health.status == .unhealthy)
        #expect(
            health.reason?.hasPrefix(
                "pipeline-pulse/prod/database: not checked successfully for 61 s (maxStaleSeconds 60); last error: AccessDenied"
            ) == true,
            "\(health.reason ?? "")")
        #expect(String(decoding: health.json, as: UTF8.self).contains(#""status":"unhealthy""#))
        // The files and the answers keep their last values.
        #expect(try String(contentsOfFile: "\(directory)/db", encoding: .utf8) == #"{"password":"one"}"#)
        #expect(await store.response(for: SecretRequest(id: "pipeline-pulse/prod/database")) == answer)

        // The rights return.
        secrets.allowed.withLock { $0 = nil }
        clock.advance(by: 1)
        _ = await loop.runRound()
        health = await loop.health(store: store)
        #expect(health.status == .healthy, "\(health.reason ?? "")")
        #expect(health.consecutiveFailures == 0)
    }

    func status(_ id: String, required: Bool = true, success: Double?, error: String? = nil) -> SecretStore.Status {
        SecretStore.Status(
            id: id, alias: nil, required: required, versionID: "v1",
            lastSuccess: success.map { Date(timeIntervalSince1970: $0) }, lastError: error, lastErrorCode: nil)
    }

    @Test func theThreeStates() {
        let now = Date(timeIntervalSince1970: 1000)
        func report(_ secrets: [SecretStore.Status], failures: Int = 0, maxStale: Int? = 60) -> HealthReport {
            HealthReport(
                ready: true, consecutiveFailures: failures, secrets: secrets, maxStaleSeconds: maxStale, now: now)
        }
        #expect(report([status("a", success: 990)]).status == .healthy)
        #expect(report([status("a", success: 990, error: "boom")]).status == .degraded)
        #expect(report([status("a", success: 940)]).status == .healthy, "exactly maxStaleSeconds is not past it")
        #expect(report([status("a", success: 939, error: "boom")]).status == .unhealthy)
        #expect(report([status("a", success: 1, error: "boom")], maxStale: nil).status == .degraded, "never by default")
        #expect(
            report([status("opt", required: false, success: nil, error: "gone")]).status == .degraded,
            "an optional secret never makes it unhealthy")
        #expect(report([status("a", success: 999)], failures: 2).reason == "2 refresh rounds failed in a row")
        #expect(
            HealthReport(ready: false, secrets: [], now: now).reason == "no generation committed yet")
    }
}
