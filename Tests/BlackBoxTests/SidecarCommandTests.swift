import Foundation
import TestSupport
import Testing

/// `secrets-injector run` against its own moto_server (it rotates secrets, so it does not share
/// the other suites' peers), reached through a route the test can cut.
@Suite struct SidecarCommandTests {
    static let ssrfToken = "sidecar-ssrf-token-7f3a"

    static func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
        let result = try await run(
            "/usr/bin/curl", ["-s", "--max-time", "10", "-w", "\n%{http_code}"] + arguments, environment: [:])
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    static func waitFor(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    @Test(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func rotationsReachFilesSocketAndApplication() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = "\(folder)/out"
        let notified = "\(folder)/notified"
        let port = freeLoopbackPort()
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        let override =
            #"{\#(owner)"refresh": {"intervalSeconds": 1, "strategy": "describe"}, "server": {"socketPath": "\#(output)/injector.sock", "tcpPort": \#(port)}, "onChange": {"command": ["/bin/sh", "-c", "echo \"$SECRETS_INJECTOR_CHANGED\" >> \#(notified)"]}}"#
        var environment = BlackBox.taskEnvironment(
            peers,
            [
                "SECRETS_INJECTOR_OUTPUT_DIR": output, "SECRETS_INJECTOR_CONFIG": override,
                "SECRETS_INJECTOR_LOG_LEVEL": "trace",
                "AWS_TOKEN": Self.ssrfToken,
            ])
        environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = peers.string("routedEndpoint")
        let admin = [
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"),
            "ADMIN_ACCESS_KEY_ID": peers.string("adminAccessKeyId"),
            "ADMIN_SECRET_ACCESS_KEY": peers.string("adminSecretAccessKey"),
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        func rotate(_ how: String, _ value: String) async throws {
            let result = try await run(
                "/usr/bin/env",
                [
                    "python3", Repository.root.appendingPathComponent("scripts/harness/aws_admin.py").path, how,
                    "pipeline-pulse/prod/database", value,
                ], environment: admin)
            try #require(result.status == 0, "\(result.stderr)")
        }
        func database(_ password: String) -> String {
            #"{"engine": "postgres", "username": "pp_app", "password": "\#(password)", "host": "db.internal", "port": 5432, "dbname": "pipeline_pulse"}"#
        }
        func socket(_ path: String) async throws -> (status: Int, body: String) {
            try await Self.curl(["--unix-socket", "\(output)/injector.sock", "http://localhost\(path)"])
        }
        func answeredPassword() async throws -> String? {
            try await BlackBox.answeredPassword(socket: "\(output)/injector.sock")
        }
        func notifications() -> Int {
            ((try? String(contentsOfFile: notified, encoding: .utf8)) ?? "").split(separator: "\n").count
        }
        func metric(_ name: String) async throws -> Int? {
            let text = try await socket("/metrics").body
            return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
                Int($0.split(separator: " ").last ?? "")
            }
        }

        let logFile = "\(folder)/sidecar.log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        let sidecar = try BlackBox.launch(
            ["run", "--config", Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path],
            environment: environment, log: logFile)
        defer { if sidecar.isRunning { sidecar.terminate() } }

        try #require(await Self.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") }, "not ready")
        #expect(try await Self.waitFor(5) { try await socket("/ping").body == "healthy" })
        let seeded = (peers.ready["secrets"] as? [String: String])?["pipeline-pulse/prod/database"]
        #expect(try String(contentsOfFile: "\(output)/database.json", encoding: .utf8) == seeded)

        // The AWS Secrets Manager Agent's requests, over TCP and over the socket.
        let tcp = "http://localhost:\(port)"
        let tokenHeader = "X-Aws-Parameters-Secrets-Token: \(Self.ssrfToken)"
        let viaTCP = try await Self.curl([
            "-H", tokenHeader, "\(tcp)/secretsmanager/get?secretId=pipeline-pulse/prod/database",
        ])
        #expect(viaTCP.status == 200)
        #expect(
            (try JSONSerialization.jsonObject(with: Data(viaTCP.body.utf8)) as? [String: Any])?["SecretString"]
                as? String == seeded)
        #expect(try await Self.curl(["-H", tokenHeader, "\(tcp)/v1/pipeline-pulse%2Fprod%2Fdatabase"]).status == 200)
        #expect(
            try await Self.curl(["-H", "X-Vault-Token: \(Self.ssrfToken)", "\(tcp)/v1/pipeline-pulse/prod/jwt"]).status
                == 200)
        #expect(try await Self.curl(["\(tcp)/secretsmanager/get?secretId=pipeline-pulse/prod/database"]).status == 403)
        #expect(
            try await Self.curl([
                "-H", tokenHeader, "-H", "X-Forwarded-For: 203.0.113.9",
                "\(tcp)/secretsmanager/get?secretId=pipeline-pulse/prod/database",
            ]).status == 400)
        #expect(
            try await Self.curl([
                "-H", tokenHeader, "\(tcp)/secretsmanager/get?secretId=pipeline-pulse/prod/database&color=blue",
            ]).status == 400)
        #expect(
            try await Self.curl([
                "-H", tokenHeader, "\(tcp)/secretsmanager/get?secretId=pipeline-pulse/staging/database",
            ]).status == 404)
        #expect(try await Self.curl(["-H", tokenHeader, "\(tcp)/ping"]).body == "healthy")
        #expect(try await socket("/v1/pipeline-pulse%2Fprod%2Fdatabase").status == 200)
        #expect(
            try await socket("/secretsmanager/get?secretId=pipeline-pulse/prod/database&refreshNow=true").status == 200)
        #expect(
            try await Self.curl(["-X", "POST", "--unix-socket", "\(output)/injector.sock", "http://localhost/ping"])
                .status == 405)

        // A rotation by PutSecretValue reaches the file, the template, the socket, and the app, once.
        let seededVersion =
            (try JSONSerialization.jsonObject(with: Data(viaTCP.body.utf8)) as? [String: Any])?["VersionId"] as? String
        try await rotate("put", database("rotated-one"))
        #expect(try await Self.waitFor(10) { try await answeredPassword() == "rotated-one" })
        // The version served before, as the Agent answers it: with a stage it no longer
        // carries, Secrets Manager's 400; refreshed by its id, with the stages it has now. (A
        // `refreshNow` of the same secret waits 5 s after the last one.)
        let former = "/secretsmanager/get?secretId=pipeline-pulse/prod/database&versionId=\(seededVersion ?? "?")"
        let mismatch = try await socket(former + "&versionStage=AWSCURRENT")
        #expect(mismatch.status == 400, "\(mismatch.body)")
        #expect(mismatch.body.contains("InvalidRequestException"))
        try await Task.sleep(for: .seconds(5))
        let refreshed = try await socket(former + "&refreshNow=true")
        #expect(refreshed.status == 200, "\(refreshed.body)")
        let previous = try? JSONSerialization.jsonObject(with: Data(refreshed.body.utf8)) as? [String: Any]
        #expect(previous?["VersionStages"] as? [String] == ["AWSPREVIOUS"], "\(previous ?? [:])")
        #expect(previous?["SecretString"] as? String == seeded)
        #expect(try String(contentsOfFile: "\(output)/database.json", encoding: .utf8) == database("rotated-one"))
        #expect(
            try String(contentsOfFile: "\(output)/app.env", encoding: .utf8).hasPrefix(
                "DATABASE_URL=postgresql://pp_app:rotated-one@db.internal:5432/pipeline_pulse\n"))
        #expect(try await Self.waitFor(5) { notifications() == 1 })
        #expect(try await metric("secrets_injector_notifications_total") == 1)
        #expect(try await metric("secrets_injector_generations_total") == 2)

        // And by UpdateSecretVersionStage.
        try await rotate("stage", database("rotated-two"))
        #expect(try await Self.waitFor(10) { try await answeredPassword() == "rotated-two" })
        #expect(try String(contentsOfFile: "\(output)/database.json", encoding: .utf8) == database("rotated-two"))
        #expect(try await Self.waitFor(5) { notifications() == 2 })
        #expect(try String(contentsOfFile: notified, encoding: .utf8) == "database\ndatabase\n")

        // Secrets Manager goes away: files and answers keep the last values, /health shows the error.
        _ = try await Self.curl([peers.string("control") + "route-off"])
        #expect(
            try await Self.waitFor(10) {
                let health = try await socket("/health").body
                return health.contains("\"lastError\":\"") && health.contains("consecutiveFailures")
            })
        try await Task.sleep(for: .seconds(2))
        #expect(try String(contentsOfFile: "\(output)/database.json", encoding: .utf8) == database("rotated-two"))
        #expect(try await answeredPassword() == "rotated-two")
        // …and when it is back, the next change still arrives.
        _ = try await Self.curl([peers.string("control") + "route-on"])
        // By stage again: a PutSecretValue after an UpdateSecretVersionStage leaves moto with two
        // versions carrying AWSCURRENT (AWS moves the stage; moto keeps it on the old one too).
        try await rotate("stage", database("rotated-three"))
        #expect(try await Self.waitFor(15) { try await answeredPassword() == "rotated-three" })
        #expect(
            try await Self.waitFor(5) { notifications() == 3 },
            "\((try? String(contentsOfFile: notified, encoding: .utf8)) ?? "")\n\((try? String(contentsOfFile: logFile, encoding: .utf8))?.split(separator: "\n").suffix(40).joined(separator: "\n") ?? "")"
        )

        // SIGTERM while a client is mid-request: exit 0 within 5 s.
        let client = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            "\(output)/injector.sock".utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(connected == 0)
        _ = "GET /ping HTTP/1.1\r\nHost: local".withCString { send(client, $0, strlen($0), 0) }
        let stopping = Date()
        kill(sidecar.processIdentifier, SIGTERM)
        let exited = await Self.waitFor(10) { !sidecar.isRunning }
        close(client)
        #expect(exited)
        // The drain gives a half-sent request 3 s; the rest is slack for a loaded machine.
        #expect(Date().timeIntervalSince(stopping) < 8)
        sidecar.waitUntilExit()
        #expect(sidecar.terminationStatus == 0)

        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        var secrets = peers.ready["secrets"] as? [String: String] ?? [:]
        secrets["rotated"] = #"{"a": "rotated-one", "b": "rotated-two", "c": "rotated-three"}"#
        try BlackBox.expectNoSecret(of: secrets, in: log)
        #expect(!log.contains(Self.ssrfToken))
    }

    @Test func theSocketHasItsModeAndRefusesUIDsOutsideAllowUids() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        chmod(folder, 0o755)
        let secrets = "\(folder)/dev.json"
        try #"{"app/token": "t0k3n-value"}"#.write(toFile: secrets, atomically: true, encoding: .utf8)
        let allowed: UInt32 = 12_345
        let config =
            #"{"source": {"local": "\#(secrets)"}, "outputDir": "\#(folder)/out", "secrets": [{"id": "app/token", "mode": "0444"}], "server": {"socketMode": "0666", "allowUids": [\#(allowed)]}, "log": {"level": "error"}}"#
        let sidecar = try BlackBox.launch(["run"], environment: ["SECRETS_INJECTOR_CONFIG": config])
        defer { if sidecar.isRunning { sidecar.terminate() } }
        let socketPath = "\(folder)/out/injector.sock"
        #expect(await Self.waitFor(20) { FileManager.default.fileExists(atPath: socketPath) })
        try await Task.sleep(for: .milliseconds(200))
        let mode = try FileManager.default.attributesOfItem(atPath: socketPath)[.posixPermissions] as? Int
        #expect(mode == 0o666)
        // SIGHUP refreshes now (the interval is the default 300 s); `health` says healthy.
        let health = try await run(BlackBox.binary, ["health", "--socket", socketPath], environment: [:])
        #expect(health.status == 0 && health.stdout == "healthy\n", "\(health.stderr)")
        try #"{"app/token": "t0k3n-value-2"}"#.write(toFile: secrets, atomically: true, encoding: .utf8)
        kill(sidecar.processIdentifier, SIGHUP)
        #expect(
            await Self.waitFor(5) {
                (try? String(contentsOfFile: "\(folder)/out/app/token", encoding: .utf8)) == "t0k3n-value-2"
            })

        if getuid() == 0 {
            func read(as uid: UInt32) async throws -> CommandResult {
                try await run(
                    "/usr/bin/setpriv",
                    [
                        "--reuid", "\(uid)", "--regid", "\(uid)", "--clear-groups", "/usr/bin/curl", "-s", "-w",
                        "\n%{http_code}",
                        "--unix-socket", socketPath, "http://localhost/secretsmanager/get?secretId=app/token",
                    ],
                    environment: [:])
            }
            let refused = try await read(as: 23_456)
            #expect(refused.stdout.hasSuffix("\n403"), "uid 23456 is not in allowUids: \(refused.stdout)")
            #expect(!refused.stdout.contains("t0k3n"))
            let allowedRead = try await read(as: allowed)
            #expect(
                allowedRead.stdout.contains("t0k3n-value-2") && allowedRead.stdout.hasSuffix("\n200"),
                "uid \(allowed) is allowed: \(allowedRead.stdout)")
        }
        kill(sidecar.processIdentifier, SIGTERM)
        sidecar.waitUntilExit()
        #expect(sidecar.terminationStatus == 0)
        let down = try await run(BlackBox.binary, ["health", "--socket", socketPath], environment: [:])
        #expect(down.status == 1)
        #expect(down.stderr.hasPrefix("secrets-injector: no answer on \(socketPath)"), "\(down.stderr)")
        #expect(down.stderr.split(separator: "\n").count == 1)
    }
}

/// The server's limit: with `server.maxConnections` held by idle clients, a newcomer is served and
/// the client idle the longest is dropped (the unit cases are `ConnectionRuleTests`).
@Suite struct ServerLimitTests {
    @Test func theConnectionIdleLongestMakesRoomForANewcomer() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try #"{"app/token": "v"}"#.write(toFile: "\(folder)/dev.json", atomically: true, encoding: .utf8)
        let sidecar = try BlackBox.launch(
            ["run"],
            environment: [
                "SECRETS_INJECTOR_CONFIG":
                    #"{"source": {"local": "\#(folder)/dev.json"}, "outputDir": "\#(folder)/out", "secrets": [{"id": "app/token"}], "server": {"maxConnections": 4}, "log": {"level": "error"}}"#
            ])
        defer { if sidecar.isRunning { sidecar.terminate() } }
        let path = "\(folder)/out/injector.sock"
        #expect(await SidecarCommandTests.waitFor(20) { FileManager.default.fileExists(atPath: path) })
        try await Task.sleep(for: .milliseconds(300))

        let report = await onThread { () -> (oldestClosed: Bool, othersOpen: Bool, served: String) in
            var idle: [RawConnection] = []
            for _ in 0..<4 {
                if let connection = RawConnection(unixPath: path) { idle.append(connection) }
                usleep(50_000)
            }
            guard idle.count == 4, let newcomer = RawConnection(unixPath: path) else { return (false, false, "") }
            newcomer.send("GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            let served = newcomer.receiveResponse()
            let oldestClosed = idle[0].closedByPeer(within: 2)
            let othersOpen = !idle[1].closedByPeer(within: 0.3)
            return (oldestClosed, othersOpen, served)
        }
        #expect(report.served.hasPrefix("HTTP/1.1 200") && report.served.hasSuffix("healthy"), "\(report.served)")
        #expect(report.oldestClosed, "the client idle the longest is dropped")
        #expect(report.othersOpen)
    }
}

/// Secrets Manager calls per refresh round over 100 unchanged secrets, counted outside the
/// sidecar by the harness's forwarder (the X-Amz-Target of every request it carries to moto).
@Suite struct StrategyCallCountTests {
    @Test(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func callsPerRoundOverAHundredSecrets() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        let admin = [
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"),
            "ADMIN_ACCESS_KEY_ID": peers.string("adminAccessKeyId"),
            "ADMIN_SECRET_ACCESS_KEY": peers.string("adminSecretAccessKey"),
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
        let seeded = try await run(
            "/usr/bin/env",
            [
                "python3", Repository.root.appendingPathComponent("scripts/harness/aws_admin.py").path, "seed",
                "bench/app/s", "100",
            ], environment: admin, timeout: 120)
        try #require(seeded.status == 0, "\(seeded.stderr)")
        let control = peers.string("control")

        var perRound: [String: Double] = [:]
        for strategy in ["list", "describe", "get"] {
            let folder = try BlackBox.temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let ids = (0..<100).map { #"{"id": "bench/app/s\#($0)", "file": "s\#($0)"}"# }.joined(separator: ",")
            let config =
                #"{"outputDir": "\#(folder)/out", "secrets": [\#(ids)], "refresh": {"intervalSeconds": 3600, "strategy": "\#(strategy)"}, "log": {"level": "error"}}"#
            var environment = BlackBox.taskEnvironment(peers, ["SECRETS_INJECTOR_CONFIG": config])
            environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = peers.string("routedEndpoint")
            let sidecar = try BlackBox.launch(["run"], environment: environment)
            defer { if sidecar.isRunning { sidecar.terminate() } }
            let socket = "\(folder)/out/injector.sock"
            try #require(
                await SidecarCommandTests.waitFor(60) { FileManager.default.fileExists(atPath: "\(folder)/out/.ready") }
            )
            func refreshes() async throws -> Int {
                let text = try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost/metrics"])
                    .body
                return text.split(separator: "\n").first { $0.hasPrefix("secrets_injector_refreshes_total ") }.flatMap {
                    Int($0.split(separator: " ")[1])
                } ?? -1
            }
            _ = try await SidecarCommandTests.curl([control + "calls-reset"])
            // Ten rounds, one SIGHUP each, each waited for.
            for round in 1...10 {
                kill(sidecar.processIdentifier, SIGHUP)
                try #require(
                    try await SidecarCommandTests.waitFor(60) { try await refreshes() >= round },
                    "\(strategy) round \(round)")
            }
            let calls = try await SidecarCommandTests.curl([control + "calls"]).body
            let counts = try JSONSerialization.jsonObject(with: Data(calls.utf8)) as? [String: Int] ?? [:]
            perRound[strategy] = Double(counts.values.reduce(0, +)) / 10
            print("strategy \(strategy): \(counts) in 10 rounds over 100 unchanged secrets")
            kill(sidecar.processIdentifier, SIGTERM)
            sidecar.waitUntilExit()
        }
        #expect(perRound["list"] == 1, "list: at most one call per round per 100 secrets")
        #expect(perRound["describe"] == 100)
        #expect(perRound["get"] == 5)
    }
}
