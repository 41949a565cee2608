import AWSCredentials
import Foundation
import HTTPTransport
import InjectorAgent
import InjectorBase
import InjectorConfig
import InjectorJob
import InjectorRefresh
import InjectorSources
import InjectorTelemetry
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorSidecar

/// Refresh rounds against the fake Secrets Manager (InjectorTests.swift), counting calls.
@Suite struct RefresherTests {
    func sidecar(_ secrets: FakeSecrets, config: String) throws -> (Refresher, SecretsManagerClient, String) {
        let directory = temporaryDirectory()
        let (client, _) = try fakeSecretsManager(from: secrets)
        let config = try makeConfig(config.replacingOccurrences(of: "OUT", with: directory))
        let injector = Injector(
            config: config, source: SecretsManagerSource(client: client), logger: Logger(label: "test"))
        return (
            Refresher(
                injector: injector, store: SecretStore(), metrics: SidecarMetrics(), logger: Logger(label: "test")),
            client, directory
        )
    }

    static let hundred: [String: String] = Dictionary(
        uniqueKeysWithValues: (0..<100).map { ("app/prod/s\($0)", #"{"n":\#($0)}"#) })

    /// `auto` lists the hundred (one prefix, `app/prod/s`) in one ListSecrets page.
    @Test(arguments: [("auto", 1), ("list", 1), ("describe", 100), ("get", 5)])
    func callsPerRoundOverAHundredUnchangedSecrets(strategy: String, expectedPerRound: Int) async throws {
        let secrets = FakeSecrets(Self.hundred)
        let ids = (0..<100).map { #"{"id": "app/prod/s\#($0)", "file": "s\#($0)"}"# }.joined(separator: ",")
        let (refresher, client, directory) = try sidecar(
            secrets, config: #"{"outputDir": "OUT", "secrets": [\#(ids)], "refresh": {"strategy": "\#(strategy)"}}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await refresher.start()
        let before = client.apiCalls.values.reduce(0, +)
        for _ in 0..<10 { _ = try await refresher.refresh() }
        let perRound = Double(client.apiCalls.values.reduce(0, +) - before) / 10
        #expect(perRound == Double(expectedPerRound), "\(strategy): \(client.apiCalls)")
        #expect(await refresher.metrics.generations == 1, "no change, no new generation")
    }

    @Test func discoveryWithListNeedsOneCallPerRound() async throws {
        let secrets = FakeSecrets(Self.hundred)
        let (refresher, client, directory) = try sidecar(
            secrets, config: #"{"outputDir": "OUT", "secrets": [{"namePrefix": "app/prod/"}]}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await refresher.start()
        let before = client.apiCalls["ListSecrets"] ?? 0
        for _ in 0..<10 { _ = try await refresher.refresh() }
        #expect((client.apiCalls["ListSecrets"] ?? 0) - before == 10)
        #expect(client.apiCalls.keys.sorted() == ["BatchGetSecretValue", "ListSecrets"])
    }

    @Test(arguments: ["list", "describe", "get"])
    func severalChangesInOneRoundMakeOneGenerationAndOneNotification(strategy: String) async throws {
        let secrets = FakeSecrets([
            "app/prod/db": #"{"password":"one"}"#, "app/prod/jwt": #"{"secret":"one"}"#, "app/prod/other": "{}",
        ])
        let marker = temporaryDirectory() + ".notified"
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let (refresher, _, directory) = try sidecar(
            secrets,
            config:
                #"{"outputDir": "OUT", "secrets": [{"id": "app/prod/db"}, {"id": "app/prod/jwt"}, {"id": "app/prod/other"}], "templates": [{"file": "t", "template": "{{ db.password }}-{{ jwt.secret }}"}], "refresh": {"strategy": "\#(strategy)"}, "onChange": {"command": ["/bin/sh", "-c", "echo $SECRETS_INJECTOR_CHANGED >> \#(marker)"]}}"#
        )
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await refresher.start()
        secrets.values.withLock {
            $0["app/prod/db"] = #"{"password":"two"}"#
            $0["app/prod/jwt"] = #"{"secret":"two"}"#
        }
        _ = try await refresher.refresh()
        #expect(try String(contentsOfFile: "\(directory)/t", encoding: .utf8) == "two-two")
        #expect(await refresher.metrics.generations == 2)
        // The application is told on a thread of its own, after the round; `>>` creates the marker
        // before it writes, so the wait (bounded) is for a whole line.
        var told: String?
        let deadline = Date().addingTimeInterval(30)
        while !(told?.hasSuffix("\n") ?? false), Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            told = try? String(contentsOfFile: marker, encoding: .utf8)
        }
        #expect(told == "db,jwt\n")
        #expect(await refresher.metrics.notifications == 1)
        _ = try await refresher.refresh()
        try await Task.sleep(for: .milliseconds(300))
        #expect(await refresher.metrics.notifications == 1, "nothing changed: nothing told")
    }

    @Test func aNewVersionThatCannotRenderChangesNeitherFilesNorAnswers() async throws {
        let secrets = FakeSecrets(["app/prod/db": #"{"password":"one"}"#])
        let (refresher, _, directory) = try sidecar(
            secrets,
            config:
                #"{"outputDir": "OUT", "secrets": [{"id": "app/prod/db", "file": "db"}], "templates": [{"file": "url", "template": "{{ db.password }}"}], "refresh": {"strategy": "describe"}}"#
        )
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await refresher.start()
        let before = await refresher.store.response(for: SecretRequest(id: "app/prod/db"))
        secrets.values.withLock { $0["app/prod/db"] = #"{"pass":"two"}"# }
        await #expect(throws: InjectorFailure.self) { _ = try await refresher.refresh() }
        #expect(try String(contentsOfFile: "\(directory)/url", encoding: .utf8) == "one")
        #expect(try String(contentsOfFile: "\(directory)/db", encoding: .utf8) == #"{"password":"one"}"#)
        #expect(
            await refresher.store.response(for: SecretRequest(id: "app/prod/db")) == before,
            "answers switch only with a committed generation")
        // Fixed upstream: the next round commits and switches.
        secrets.values.withLock { $0["app/prod/db"] = #"{"password":"three"}"# }
        _ = try await refresher.refresh()
        #expect(try String(contentsOfFile: "\(directory)/url", encoding: .utf8) == "three")
        #expect(await refresher.store.response(for: SecretRequest(id: "app/prod/db")) != before)
    }

    @Test func aDeletedSecretKeepsItsLastValueAndIsReported() async throws {
        let secrets = FakeSecrets(["app/prod/db": #"{"password":"one"}"#])
        let (refresher, _, directory) = try sidecar(
            secrets,
            config:
                #"{"outputDir": "OUT", "secrets": [{"id": "app/prod/db", "file": "db"}], "refresh": {"strategy": "describe"}}"#
        )
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await refresher.start()
        _ = secrets.values.withLock { $0.removeValue(forKey: "app/prod/db") }
        _ = try await refresher.refresh()
        #expect(try String(contentsOfFile: "\(directory)/db", encoding: .utf8) == #"{"password":"one"}"#)
        let status = await refresher.store.statuses().first
        #expect(status?.versionID != nil)
        #expect(status?.lastError?.contains("app/prod/db") == true)
        #expect(await refresher.store.response(for: SecretRequest(id: "app/prod/db")) != nil, "still served")
    }
}

@Suite struct ThrottledStartTests {
    @Test func aThrottledBatchFallsBackToSingleReads() async throws {
        let transport = FakeTransport { request, _ in
            let target = request.headers.first { $0.name == "X-Amz-Target" }?.value ?? ""
            if target == "secretsmanager.BatchGetSecretValue" {
                return .json(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
            }
            let id =
                (try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])?["SecretId"] as? String
                ?? ""
            return .json(
                200,
                #"{"ARN":"arn:\#(id)","Name":"\#(id)","VersionId":"v1","SecretString":"value of \#(id)","VersionStages":["AWSCURRENT"]}"#
            )
        }
        let client = try testClient(transport)
        let source = SecretsManagerSource(client: client)
        let results = try await source.fetch([
            SecretRequest(id: "a/one"), SecretRequest(id: "a/two"), SecretRequest(id: "a/three"),
        ])
        #expect(results.count == 3)
        #expect(try results[SecretRequest(id: "a/two")]?.get().secretString == "value of a/two")
        // The throttled batch is not retried: single reads draw on GetSecretValue's far larger quota.
        #expect(client.apiCalls == ["BatchGetSecretValue": 1, "GetSecretValue": 3])
    }
}

/// A sidecar's refresher and its scheduler on `clock`, reading `client`, as `run` wires them.
func scheduled(_ config: Config, client: SecretsManagerClient, clock: ManualClock) -> (
    Refresher, SecretStore, RefreshScheduler
) {
    let store = SecretStore()
    let refresher = Refresher(
        injector: Injector(config: config, source: SecretsManagerSource(client: client), logger: Logger(label: "t")),
        store: store, metrics: SidecarMetrics(), clock: clock, logger: Logger(label: "t"))
    let loop = RefreshScheduler(
        refresher: refresher, settings: config.refresh, clock: clock, logger: Logger(label: "t"))
    return (refresher, store, loop)
}

/// `/health` tells the truth: per-secret staleness on a manual clock.
@Suite struct HealthStateTests {
    @Test func degradedAtTheFirstFailedRoundUnhealthyPastMaxStaleAndBack() async throws {
        let secrets = FakeSecrets(pipelinePulseFour)
        let (client, _) = try fakeSecretsManager(from: secrets)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock()
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)", "secrets": [{"id": "pipeline-pulse/prod/database", "file": "db"}, {"id": "pipeline-pulse/prod/jwt", "file": "jwt"}], "refresh": {"intervalSeconds": 30, "maxStaleSeconds": 60}}"#
        )
        let (refresher, store, loop) = scheduled(config, client: client, clock: clock)
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

    /// Calls since `before`, without the unchanged counts.
    static func calls(_ client: SecretsManagerClient, since before: [String: Int]) -> [String: Int] {
        client.apiCalls.merging(before) { $0 - $1 }.filter { $0.value != 0 }
    }

    /// `auto` checks the four Pipeline Pulse secrets with one ListSecrets. Throttled, the listing is
    /// not retried: that round checks each secret with DescribeSecret and still picks up a change;
    /// the next round or two describe too (the back-off), then the listing comes back.
    @Test func aThrottledListingFallsBackToDescribeSecretInThatRoundAndPicksUpAChange() async throws {
        let secrets = FakeSecrets(pipelinePulseFour)
        let ids = pipelinePulseFour.keys.sorted().map { #"{"id": "\#($0)"}"# }.joined(separator: ",")
        let (refresher, client, directory) = try RefresherTests().sidecar(
            secrets, config: #"{"outputDir": "OUT", "secrets": [\#(ids)]}"#)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await refresher.start()
        var before = client.apiCalls
        _ = try await refresher.refresh()
        #expect(Self.calls(client, since: before) == ["ListSecrets": 1])
        #expect(await refresher.store.strategy == .list)

        secrets.values.withLock { $0["pipeline-pulse/prod/database"] = #"{"password":"two"}"# }
        secrets.throttled.withLock { $0 = ["ListSecrets": 1] }
        before = client.apiCalls
        #expect(try await refresher.refresh().failedSecrets.isEmpty)
        #expect(
            Self.calls(client, since: before) == ["ListSecrets": 1, "DescribeSecret": 4, "GetSecretValue": 1],
            "one listing, not retried; then each secret described, and the changed one read")
        #expect(await refresher.store.strategy == .describe)
        #expect(
            try String(contentsOfFile: "\(directory)/pipeline-pulse/prod/database", encoding: .utf8)
                == #"{"password":"two"}"#)

        var rounds: [[String: Int]] = []
        for _ in 0..<3 {
            before = client.apiCalls
            _ = try await refresher.refresh()
            rounds.append(Self.calls(client, since: before))
        }
        #expect(rounds[0] == ["DescribeSecret": 4], "backing off: \(rounds)")
        #expect(rounds[1] == ["DescribeSecret": 4] || rounds[1] == ["ListSecrets": 1], "\(rounds)")
        #expect(rounds[2] == ["ListSecrets": 1], "listing again: \(rounds)")

        // Two more throttled listings, the third in the life of the process: listing ends for
        // good (a fleet over the quota sheds tasks to DescribeSecret), and every round describes.
        secrets.throttled.withLock { $0 = ["ListSecrets": 2] }
        var listings = 0
        for _ in 0..<8 where listings < 2 {
            before = client.apiCalls
            _ = try await refresher.refresh()
            listings += Self.calls(client, since: before)["ListSecrets", default: 0]
        }
        #expect(listings == 2)
        before = client.apiCalls
        for _ in 0..<6 { _ = try await refresher.refresh() }
        #expect(Self.calls(client, since: before) == ["DescribeSecret": 24], "never listing again")
    }

    /// While `auto` lists, a manual PutSecretValue is picked up by the next round, one interval
    /// (plus its jitter) later: the listing shows the new AWSCURRENT version, which is read by its id.
    @Test func aManualChangeIsPickedUpWithinOneIntervalWhileListing() async throws {
        let secrets = FakeSecrets(pipelinePulseFour)
        let (client, _) = try fakeSecretsManager(from: secrets)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = ManualClock()
        let ids = pipelinePulseFour.keys.sorted().map { #"{"id": "\#($0)"}"# }.joined(separator: ",")
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)", "secrets": [\#(ids)], "refresh": {"intervalSeconds": 30}}"#)
        let (refresher, store, loop) = scheduled(config, client: client, clock: clock)
        try await refresher.start()
        guard case .sleep(let first) = await loop.begin() else { Issue.record("no round scheduled"); return }
        #expect(first.timeIntervalSince(clock.now()) <= 30, "the first round within one interval")

        secrets.values.withLock { $0["pipeline-pulse/prod/jwt"] = #"{"secret":"manual"}"# }
        let before = client.apiCalls
        clock.set(first)
        _ = await loop.runRound()
        #expect(Self.calls(client, since: before) == ["ListSecrets": 1, "GetSecretValue": 1])
        #expect(await store.strategy == .list)
        #expect(
            try String(contentsOfFile: "\(directory)/pipeline-pulse/prod/jwt", encoding: .utf8)
                == #"{"secret":"manual"}"#)
    }
}

/// The refresh round on the user's least-privilege policy: each denied probe falls back to the
/// next one the role allows, and discovery cannot start without ListSecrets.
@Suite struct DeniedProbeTests {
    static let four = pipelinePulseFour

    /// (allowed operations, configured strategy) → the strategy really used and its calls per round.
    static let chains:
        [(allowed: Set<String>?, strategy: RefreshStrategy, used: RefreshStrategy, perRound: [String: Int])] = [
            (nil, .list, .list, ["ListSecrets": 1]),
            (["GetSecretValue", "BatchGetSecretValue", "DescribeSecret"], .list, .describe, ["DescribeSecret": 4]),
            // `auto` on named secrets sharing a prefix: one ListSecrets a round; without ListSecrets
            // (the denial paid once, warned once), DescribeSecret per secret as before.
            (nil, .auto, .list, ["ListSecrets": 1]),
            (["GetSecretValue", "BatchGetSecretValue", "DescribeSecret"], .auto, .describe, ["DescribeSecret": 4]),
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
        let (source, client) = try fakeSource(secrets, log: log)
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

    /// `POST /refresh`: a check opens a window of `minRefreshSeconds` plus a random
    /// 0–50 % of it, within which the answer is the last result and nothing is asked; a check is
    /// `DescribeSecret`, and a changed version one `GetSecretValue` by its id.
    @Test(arguments: [0.0, 0.999])
    func aRefreshWindowIsMinRefreshSecondsPlusItsSpread(random: Double) async throws {
        let secrets = FakeSecrets(["app/prod/db": #"{"password":"one"}"#])
        let clock = ManualClock()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (client, _) = try fakeSecretsManager(from: secrets)
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)", "secrets": [{"id": "app/prod/db", "file": "db"}], "refresh": {"minRefreshSeconds": 10}}"#
        )
        let refresher = Refresher(
            injector: Injector(
                config: config, source: SecretsManagerSource(client: client), logger: Logger(label: "t")),
            store: SecretStore(), metrics: SidecarMetrics(), clock: clock, logger: Logger(label: "t"),
            random: { random })
        let checks = OnDemandChecks(refresher: refresher)
        try await refresher.start()
        func refresh() async -> String {
            String(decoding: await checks.refresh(secretID: "app/prod/db").body, as: UTF8.self)
        }
        var before = client.apiCalls
        #expect(await refresh() == #"{"result":"unchanged","cached":false}"#)
        #expect(client.apiCalls.merging(before) { $0 - $1 }.filter { $0.value != 0 } == ["DescribeSecret": 1])
        let window = 10 * (1 + 0.5 * random)
        secrets.values.withLock { $0["app/prod/db"] = #"{"password":"two"}"# }
        clock.advance(by: window - 0.01)
        before = client.apiCalls
        #expect(await refresh() == #"{"result":"unchanged","cached":true}"#)
        #expect(client.apiCalls == before)
        clock.advance(by: 0.02)
        #expect(await refresh() == #"{"result":"changed","changed":["app/prod/db"],"cached":false}"#)
        #expect(
            client.apiCalls.merging(before) { $0 - $1 }.filter { $0.value != 0 }
                == ["DescribeSecret": 1, "GetSecretValue": 1])
        #expect(try String(contentsOfFile: "\(directory)/db", encoding: .utf8) == #"{"password":"two"}"#)
    }

    /// Under a role with `BatchGetSecretValue` but without `DescribeSecret`, a refresh check reads
    /// the secret with `GetSecretValue`: never the batch, whose 100 a second a fleet would exhaust.
    @Test func aRefreshCheckNeverBatches() async throws {
        let secrets = FakeSecrets(["app/prod/db": #"{"password":"one"}"#])
        secrets.allowed.withLock { $0 = ["GetSecretValue", "BatchGetSecretValue"] }
        let clock = ManualClock()
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (client, _) = try fakeSecretsManager(from: secrets)
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)", "secrets": [{"id": "app/prod/db", "file": "db"}]}"#)
        let refresher = Refresher(
            injector: Injector(
                config: config, source: SecretsManagerSource(client: client), logger: Logger(label: "t")),
            store: SecretStore(), metrics: SidecarMetrics(), clock: clock, logger: Logger(label: "t"),
            random: { 0 })
        let checks = OnDemandChecks(refresher: refresher)
        try await refresher.start()
        for expected in [["DescribeSecret": 1, "GetSecretValue": 1], ["GetSecretValue": 1]] {
            let before = client.apiCalls
            _ = await checks.refresh(secretID: "app/prod/db")
            #expect(client.apiCalls.merging(before) { $0 - $1 }.filter { $0.value != 0 } == expected)
            clock.advance(by: 6)
        }
    }

    @Test func discoveryWithoutListSecretsCannotStart() async throws {
        let secrets = FakeSecrets(Self.four)
        secrets.allowed.withLock { $0 = ["GetSecretValue", "BatchGetSecretValue", "DescribeSecret"] }
        let (source, _) = try fakeSource(secrets)
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

/// Secrets Manager's versions and stages for one secret, as a source: `fetch` answers by stage or
/// by version id as Secrets Manager does, including its refusal of a stage the version lacks.
final class VersionedSource: SecretSource, @unchecked Sendable {
    /// Each version's id, value and stages, oldest first.
    let versions = Mutex<[(id: String, value: String, stages: [String])]>([])
    let name = "app/db"

    var summary: String { "versions" }
    var deniedOperations: [String] { [] }

    func rotate(to id: String, _ value: String) {
        versions.withLock { versions in
            versions = versions.map { ($0.id, $0.value, $0.stages.contains("AWSCURRENT") ? ["AWSPREVIOUS"] : []) }
            versions.append((id, value, ["AWSCURRENT"]))
        }
    }

    func list(namePrefix: String) async throws -> [String] { [name] }

    func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        let versions = versions.withLock { $0 }
        var results: [SecretRequest: Result<SecretValue, AWSCallError>] = [:]
        for request in requests {
            let stage = request.versionStage ?? (request.versionID == nil ? "AWSCURRENT" : nil)
            let byID = request.versionID.flatMap { id in versions.first { $0.id == id } }
            let byStage = stage.flatMap { stage in versions.first { $0.stages.contains(stage) } }
            if let byID, let stage, !byID.stages.contains(stage) {
                var error = AWSCallError(
                    service: .secretsManager, category: .invalidRequest, code: "InvalidRequestException",
                    awsMessage: "You provided a VersionStage that is not associated to the provided VersionId.",
                    resourceID: request.id)
                error.httpStatus = 400
                results[request] = .failure(error)
            } else if let version = byID ?? byStage {
                results[request] = .success(
                    SecretValue(
                        arn: "arn:aws:secretsmanager:us-west-2:123456789012:secret:app/db-AbCdEf", name: name,
                        versionID: version.id, secretString: version.value, versionStages: version.stages))
            } else {
                var error = AWSCallError(
                    service: .secretsManager, category: .notFound, code: "ResourceNotFoundException",
                    resourceID: request.id)
                error.httpStatus = 400
                results[request] = .failure(error)
            }
        }
        return results
    }

    func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        ProbeResult(probes: try await fetch(requests).mapValues(Probe.init), strategy: .get)
    }
}

/// `refreshNow` with a `versionId`, as the Agent answers it: from what Secrets Manager says of that
/// version now.
@Suite struct RefreshNowVersionTests {
    /// A sidecar started on version `v1` ("one"), after which Secrets Manager rotated to `v2` ("two").
    func rotatedAfterStart() async throws -> (Refresher, String) {
        let source = VersionedSource()
        source.rotate(to: "v1", "one")
        let (refresher, directory) = try refresher(source)
        try await refresher.start()
        source.rotate(to: "v2", "two")
        return (refresher, directory)
    }

    func refresher(_ source: VersionedSource) throws -> (Refresher, String) {
        let directory = temporaryDirectory()
        let config = try makeConfig(#"{"outputDir": "\#(directory)", "secrets": [{"id": "app/db", "file": "db"}]}"#)
        let refresher = Refresher(
            injector: Injector(config: config, source: source, logger: Logger(label: "test")), store: SecretStore(),
            metrics: SidecarMetrics(), logger: Logger(label: "test"))
        return (refresher, directory)
    }

    func stages(_ response: AgentResponse?) -> [String]? {
        guard let response,
            let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        else { return nil }
        return object["VersionStages"] as? [String]
    }

    @Test func theFormerCurrentVersionIsAnsweredWithTheStagesItHasNow() async throws {
        let (refresher, directory) = try await rotatedAfterStart()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let answer = await OnDemandChecks(refresher: refresher).refreshNow(
            SecretQuery(secretID: "app/db", versionID: "v1", refreshNow: true))
        #expect(answer?.status == 200)
        #expect(stages(answer) == ["AWSPREVIOUS"], "\(String(decoding: answer?.body ?? [], as: UTF8.self))")
        #expect(answer?.versionID == "v1")
        // The same check brought the current version in: the files and the cache follow it.
        #expect(try String(contentsOfFile: "\(directory)/db", encoding: .utf8) == "two")
        #expect(await refresher.store.answer(SecretQuery(secretID: "app/db")).versionID == "v2")
    }

    @Test func aStageTheVersionDoesNotCarryIsSecretsManagersRefusal() async throws {
        let (refresher, directory) = try await rotatedAfterStart()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let answer = await OnDemandChecks(refresher: refresher).refreshNow(
            SecretQuery(secretID: "app/db", versionID: "v1", versionStage: "AWSCURRENT", refreshNow: true))
        #expect(answer?.status == 400)
        #expect(
            String(decoding: answer?.body ?? [], as: UTF8.self)
                == #"{"__type":"InvalidRequestException", "message":"You provided a VersionStage that is not associated to the provided VersionId."}"#
        )
    }

    /// A rotating database credential that AWS's rotation functions cannot read as it is
    /// (no `engine`, `dbname`) is warned about, once; a rotation-ready one, or one not rotating, is not.
    @Test func aRotatingCredentialWithoutTheRotationShapeIsWarnedAboutOnce() async throws {
        let secrets = FakeSecrets([
            "app/prod/database": #"{"username":"u","password":"p","host":"db","port":5432,"database":"app"}"#,
            "app/prod/ready": #"{"engine":"postgres","username":"u","password":"p","host":"db","dbname":"app"}"#,
            "app/prod/still": #"{"username":"u","password":"p"}"#,
        ])
        secrets.rotating.withLock { $0 = ["app/prod/database", "app/prod/ready"] }
        let log = LogLines()
        let (client, _) = try fakeSecretsManager(from: secrets)
        let config = try makeConfig(
            #"{"outputDir": "\#(temporaryDirectory())", "secrets": [{"id": "app/prod/database"}, {"id": "app/prod/ready"}, {"id": "app/prod/still"}], "refresh": {"strategy": "describe"}}"#
        )
        let refresher = Refresher(
            injector: Injector(config: config, source: SecretsManagerSource(client: client), logger: log.logger),
            store: SecretStore(), metrics: SidecarMetrics(), logger: log.logger)
        try await refresher.start()
        for _ in 0..<3 { _ = try await refresher.refresh() }
        #expect(log.count(.warning, containing: "rotation is on for a database credential") == 1)
        #expect(!log.lines.withLock { $0 }.contains { $0.message.contains("\"p\"") })
    }
}
