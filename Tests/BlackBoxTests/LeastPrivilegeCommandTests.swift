import Foundation
import TestSupport
import Testing

/// `init` and `run` on the user's own least-privilege policy, against moto with
/// signature and action checks, through the harness's forwarder, which counts every call and the
/// status of its answer. The two that rotate have their own moto each (one changes its role's
/// policy mid-run), and run one after the other to spare the machine.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct LeastPrivilegeCommandTests {
    /// One harness, one role, and the commands a test runs against them.
    struct Harness {
        let peers: PeerProcess
        let role: String
        let folder: String
        var output: String { "\(folder)/out" }
        var socket: String { "\(output)/injector.sock" }

        let ownsPeers: Bool

        /// `shared`: the suites' common peers, for a test that changes nothing in Secrets Manager.
        init(role: String, shared: Bool = false) async throws {
            peers =
                shared
                ? try await BlackBox.sharedPeers.value
                : try await PeerProcess.start(
                    python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
            ownsPeers = !shared
            self.role = role
            folder = try BlackBox.temporaryFolder()
        }

        func stop() {
            if ownsPeers { peers.stop() }
            try? FileManager.default.removeItem(atPath: folder)
        }

        /// The task's environment, with Secrets Manager reached through the counting forwarder.
        func environment(_ override: String) -> [String: String] {
            let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}"#
            let config = "{" + [owner, override].filter { !$0.isEmpty }.joined(separator: ", ") + "}"
            var environment = BlackBox.taskEnvironment(
                peers, role: role,
                [
                    "SECRETS_INJECTOR_OUTPUT_DIR": output, "SECRETS_INJECTOR_CONFIG": config,
                    "SECRETS_INJECTOR_LOG_LEVEL": "info",
                ])
            environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = peers.string("routedEndpoint")
            return environment
        }

        var server: String { #""server": {"socketPath": "\#(socket)"}"# }

        static let example = Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path

        func control(_ path: String) async throws -> [String: Any] {
            let body = try await SidecarCommandTests.curl([peers.string("control") + path]).body
            return try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
        }

        func admin(_ arguments: [String]) async throws { try await BlackBox.admin(peers, arguments) }

        func get(_ path: String) async throws -> (status: Int, body: String) {
            try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost\(path)"])
        }

        func health() async throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(try await get("/health").body.utf8)) as? [String: Any] ?? [:]
        }

        func answeredPassword() async throws -> String? {
            try await BlackBox.answeredPassword(socket: socket)
        }

        /// `init` with the Pipeline Pulse example: the calls it made, by operation and status.
        func initialize() async throws -> [String: [String: Int]] {
            _ = try await control("calls-reset")
            let result = try await run(
                BlackBox.binary, ["init", "--config", Self.example], environment: environment(""), timeout: 60)
            #expect(result.status == 0, "\(result.stderr)")
            let seeded = (peers.ready["secrets"] as? [String: String])?["pipeline-pulse/prod/database"]
            #expect(try String(contentsOfFile: "\(output)/database.json", encoding: .utf8) == seeded)
            return try await control("statuses") as? [String: [String: Int]] ?? [:]
        }

        /// Calls per refresh round over the example's four unchanged secrets, after a first round
        /// that pays for any denial: five rounds, one SIGHUP each, each waited for.
        func callsPerRound() async throws -> [String: Double] {
            let sidecar = try BlackBox.launch(
                ["run", "--config", Self.example],
                environment: environment(#""refresh": {"intervalSeconds": 3600}, \#(server)"#))
            defer {
                kill(sidecar.processIdentifier, SIGTERM)
                sidecar.waitUntilExit()
            }
            try #require(await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: socket) })
            func rounds() async throws -> Int {
                try await metric("secrets_injector_refreshes_total") ?? -1
            }
            try await Task.sleep(for: .milliseconds(200))
            kill(sidecar.processIdentifier, SIGHUP)
            try #require(try await SidecarCommandTests.waitFor(30) { try await rounds() >= 1 })
            _ = try await control("calls-reset")
            for round in 2...6 {
                kill(sidecar.processIdentifier, SIGHUP)
                try #require(try await SidecarCommandTests.waitFor(30) { try await rounds() >= round })
            }
            return (try await control("calls") as? [String: Int] ?? [:]).mapValues { Double($0) / 5 }
        }

        func metric(_ name: String) async throws -> Int? {
            try await get("/metrics").body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Int($0.split(separator: " ").last ?? "")
            }
        }

        /// `run` with 1 s rounds: a PutSecretValue and an UpdateSecretVersionStage each reach the
        /// files and the socket within three rounds, and the application is told once per change.
        /// `body` then runs with the sidecar still up; returns its log.
        func followsRotations(maxStaleSeconds: Int = 3600, then body: (Process) async throws -> Void = { _ in })
            async throws -> String
        {
            let notified = "\(folder)/notified"
            let log = "\(folder)/sidecar.log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let sidecar = try BlackBox.launch(
                ["run", "--config", Self.example],
                environment: environment(
                    #""refresh": {"intervalSeconds": 1, "maxStaleSeconds": \#(maxStaleSeconds)}, \#(server), "onChange": {"command": ["/bin/sh", "-c", "echo \"$SECRETS_INJECTOR_CHANGED\" >> \#(notified)"]}"#
                ), log: log)
            defer {
                if sidecar.isRunning { kill(sidecar.processIdentifier, SIGTERM) }
                sidecar.waitUntilExit()
            }
            try #require(
                await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") })
            func notifications() -> Int {
                ((try? String(contentsOfFile: notified, encoding: .utf8)) ?? "").split(separator: "\n").count
            }
            for (number, how) in ["put", "stage"].enumerated() {
                let password = "rotated-\(how)"
                try await admin([
                    how, "pipeline-pulse/prod/database",
                    #"{"engine": "postgres", "username": "pp_app", "password": "\#(password)", "host": "db.internal", "port": 5432, "dbname": "pipeline_pulse"}"#,
                ])
                // Rounds are 1 s apart; a quiet machine follows in about two, a loaded CI machine
                // (moto shared by the whole run) may take several, so the bound is generous.
                #expect(
                    try await SidecarCommandTests.waitFor(15) { try await answeredPassword() == password },
                    "\(role): \(how) not followed")
                #expect(
                    try String(contentsOfFile: "\(output)/app.env", encoding: .utf8).hasPrefix(
                        "DATABASE_URL=postgresql://pp_app:\(password)@db.internal:5432/pipeline_pulse\n"))
                #expect(try await SidecarCommandTests.waitFor(15) { notifications() == number + 1 })
            }
            try await body(sidecar)
            #expect(try String(contentsOfFile: notified, encoding: .utf8) == "database\ndatabase\n")
            kill(sidecar.processIdentifier, SIGTERM)
            sidecar.waitUntilExit()
            #expect(sidecar.terminationStatus == 0)
            let text = try String(contentsOfFile: log, encoding: .utf8)
            var secrets = peers.ready["secrets"] as? [String: String] ?? [:]
            secrets["rotated"] = #"{"a": "rotated-put", "b": "rotated-stage"}"#
            try BlackBox.expectNoSecret(of: secrets, in: text)
            return text
        }
    }

    static func warnings(_ log: String, naming permission: String) -> Int {
        log.split(separator: "\n").filter { $0.contains(#""level":"warning""#) && $0.contains(permission) }.count
    }

    @Test func theMigrationPolicyGetSecretValueAlone() async throws {
        let task = try await Harness(role: "pipeline-pulse-get-only")
        defer { task.stop() }

        // init: one denied BatchGetSecretValue, then one GetSecretValue per secret.
        #expect(
            try await task.initialize() == [
                "BatchGetSecretValue": ["403": 1], "GetSecretValue": ["200": 4],
            ])
        #expect(try await task.callsPerRound() == ["GetSecretValue": 4])

        let log = try await task.followsRotations(maxStaleSeconds: 8) { sidecar in
            var health = try await task.health()
            #expect(health["status"] as? String == "healthy")
            #expect(health["strategy"] as? String == "get")
            #expect(health["deniedOperations"] as? [String] == ["BatchGetSecretValue", "DescribeSecret"])
            #expect(
                try await task.get("/metrics").body.contains(#"secrets_injector_refresh_strategy{strategy="get"} 1"#))

            // The role is now denied everything: degraded at the first failed round…
            try await task.admin(["policy", task.role, "none"])
            var seen: [String] = []
            #expect(
                try await SidecarCommandTests.waitFor(6) {
                    let status = try await task.health()["status"] as? String ?? "?"
                    if seen.last != status { seen.append(status) }
                    return status == "degraded"
                }, "statuses seen: \(seen)")
            let degraded = try await run(BlackBox.binary, ["health", "--socket", task.socket], environment: [:])
            #expect(degraded.status == 0 && degraded.stdout.hasPrefix("degraded: "), "\(degraded)")
            // …unhealthy once maxStaleSeconds has passed: 503, and `health` exits 1 with the reason.
            #expect(
                try await SidecarCommandTests.waitFor(12) {
                    try await task.health()["status"] as? String == "unhealthy"
                })
            #expect(try await task.get("/health").status == 503)
            let unhealthy = try await run(BlackBox.binary, ["health", "--socket", task.socket], environment: [:])
            #expect(unhealthy.status == 1)
            #expect(
                unhealthy.stderr.hasPrefix("secrets-injector: unhealthy: pipeline-pulse/prod/")
                    && unhealthy.stderr.contains("maxStaleSeconds 8") && unhealthy.stderr.contains("AccessDenied"),
                "\(unhealthy.stderr)")
            // The files and the answers keep their last values.
            #expect(try await task.answeredPassword() == "rotated-stage")
            #expect(
                try String(contentsOfFile: "\(task.output)/database.json", encoding: .utf8).contains("rotated-stage"))
            // The rights return: healthy again.
            try await task.admin(["policy", task.role, "secretsmanager:GetSecretValue"])
            #expect(
                try await SidecarCommandTests.waitFor(10) { try await task.health()["status"] as? String == "healthy" })
            health = try await task.health()
            #expect(health["consecutiveFailures"] as? Int == 0)
            #expect(sidecar.isRunning)
        }
        #expect(Self.warnings(log, naming: "secretsmanager:BatchGetSecretValue") == 1, "\(log)")
        #expect(Self.warnings(log, naming: "secretsmanager:DescribeSecret") == 1)
    }

    @Test func getSecretValueAndBatchGetSecretValue() async throws {
        let task = try await Harness(role: "pipeline-pulse-get-batch")
        defer { task.stop() }
        #expect(try await task.initialize() == ["BatchGetSecretValue": ["200": 1]])
        // DescribeSecret is denied: one BatchGetSecretValue a round, cheaper than four GetSecretValue.
        #expect(try await task.callsPerRound() == ["BatchGetSecretValue": 1])
        let log = try await task.followsRotations { _ in
            let health = try await task.health()
            #expect(health["strategy"] as? String == "get")
            #expect(health["deniedOperations"] as? [String] == ["DescribeSecret"])
        }
        #expect(Self.warnings(log, naming: "secretsmanager:DescribeSecret") == 1)
        #expect(Self.warnings(log, naming: "secretsmanager:BatchGetSecretValue") == 0)
    }

    @Test func discoveryWithoutListSecretsExitsThreeNamingIt() async throws {
        let task = try await Harness(role: "pipeline-pulse-get-batch", shared: true)
        defer { task.stop() }
        let result = try await run(
            BlackBox.binary, ["init"],
            environment: task.environment(#""secrets": [{"namePrefix": "pipeline-pulse/prod/"}]"#), timeout: 60)
        #expect(result.status == 3)
        #expect(
            result.stderr.hasPrefix(
                #"secrets-injector: error: secrets[0].namePrefix "pipeline-pulse/prod/": AccessDenied for ListSecrets: the task role needs secretsmanager:ListSecrets on *"#
            ), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
