import Foundation
import TestSupport
import Testing

/// `POST /refresh` and `secrets-injector refresh` on a running sidecar against moto:
/// the rate limit under a burst (calls counted at moto), a new version reaching the files at once,
/// the token rule on TCP, an unconfigured secret, and a sidecar that is not there.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct RefreshEndpointTests {
    static let database = "pipeline-pulse/prod/database"

    @Test func aBurstMakesOneCallANewVersionArrivesAtOnceAndTheRulesHold() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = "\(folder)/out"
        let socket = "\(output)/injector.sock"
        let port = freeLoopbackPort()
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        // A round only every hour: whatever checks happen here, POST /refresh made them.
        let config =
            #"{\#(owner)"refresh": {"intervalSeconds": 3600, "minRefreshSeconds": 5}, "server": {"socketPath": "\#(socket)", "tcpPort": \#(port)}}"#
        var environment = BlackBox.taskEnvironment(
            peers,
            [
                "SECRETS_INJECTOR_OUTPUT_DIR": output, "SECRETS_INJECTOR_CONFIG": config, "AWS_TOKEN": "t0k3n-for-tcp",
            ])
        environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = peers.string("routedEndpoint")
        #expect(FileManager.default.createFile(atPath: "\(folder)/sidecar.log", contents: nil))
        let sidecar = try BlackBox.launch(
            ["run", "--config", Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path],
            environment: environment, log: "\(folder)/sidecar.log")
        defer { sidecar.terminate() }
        try #require(
            await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") },
            "not ready")
        func control(_ path: String) async throws -> [String: [String: Int]] {
            let body = try await SidecarCommandTests.curl([peers.string("control") + path]).body
            return try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: [String: Int]] ?? [:]
        }
        func refresh(_ arguments: [String]) async throws -> CommandResult {
            try await run(BlackBox.binary, ["refresh", "--socket", socket] + arguments, environment: [:], timeout: 60)
        }

        // 200 at once for one secret: one check at moto; every answer 200, one of them fresh.
        // Past any window a check opened (minRefreshSeconds plus up to half of it).
        try await Task.sleep(for: .seconds(7.6))
        _ = try await control("calls-reset")
        let burst = try await run(
            "/usr/bin/env",
            [
                "python3", Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/refresh_burst.py").path,
                socket, "/refresh?secretId=\(Self.database)", "200",
            ], environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"], timeout: 120)
        try #require(burst.status == 0, "\(burst.stderr)")
        let counted = try JSONSerialization.jsonObject(with: Data(burst.stdout.utf8)) as! [String: [String: Int]]
        #expect(counted["statuses"] == ["200": 200], "\(burst.stdout)")
        #expect(counted["cached"]?["false"] == 1 && counted["cached"]?["true"] == 199, "\(burst.stdout)")
        let calls = try await control("statuses")
        #expect(calls.values.map { $0.values.reduce(0, +) }.reduce(0, +) == 1, "calls at moto: \(calls)")
        // A check asks DescribeSecret (40,000/s for the account), never BatchGetSecretValue or
        // ListSecrets (100/s): a fleet's apps ask together (scripts/bench fleet --rotate).
        #expect(calls.keys.sorted() == ["DescribeSecret"], "calls at moto: \(calls)")

        // A new version: `refresh` answers after the commit, the file already holds it.
        try await Task.sleep(for: .seconds(7.6))
        try await BlackBox.admin(
            peers,
            [
                "put", Self.database,
                #"{"engine":"postgres","username":"pp_app","password":"after-refresh","host":"db","port":5432,"dbname":"pp"}"#,
            ])
        _ = try await control("calls-reset")
        let changed = try await refresh(["--secret", Self.database])
        // The new version by the id DescribeSecret saw.
        #expect(try await control("statuses") == ["DescribeSecret": ["200": 1], "GetSecretValue": ["200": 1]])
        #expect(changed.status == 0 && changed.stdout == "changed: \(Self.database)\n", "\(changed)")
        #expect(try String(contentsOfFile: "\(output)/database.json", encoding: .utf8).contains("after-refresh"))
        // Within minRefreshSeconds: the last result again, no call.
        _ = try await control("calls-reset")
        let again = try await refresh(["--secret", Self.database])
        #expect(
            again.status == 0 && again.stdout.hasPrefix("changed: \(Self.database) (the last check's result"),
            "\(again)")
        #expect(try await control("statuses").isEmpty)
        // Every secret: the other three are checked now.
        let all = try await refresh([])
        #expect(all.status == 0, "\(all)")

        // Not configured: 404 on the socket, exit 3 from the command.
        let unknown = try await SidecarCommandTests.curl([
            "--unix-socket", socket, "-X", "POST", "http://localhost/refresh?secretId=pipeline-pulse/prod/nope",
        ])
        #expect(unknown.status == 404)
        let missing = try await refresh(["--secret", "pipeline-pulse/prod/nope"])
        #expect(missing.status == 3 && missing.stderr.contains("not a configured secret"), "\(missing)")
        // The Agent's token rule on TCP: none or a wrong one is 403; the right one is answered.
        for headers in [[], ["-H", "X-Aws-Parameters-Secrets-Token: wrong"]] {
            let refused = try await SidecarCommandTests.curl(
                headers + ["-X", "POST", "http://127.0.0.1:\(port)/refresh?secretId=\(Self.database)"])
            #expect(refused.status == 403)
        }
        let withToken = try await SidecarCommandTests.curl([
            "-H", "X-Aws-Parameters-Secrets-Token: t0k3n-for-tcp", "-X", "POST",
            "http://127.0.0.1:\(port)/refresh?secretId=\(Self.database)",
        ])
        #expect(withToken.status == 200)
        // Only POST.
        let get = try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost/refresh"])
        #expect(get.status == 405)

        // No value in any answer or log line.
        let log = try String(contentsOfFile: "\(folder)/sidecar.log", encoding: .utf8)
        for text in [log, burst.stdout, changed.stdout, again.stdout, all.stdout, missing.stderr] {
            #expect(!text.contains("after-refresh"))
        }
    }

    @Test func aSidecarThatIsNotThereIsExitOne() async throws {
        let result = try await run(
            BlackBox.binary, ["refresh", "--socket", "/nonexistent/injector.sock"], environment: [:], timeout: 30)
        #expect(result.status == 1)
        #expect(
            result.stderr.hasPrefix("secrets-injector: error: no answer on /nonexistent/injector.sock"), "\(result)")
    }
}
