import AWSCredentials
import Foundation
import HTTPTransport
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorCore

@Suite struct AgentRouterTests {
    let database = SecretValue(
        arn: "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-AbCdEf",
        name: "pipeline-pulse/prod/database",
        versionID: "v2", secretString: #"{"password":"p"}"#, versionStages: ["AWSCURRENT"],
        createdDate: Date(timeIntervalSince1970: 1_800_000_000))
    let previous = SecretValue(
        arn: "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-AbCdEf",
        name: "pipeline-pulse/prod/database",
        versionID: "v1", secretString: #"{"password":"old"}"#, versionStages: ["AWSPREVIOUS"])

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    func router(refreshes: Counter = Counter()) async -> AgentRouter {
        let store = SecretStore()
        await store.record(
            [
                SecretRequest(id: "pipeline-pulse/prod/database"): .success(database),
                SecretRequest(id: "pipeline-pulse/prod/database", versionStage: "AWSPREVIOUS"): .success(previous),
            ], at: Date())
        return AgentRouter(
            store: store, metrics: SidecarMetrics(),
            health: { HealthReport(ready: true, secrets: [], now: Date()) },
            metricsText: { "m 1\n" },
            refreshNow: { refreshes.value.add(1, ordering: .relaxed) }, token: { "ssrf-token" })
    }

    func get(_ uri: String, tcp: Bool = false, headers: [(String, String)] = [], method: String = "GET") async
        -> AgentResponse
    {
        await router().respond(
            to: AgentRequest(method: method, uri: uri, headers: headers.map { (name: $0.0, value: $0.1) }, overTCP: tcp)
        )
    }

    func body(_ response: AgentResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    @Test func servesConfiguredSecretsShapedAsGetSecretValue() async {
        for uri in [
            "/secretsmanager/get?secretId=pipeline-pulse/prod/database",
            "/secretsmanager/get?secretId=pipeline-pulse%2Fprod%2Fdatabase",
            "/v1/pipeline-pulse%2Fprod%2Fdatabase", "/v1/pipeline-pulse/prod/database",
            "/secretsmanager/get?secretId=arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-AbCdEf",
        ] {
            let response = await get(uri)
            #expect(response.status == 200, "\(uri)")
            let json = body(response)
            #expect(json["Name"] as? String == "pipeline-pulse/prod/database")
            #expect(json["VersionId"] as? String == "v2")
            #expect(json["SecretString"] as? String == #"{"password":"p"}"#)
            #expect(json["VersionStages"] as? [String] == ["AWSCURRENT"])
            #expect(json["CreatedDate"] as? Double == 1_800_000_000)
            #expect(json["ARN"] as? String == database.arn)
        }
        #expect(
            body(await get("/secretsmanager/get?secretId=pipeline-pulse/prod/database&versionStage=AWSPREVIOUS"))[
                "VersionId"] as? String == "v1")
        #expect(
            body(await get("/secretsmanager/get?secretId=pipeline-pulse/prod/database&versionId=v1"))["VersionId"]
                as? String == "v1")
    }

    @Test func onlyConfiguredSecretsAndKnownParameters() async {
        let missing = await get("/secretsmanager/get?secretId=pipeline-pulse/prod/zoho")
        #expect(missing.status == 404)
        #expect(body(missing)["__type"] as? String == "ResourceNotFoundException")
        #expect(
            await get("/secretsmanager/get?secretId=pipeline-pulse/prod/database&versionStage=AWSPENDING").status == 404
        )
        #expect(await get("/secretsmanager/get?secretId=pipeline-pulse/prod/database&color=blue").status == 400)
        #expect(await get("/secretsmanager/get").status == 400)
        #expect(await get("/secretsmanager/get?secretId=pipeline-pulse/prod/database&refreshNow=maybe").status == 400)
        #expect(await get("/nope").status == 404)
        #expect(AgentRouter.percentDecode("a+b%2Bc", plusIsSpace: false) == "a+b+c")
        #expect(AgentRouter.percentDecode("a+b%2Bc") == "a b+c")
        #expect(await get("/ping", method: "POST").status == 405)
    }

    @Test func tcpNeedsTheTokenAndRefusesForwardedRequests() async {
        let uri = "/secretsmanager/get?secretId=pipeline-pulse/prod/database"
        #expect(await get(uri, tcp: true).status == 403)
        #expect(await get(uri, tcp: true, headers: [("X-Aws-Parameters-Secrets-Token", "wrong")]).status == 403)
        #expect(await get(uri, tcp: true, headers: [("X-Aws-Parameters-Secrets-Token", "ssrf-token")]).status == 200)
        #expect(await get(uri, tcp: true, headers: [("x-vault-token", "ssrf-token")]).status == 200)
        #expect(
            await get(
                "/ping", tcp: true,
                headers: [("X-Aws-Parameters-Secrets-Token", "ssrf-token"), ("X-Forwarded-For", "10.0.0.1")]
            ).status == 400)
        #expect(await get(uri).status == 200, "the socket needs no token: its mode and uids guard it")
        #expect(!constantTimeEquals("ssrf-token", "ssrf-tokem"))
        #expect(!constantTimeEquals("ssrf-token", "ssrf-token-longer"))
    }

    @Test func pingHealthMetricsAndRefreshNow() async {
        let ping = await get("/ping")
        #expect(ping.status == 200 && String(decoding: ping.body, as: UTF8.self) == "healthy")
        #expect(body(await get("/health"))["status"] as? String == "healthy")
        #expect(String(decoding: await get("/metrics").body, as: UTF8.self) == "m 1\n")
        let refreshes = Counter()
        let router = await router(refreshes: refreshes)
        _ = await router.respond(
            to: AgentRequest(
                method: "GET", uri: "/secretsmanager/get?secretId=pipeline-pulse/prod/database&refreshNow=true",
                headers: [], overTCP: false))
        _ = await router.respond(
            to: AgentRequest(
                method: "GET", uri: "/secretsmanager/get?secretId=pipeline-pulse/prod/database&refreshNow=false",
                headers: [], overTCP: false))
        #expect(refreshes.value.load(ordering: .relaxed) == 1)
    }
}

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
        #expect(await refresher.metrics.notifications == 1)
        #expect(try String(contentsOfFile: marker, encoding: .utf8) == "db,jwt\n")
        _ = try await refresher.refresh()
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
        #expect(client.apiCalls == ["BatchGetSecretValue": 3, "GetSecretValue": 3])
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
        await ChangeNotifier(settings: settings, outputDir: folder, logger: Logger(label: "test")).notify(
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
        setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "parent-token-must-not-leak", 1)
        defer { unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN") }
        let command = OnChangeSettings(command: [
            "/bin/sh", "-c", "env > \(folder)/env; echo \"$@\" > \(folder)/argv", "sh", "x",
        ])
        await ChangeNotifier(settings: command, outputDir: folder, logger: Logger(label: "test")).notify(
            generation: "..g1", changed: ["database", "jwt"])
        let environment = try String(contentsOfFile: "\(folder)/env", encoding: .utf8)
        #expect(!environment.contains("parent-token-must-not-leak"))
        #expect(environment.contains("SECRETS_INJECTOR_CHANGED=database,jwt"))
        #expect(environment.contains("SECRETS_INJECTOR_GENERATION=..g1"))

        let started = Date()
        let slow = OnChangeSettings(command: ["/bin/sh", "-c", "sleep 30"])
        await ChangeNotifier(settings: slow, outputDir: folder, timeoutSeconds: 1, logger: Logger(label: "test"))
            .notify(generation: "..g2", changed: [])
        #expect(Date().timeIntervalSince(started) < 10, "killed at its timeout, not waited out")
    }

    @Test func theTCPTokenComesFromTheEnvironmentOrAFile() throws {
        let config = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}], "server": {"tcpPort": 2773}}"#)
        #expect(
            try Sidecar.tcpToken(config: config, environment: ["AWS_TOKEN": "t1", "AWS_SESSION_TOKEN": "t2"])() == "t1")
        #expect(
            try Sidecar.tcpToken(config: config, environment: ["AWS_CONTAINER_AUTHORIZATION_TOKEN": "t3"])() == "t3")
        let file = temporaryDirectory()
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = try Sidecar.tcpToken(config: config, environment: ["AWS_TOKEN": "file://\(file)"])
        #expect(fromFile() == "from-file")
        try "rotated\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(fromFile() == "rotated", "read on every request")
        let error = #expect(throws: ConfigurationError.self) { try Sidecar.tcpToken(config: config, environment: [:]) }
        #expect(error?.description.hasPrefix("server.tcpPort: needs an SSRF token") == true)
        let noTCP = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}]}"#)
        #expect(try Sidecar.tcpToken(config: noTCP, environment: [:])() == nil)
    }
}
