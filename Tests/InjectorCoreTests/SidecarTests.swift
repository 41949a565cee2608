import AWSCredentials
import Foundation
import HTTPTransport
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorCore

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

    @Test(arguments: [("list", 1), ("describe", 100), ("get", 5)])
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
        // The application is told on a thread of its own, after the round.
        var told: String?
        for _ in 0..<100 where told == nil {
            told = try? String(contentsOfFile: marker, encoding: .utf8)
            try await Task.sleep(for: .milliseconds(50))
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

@Suite struct ProbeTests {
    /// Two versions carrying AWSCURRENT (moto can do it): always the same one, round after round.
    @Test func aStageOnSeveralVersionsIsResolvedTheSameWayEveryTime() {
        var seen: Set<String> = []
        for _ in 0..<50 {
            var versions: [String: [String]] = [:]
            for id in ["b60f", "99da", "0a1b", "ffff"].shuffled() {
                versions[id] = id == "99da" || id == "b60f" ? ["AWSCURRENT"] : ["AWSPREVIOUS"]
            }
            if case .version(let version, _, _) = SecretsManagerSource.probe(
                SecretRequest(id: "a"), versions: versions, nextRotation: nil)
            {
                seen.insert(version)
            }
        }
        #expect(seen == ["99da"])
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

@Suite struct OnChangeAndTokenTests {
    @Test func theSignalGoesToThePidInThePidFile() async throws {
        let folder = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let app = Process()
        app.executableURL = URL(fileURLWithPath: "/bin/sh")
        app.arguments = ["-c", "trap 'echo reloaded > \(folder)/signalled; exit 0' HUP; while :; do sleep 0.05; done"]
        try app.run()
        defer { if app.isRunning { app.terminate() } }
        try "\(app.processIdentifier)\n".write(toFile: "\(folder)/app.pid", atomically: true, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(200))  // let the shell set its trap

        let settings = OnChangeSettings(command: nil, signalPIDFile: "\(folder)/app.pid", signalName: "HUP")
        await ChangeNotifier(settings: settings, outputDir: folder, logger: Logger(label: "test")).notifyAndWait(
            generation: "..g", changed: ["db"])
        var signalled: String?
        for _ in 0..<50 where signalled == nil {
            signalled = try? String(contentsOfFile: "\(folder)/signalled", encoding: .utf8)
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(signalled == "reloaded\n")
    }

    @Test func theCommandGetsNoSecretAndIsKilledAfterItsTimeout() async throws {
        let folder = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The parent's environment (HOME, PATH, any AWS_* token) must not reach the child. The test
        // checks the exact set of names rather than setenv a token: setenv races with the other
        // tests' Process.run, which reads the environment.
        let command = OnChangeSettings(command: [
            "/bin/sh", "-c", "env > \(folder)/env; echo \"$@\" > \(folder)/argv", "sh", "x",
        ])
        await ChangeNotifier(settings: command, outputDir: folder, logger: Logger(label: "test")).notifyAndWait(
            generation: "..g1", changed: ["database", "jwt"])
        let environment = try String(contentsOfFile: "\(folder)/env", encoding: .utf8)
        let names = Set(
            environment.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        #expect(
            names.subtracting(["PWD", "SHLVL", "_"])  // sh sets these itself
                == ["PATH", "SECRETS_INJECTOR_OUTPUT_DIR", "SECRETS_INJECTOR_GENERATION", "SECRETS_INJECTOR_CHANGED"],
            "\(names)")
        #expect(environment.contains("SECRETS_INJECTOR_CHANGED=database,jwt"))
        #expect(environment.contains("SECRETS_INJECTOR_GENERATION=..g1"))

        let started = Date()
        let slow = OnChangeSettings(command: ["/bin/sh", "-c", "sleep 120"], timeoutSeconds: 1)
        let notifier = ChangeNotifier(settings: slow, outputDir: folder, logger: Logger(label: "test"))
        await notifier.notifyAndWait(generation: "..g2", changed: [])
        // Loose: at the start of a full run the machine is saturated for tens of seconds.
        #expect(Date().timeIntervalSince(started) < 60, "killed at its timeout, not waited out")
        #expect(notifier.problem?.contains("did not finish in 1 s") == true, "\(notifier.problem ?? "no problem")")
    }

    @Test func theTCPTokenComesFromTheEnvironmentOrAFile() throws {
        let logger = Logger(label: "test")
        func token(_ config: Config, _ environment: [String: String]) throws -> SSRFToken? {
            try SSRFToken.from(config: config, environment: environment, logger: logger)
        }
        let config = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}], "server": {"tcpPort": 2773}}"#)
        #expect(try token(config, ["AWS_TOKEN": "t1", "AWS_SESSION_TOKEN": "t2"])?.current() == "t1")
        #expect(try token(config, ["AWS_CONTAINER_AUTHORIZATION_TOKEN": "t3"])?.current() == "t3")
        #expect(try token(config, ["AWS_TOKEN": " ", "AWS_SESSION_TOKEN": "t2"])?.current() == "t2", "blank is none")
        let file = temporaryDirectory()
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = try #require(try token(config, ["AWS_TOKEN": "file://\(file)"]))
        #expect(fromFile.current() == "from-file")
        try "rotated\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(fromFile.current() == "from-file", "the event loop reads the cache")
        fromFile.reload()
        #expect(fromFile.current() == "rotated", "read again once it changed")
        try "".write(toFile: file, atomically: true, encoding: .utf8)
        fromFile.reload()
        #expect(fromFile.current() == nil, "an empty file is no token")
        let error = #expect(throws: ConfigurationError.self) { try token(config, [:]) }
        #expect(error?.description.hasPrefix("server.tcpPort: needs an SSRF token") == true)
        let empty = #expect(throws: ConfigurationError.self) { try token(config, ["AWS_TOKEN": "file://\(file)"]) }
        #expect(empty?.description.contains("is empty") == true, "\(String(describing: empty))")
        let noTCP = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}]}"#)
        #expect(try token(noTCP, [:]) == nil)
    }
}
