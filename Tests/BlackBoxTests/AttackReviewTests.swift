import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The fifteen findings of the attacker review of the shipped build, one black-box test
/// each, named after its finding: the built binary, a local source, and the attack as it was made.
/// docs/SECURITY.md lists each with its test.
@Suite struct AttackReviewTests {
    /// A task's folder with a local source (`dev.json`), an output folder below it, and a log.
    struct Scene {
        let folder: String
        var output: String { "\(folder)/out" }
        var socket: String { "\(folder)/out/injector.sock" }
        var log: String { "\(folder)/injector.log" }

        init(values: [String: String] = ["app/token": "t0k3n-value"]) throws {
            folder = try BlackBox.temporaryFolder()
            chmod(folder, 0o755)
            try setValues(values)
        }

        func setValues(_ values: [String: String]) throws {
            let data = try JSONSerialization.data(withJSONObject: values)
            try data.write(to: URL(fileURLWithPath: "\(folder)/dev.json"), options: .atomic)
        }

        /// `SECRETS_INJECTOR_CONFIG`: the local source, `outputDir`, `app/token` as `token`, with
        /// `extra`'s top-level keys laid over it.
        func config(_ extra: [String: Any] = [:]) throws -> String {
            var document: [String: Any] = [
                "source": ["local": "\(folder)/dev.json"], "outputDir": output,
                "secrets": [["id": "app/token", "file": "token"]], "log": ["level": "info"],
            ]
            document.merge(extra) { $1 }
            return String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
        }

        func launch(
            _ arguments: [String] = ["run"], config extra: [String: Any] = [:], environment: [String: String] = [:]
        ) throws -> Process {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            return try BlackBox.launch(
                arguments, environment: environment.merging(["SECRETS_INJECTOR_CONFIG": try config(extra)]) { $1 },
                log: log)
        }

        func command(_ arguments: [String], config extra: [String: Any] = [:], environment: [String: String] = [:])
            async throws -> CommandResult
        {
            try await run(
                BlackBox.binary, arguments,
                environment: environment.merging(["SECRETS_INJECTOR_CONFIG": try config(extra)]) { $1 }, timeout: 30)
        }

        /// Ready: the first generation is committed and `/ping` answers on the socket.
        func waitReady() async throws -> Bool {
            try await SidecarCommandTests.waitFor(20) {
                guard FileManager.default.fileExists(atPath: "\(output)/.ready") else { return false }
                return try await socket("/ping").body == "healthy"
            }
        }

        func socket(_ path: String, _ extra: [String] = []) async throws -> (status: Int, body: String) {
            try await SidecarCommandTests.curl(extra + ["--unix-socket", socket, "http://localhost\(path)"])
        }

        func value() -> String? { try? String(contentsOfFile: "\(output)/token", encoding: .utf8) }

        func logText() -> String {
            String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: log))) ?? Data(), as: UTF8.self)
        }

        /// SIGTERM, then SIGKILL when it has not exited within `seconds`; true when SIGTERM sufficed.
        @discardableResult
        func stop(_ process: Process, within seconds: Double = 5) async -> Bool {
            guard process.isRunning else { return true }
            kill(process.processIdentifier, SIGTERM)
            let stopped = await SidecarCommandTests.waitFor(seconds) { !process.isRunning }
            if !stopped { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return stopped
        }

        func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    static func rotate(_ scene: Scene, to value: String, within seconds: Double = 8) async throws -> Bool {
        try scene.setValues(["app/token": value])
        return await SidecarCommandTests.waitFor(seconds) { scene.value() == value }
    }

    /// `VmRSS` of a process, in kB.
    static func residentKB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// Runs `arguments` as `uid` (and its own group), with no supplementary groups.
    static func runAs(_ uid: UInt32, _ arguments: [String], timeout: TimeInterval = 30) async throws -> CommandResult {
        try await run(
            "/usr/bin/setpriv", ["--reuid", "\(uid)", "--regid", "\(uid)", "--clear-groups"] + arguments,
            environment: ["PATH": "/usr/bin:/bin"], timeout: timeout)
    }

    // MARK: 1

    @Test("1. an empty TCP token is no token: refused at start, 403 at request time")
    func anEmptyTCPTokenIsNoToken() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let port = freeLoopbackPort()
        let tokenFile = "\(scene.folder)/ssrf-token"
        let server: [String: Any] = ["server": ["tcpPort": port]]

        try " \n".write(toFile: tokenFile, atomically: false, encoding: .utf8)
        for environment in [["AWS_TOKEN": "file://\(tokenFile)"], ["AWS_TOKEN": "", "AWS_SESSION_TOKEN": " \t"]] {
            let refused = try await scene.command(["run"], config: server, environment: environment)
            #expect(refused.status == 2, "\(environment): \(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
            #expect(refused.stderr.contains("server.tcpPort"), "\(refused.stderr)")
        }

        try "good-token\n".write(toFile: tokenFile, atomically: false, encoding: .utf8)
        let sidecar = try scene.launch(config: server, environment: ["AWS_TOKEN": "file://\(tokenFile)"])
        defer { Task { await scene.stop(sidecar) } }
        try #require(try await scene.waitReady(), "not ready: \(scene.logText())")
        let url = "http://127.0.0.1:\(port)/v1/app/token"
        #expect(
            try await SidecarCommandTests.curl(["-H", "X-Aws-Parameters-Secrets-Token: good-token", url]).status == 200)
        // Emptied in place, as a rewrite of the file leaves it for a moment.
        let handle = try #require(FileHandle(forWritingAtPath: tokenFile))
        try handle.truncate(atOffset: 0)
        try handle.close()
        try await Task.sleep(for: .milliseconds(2500))
        for _ in 0..<10 {
            let answer = try await SidecarCommandTests.curl(["-H", "X-Aws-Parameters-Secrets-Token;", url])
            #expect(answer.status == 403, "an empty header matched an empty token: \(answer.body)")
            #expect(!answer.body.contains("t0k3n-value"))
        }
        let warnings = scene.logText().split(separator: "\n").filter { $0.contains("SSRF token") }
        #expect(warnings.count == 1, "logged once: \(warnings)")
    }

    // MARK: 2

    @Test("2. an onChange command that closes its output is killed at its deadline, outside the round")
    func anOnChangeCommandThatClosesItsOutputIsKilledAtItsDeadline() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let marker = "100.\(Int.random(in: 1000...9999))"
        let sidecar = try scene.launch(config: [
            "refresh": ["intervalSeconds": 1],
            "onChange": ["command": ["/bin/sh", "-c", "exec >/dev/null 2>&1; sleep \(marker)"], "timeoutSeconds": 12],
        ])
        defer { Task { await scene.stop(sidecar) } }
        try #require(try await scene.waitReady(), "not ready: \(scene.logText())")
        func sleeping() -> Bool {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.contains { pid in
                guard Int(pid) != nil, let line = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
                else { return false }
                return String(decoding: line, as: UTF8.self).contains(marker)
            } ?? false
        }

        #expect(try await Self.rotate(scene, to: "two"))
        #expect(await SidecarCommandTests.waitFor(8) { sleeping() }, "the command runs")
        // While it hangs (12 s: wide enough that a loaded machine's slow round is not mistaken for
        // one that waited), the next rotation is written and refreshNow answers.
        #expect(try await Self.rotate(scene, to: "three"), "the round waited for the command")
        let started = Date()
        let answer = try await scene.socket("/secretsmanager/get?secretId=app/token&refreshNow=true")
        #expect(answer.status == 200 && Date().timeIntervalSince(started) < 3)
        // At its deadline the whole group is killed, and /health says so (the second rotation's
        // command runs after the first's: two deadlines to wait, and slack).
        #expect(await SidecarCommandTests.waitFor(40) { !sleeping() }, "sleep \(marker) outlived its deadline")
        let degraded = try await SidecarCommandTests.waitFor(5) {
            let health = try await scene.socket("/health").body
            return health.contains(#""status":"degraded""#) && health.contains("did not finish in 12 s")
        }
        let health = try await scene.socket("/health").body
        #expect(degraded, "\(health)")
        #expect(await scene.stop(sidecar), "SIGTERM waited for the command")
        #expect(sidecar.terminationStatus == 0)
    }

    // MARK: 3

    @Test(
        "3. the pid file is opened without following links or blocking, bounded, and signals only the app",
        .enabled(if: getuid() == 0, "needs root to run the app and another process as other uids"))
    func thePidFileIsOpenedSafelyAndSignalsOnlyTheApp() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let pidFile = "\(scene.folder)/app.pid"
        let appFolder = "\(scene.folder)/app"
        try FileManager.default.createDirectory(atPath: appFolder, withIntermediateDirectories: false)
        chown(appFolder, 1000, 1000)
        let signalled = "\(appFolder)/signalled"
        // The app, as uid 1000, notes each SIGUSR1; a bystander of another uid would die of one.
        let app = Process()
        app.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        app.arguments = [
            "--reuid", "1000", "--regid", "1000", "--clear-groups", "/bin/sh", "-c",
            "trap 'echo usr1 >> \(signalled)' USR1; while :; do sleep 0.05; done",
        ]
        try app.run()
        defer { kill(app.processIdentifier, SIGKILL) }
        let bystander = Process()
        bystander.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        bystander.arguments = ["--reuid", "23456", "--regid", "23456", "--clear-groups", "/bin/sleep", "60"]
        try bystander.run()
        defer { kill(bystander.processIdentifier, SIGKILL) }
        try await Task.sleep(for: .milliseconds(300))  // the app's trap is set

        let sidecar = try scene.launch(config: [
            "refresh": ["intervalSeconds": 1],
            "onChange": ["signal": ["pidFile": pidFile, "name": "USR1", "uid": 1000]],
        ])
        defer { Task { await scene.stop(sidecar) } }
        try #require(try await scene.waitReady(), "not ready: \(scene.logText())")
        let baseline = Self.residentKB(sidecar.processIdentifier)

        // A link to /dev/zero is not followed.
        symlink("/dev/zero", pidFile)
        #expect(try await Self.rotate(scene, to: "zero"))
        try await Task.sleep(for: .seconds(1))
        #expect(Self.residentKB(sidecar.processIdentifier) - baseline < 20_000, "the pid file was read without bound")
        // A FIFO does not block the refresh.
        unlink(pidFile)
        mkfifo(pidFile, 0o644)
        #expect(try await Self.rotate(scene, to: "fifo"))
        #expect(try await Self.rotate(scene, to: "after-fifo"), "the refresh is stuck on the FIFO")
        // Our own pid, pid 1 of no one else, more than 32 bytes, another uid's process: refused.
        for content in [
            "\(sidecar.processIdentifier)\n", String(repeating: " ", count: 40) + "\(app.processIdentifier)\n",
            "\(bystander.processIdentifier)\n",
        ] {
            unlink(pidFile)
            try content.write(toFile: pidFile, atomically: false, encoding: .utf8)
            #expect(try await Self.rotate(scene, to: "refused-\(content.count)"))
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(sidecar.isRunning, "the sidecar signalled itself")
        #expect(bystander.isRunning, "a process of uid 23456 was signalled")
        #expect(!FileManager.default.fileExists(atPath: signalled))
        let refusals = scene.logText().split(separator: "\n").filter { $0.contains("onChange signal not sent") }
        #expect(refusals.count == 6, "a link, a FIFO twice, our pid, 40 bytes, another uid: \(refusals)")
        // The app itself is signalled.
        try "\(app.processIdentifier)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        #expect(try await Self.rotate(scene, to: "app"))
        #expect(
            await SidecarCommandTests.waitFor(5) {
                (try? String(contentsOfFile: signalled, encoding: .utf8)) == "usr1\n"
            })
        #expect(await scene.stop(sidecar))
    }

    // MARK: 4

    @Test(
        "4. uid never owns the generation folder: readers get in through the group and the mode",
        .enabled(if: getuid() == 0, "needs root to give files to uid 1000"))
    func theAppsUidNeverOwnsTheGenerationFolder() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let config: [String: Any] = ["defaults": ["uid": 1000, "gid": 1000]]
        let first = try await scene.command(["init"], config: config)
        try #require(first.status == 0, "\(first.stderr)")
        let generation = try FileManager.default.destinationOfSymbolicLink(atPath: "\(scene.output)/..data")
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(scene.output)/\(generation)")
        #expect(attributes[.ownerAccountID] as? Int == Int(geteuid()), "the folder was given away")
        #expect(attributes[.groupOwnerAccountID] as? Int == 1000)
        #expect(attributes[.posixPermissions] as? Int == 0o750)
        let read = try await Self.runAs(1000, ["/bin/cat", "\(scene.output)/token"])
        #expect(read.status == 0 && read.stdout == "t0k3n-value", "\(read.stderr)")
        let planted = try await Self.runAs(1000, ["/bin/sh", "-c", "echo forged > \(scene.output)/..data/forged"])
        #expect(planted.status != 0, "uid 1000 wrote into the generation")
        let swapped = try await Self.runAs(1000, ["/bin/mv", "-f", "\(scene.output)/..data/token", "/tmp/"])
        #expect(swapped.status != 0, "uid 1000 moved a file out of the generation")

        try scene.setValues(["app/token": "second"])
        let second = try await scene.command(["init"], config: config)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(scene.value() == "second")
    }

    // MARK: 5

    @Test("5. floods without the token keep the sidecar's memory and logs bounded")
    func floodsWithoutTheTokenKeepMemoryAndLogsBounded() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let port = freeLoopbackPort()
        let sidecar = try scene.launch(
            config: ["server": ["tcpPort": port]], environment: ["AWS_TOKEN": "flood-token"])
        defer { Task { await scene.stop(sidecar) } }
        try #require(try await scene.waitReady(), "not ready: \(scene.logText())")
        try await Task.sleep(for: .milliseconds(500))
        let pid = sidecar.processIdentifier
        let baseline = Self.residentKB(pid)
        let peak = PeakSampler(pid: pid)
        let flood = try await run(
            "/usr/bin/env",
            [
                "python3",
                Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/pipeline_flood.py").path,
                String(port), "8", "4", "500",
            ], environment: ["PATH": "/usr/bin:/bin"], timeout: 90)
        let highest = await peak.stop()
        #expect(flood.status == 0, "\(flood.stderr)")
        #expect(flood.stdout.contains("\"refusalsAnswered\""), "\(flood.stdout)")
        #expect(highest - baseline < 20_000, "RSS grew \((highest - baseline) / 1024) MB: \(flood.stdout)")
        #expect(try await scene.socket("/ping").body == "healthy")
        let log = scene.logText()
        #expect(log.utf8.count < 64_000, "the log grew \(log.utf8.count) bytes")
        #expect(log.split(separator: "\n").allSatisfy { $0.utf8.count < 2_000 }, "a line holds a whole path")
        #expect(log.contains("(cut)"), "a long path is cut and marked")
    }

    /// The highest `VmRSS` of a process, sampled every 50 ms until stopped.
    final class PeakSampler: @unchecked Sendable {
        private let lock = NSLock()
        private var highest = 0
        private var running = true
        private let done = DispatchSemaphore(value: 0)

        init(pid: Int32) {
            Thread.detachNewThread { [self] in
                while lock.withLock({ running }) {
                    let now = AttackReviewTests.residentKB(pid)
                    lock.withLock { highest = max(highest, now) }
                    usleep(50_000)
                }
                done.signal()
            }
        }

        func stop() async -> Int {
            lock.withLock { running = false }
            return await onThread { [self] in
                done.wait()
                return lock.withLock { highest }
            }
        }
    }

    // MARK: 6

    @Test("6. the token file is read off the event loop: a FIFO there freezes nothing")
    func theTokenFileIsReadOffTheEventLoop() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let port = freeLoopbackPort()
        let tokenFile = "\(scene.folder)/ssrf-token"
        try "good-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let sidecar = try scene.launch(
            config: ["server": ["tcpPort": port]], environment: ["AWS_TOKEN": "file://\(tokenFile)"])
        defer { Task { await scene.stop(sidecar, within: 1) } }
        try #require(try await scene.waitReady(), "not ready: \(scene.logText())")
        unlink(tokenFile)
        mkfifo(tokenFile, 0o600)
        try await Task.sleep(for: .milliseconds(1500))
        let tcp = try await SidecarCommandTests.curl(["--max-time", "3", "http://127.0.0.1:\(port)/ping"])
        #expect(tcp.body == "healthy", "TCP /ping froze: \(tcp)")
        let socket = try await scene.socket("/ping", ["--max-time", "3"])
        #expect(socket.body == "healthy", "the socket froze: \(socket)")
        let secret = try await SidecarCommandTests.curl([
            "--max-time", "3", "-H", "X-Aws-Parameters-Secrets-Token: good-token",
            "http://127.0.0.1:\(port)/v1/app/token",
        ])
        #expect(secret.status == 403, "a FIFO is no token file: \(secret)")
    }

    // MARK: 7

    @Test(
        "7. the socket is never connectable before it has its mode, even with umask 000",
        .enabled(if: getuid() == 0, "needs root to race as another uid"))
    func theSocketIsNeverConnectableBeforeItsMode() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        try FileManager.default.createDirectory(atPath: scene.output, withIntermediateDirectories: true)
        chmod(scene.output, 0o755)
        let environment = [
            "SECRETS_INJECTOR_CONFIG": try scene.config(["server": ["socketMode": "0600"], "log": ["level": "error"]])
        ]
        let racer = "\(scene.folder)/socket_race.py"
        try FileManager.default.copyItem(
            atPath: Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/socket_race.py").path,
            toPath: racer)
        // uid 23456 connects in a loop while the sidecar starts, 20 times, umask 000 (at most 60 s).
        let (go, stop) = ("\(scene.folder)/go", "\(scene.folder)/stop")
        async let race = Self.runAs(
            23_456, ["/usr/bin/python3", racer, scene.socket, go, stop, "60", "app/token"], timeout: 90)
        let deadline = Date().addingTimeInterval(50)
        var restarts = 0
        while restarts < 20, Date() < deadline {
            let sidecar = Process()
            sidecar.executableURL = URL(fileURLWithPath: "/bin/sh")
            sidecar.arguments = ["-c", "umask 000; exec \"$0\" run", BlackBox.binary]
            sidecar.environment = environment
            sidecar.standardOutput = FileHandle.nullDevice
            sidecar.standardError = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: go, contents: nil)
            try sidecar.run()
            _ = await SidecarCommandTests.waitFor(10) { FileManager.default.fileExists(atPath: scene.socket) }
            try await Task.sleep(for: .milliseconds(50))
            try? FileManager.default.removeItem(atPath: go)
            await scene.stop(sidecar)
            restarts += 1
        }
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        let result = try await race
        #expect(result.status == 0, "\(result.stderr)")
        #expect(restarts >= 5)
        #expect(
            result.stdout.contains(#""connected": 0"#), "uid 23456 got in during \(restarts) restarts: \(result.stdout)"
        )
    }

    // MARK: 8

    @Test(
        "8. refreshNow refreshes only its secret, at most once per 5 s",
        .enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func refreshNowIsRateLimitedPerSecret() async throws {
        let peers = try await BlackBox.sharedPeers.value
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = "\(folder)/out"
        let socket = "\(output)/injector.sock"
        let sidecar = try BlackBox.launch(
            ["run", "--config", Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path],
            environment: BlackBox.taskEnvironment(
                peers,
                [
                    "SECRETS_INJECTOR_OUTPUT_DIR": output,
                    "SECRETS_INJECTOR_CONFIG":
                        #"{"defaults": {"gid": \#(getgid())}, "refresh": {"strategy": "describe", "intervalSeconds": 3600}, "server": {"socketPath": "\#(socket)"}}"#,
                ]))
        defer { if sidecar.isRunning { sidecar.terminate() } }
        // Rounds an hour apart: the first falls at a random point of the first interval, and with
        // the example's 300 s it could come 30 s after the start and add its calls to the count.
        func calls() async throws -> Int {
            let text = try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost/metrics"]).body
            return text.split(separator: "\n").filter { $0.hasPrefix("secrets_injector_api_calls_total{") }.reduce(0) {
                $0 + (Int($1.split(separator: " ").last ?? "") ?? 0)
            }
        }
        try #require(
            await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") })
        try await Task.sleep(for: .milliseconds(300))
        let before = try await calls()
        // 16 clients asking refreshNow 8 times each (within 4 s): one check, then the cache answers.
        let url = "http://localhost/secretsmanager/get?secretId=pipeline-pulse/prod/database&refreshNow=true"
        let answers = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    var answered = 0
                    let until = Date().addingTimeInterval(4)
                    for _ in 0..<8 where Date() < until {
                        let answer = try await SidecarCommandTests.curl(["--unix-socket", socket, url])
                        if answer.status == 200 { answered += 1 }
                    }
                    return answered
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(answers > 16)
        let during = try await calls() - before
        #expect(during <= 2, "\(during) Secrets Manager calls for \(answers) refreshNow answers")
        // After the spacing, one refreshNow reads its own secret, not the other three.
        try await Task.sleep(for: .milliseconds(5500))
        let single = try await calls()
        #expect(try await SidecarCommandTests.curl(["--unix-socket", socket, url]).status == 200)
        #expect(try await calls() - single == 1)
    }

    // MARK: 9

    @Test("9. text and JSON logs escape control characters, DEL and C1")
    func logsEscapeControlCharacters() async throws {
        for format in ["text", "json"] {
            let scene = try Scene()
            defer { scene.remove() }
            let sidecar = try scene.launch(config: ["log": ["level": "info", "format": format]])
            defer { Task { await scene.stop(sidecar) } }
            try #require(try await scene.waitReady(), "not ready: \(scene.logText())")
            let path = "/v1/x%0A%7B%22_aws%22%3A%7B%7D%7D%1B%5B31m%7F%C2%85%C2%9B%0D"
            #expect(try await scene.socket(path, ["--path-as-is"]).status == 404)
            await scene.stop(sidecar)
            let log = Array(scene.logText().utf8)
            #expect(!log.contains(0x1B), "\(format): a raw ESC")
            #expect(!log.contains(0x7F), "\(format): a raw DEL")
            #expect(!log.contains(0x0D), "\(format): a raw CR")
            let text = String(decoding: log, as: UTF8.self)
            #expect(!text.unicodeScalars.contains { (0x80...0x9F).contains($0.value) }, "\(format): a raw C1")
            #expect(!text.split(separator: "\n").contains { $0.hasPrefix("{\"_aws\"") }, "\(format): a forged line")
            #expect(text.contains("x"), "\(format): the refusal is logged")
        }
    }

    // MARK: 10

    @Test("10. | dotenv in a template refuses a value sh would run, and points to | shell")
    func theDotenvFilterRefusesWhatShWouldRun() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let pwned = "\(scene.folder)/PWNED"
        try scene.setValues(["app/token": "'$(touch \(pwned)) #"])
        let result = try await scene.command(
            ["init"],
            config: ["templates": [["file": "app.env", "template": "TOKEN={{ token | dotenv }}\n"]]])
        if result.status == 0 {
            _ = try await run("/bin/sh", ["-c", ". \(scene.output)/app.env"], environment: [:])
        }
        #expect(!FileManager.default.fileExists(atPath: pwned), "sourcing the template ran a command")
        #expect(result.status == 3, "\(result.stderr)")
        #expect(
            result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("| shell"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(scene.output)/app.env"))
    }

    // MARK: 11

    @Test("11. SIGHUP and SIGPIPE during start neither kill nor stop the sidecar")
    func sighupDuringStartIsHandled() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        // An endpoint that takes the connection and never answers: the start waits on it.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let port = freeLoopbackPort()
        address.sin_port = UInt16(port).bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(listener, 16)
        var document: [String: Any] = ["outputDir": scene.output, "secrets": [["id": "app/token"]]]
        document["log"] = ["level": "info"]
        let sidecar = try BlackBox.launch(
            ["run"],
            environment: [
                "SECRETS_INJECTOR_CONFIG": String(
                    decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self),
                "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example", "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:\(port)",
            ])
        defer { Task { await scene.stop(sidecar) } }
        // Sent once the process has set both to ignored (its first statements; SigIgn's bits 0 and
        // 12 are SIGHUP and SIGPIPE), so that the test does not race the process's own start.
        let ignoring = await SidecarCommandTests.waitFor(30) {
            let status =
                (try? String(contentsOfFile: "/proc/\(sidecar.processIdentifier)/status", encoding: .utf8)) ?? ""
            let mask = status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }?.split(separator: "\t").last
            return UInt64(mask ?? "", radix: 16).map { $0 & 0x1001 == 0x1001 } ?? false
        }
        #expect(ignoring && sidecar.isRunning)
        kill(sidecar.processIdentifier, SIGHUP)
        kill(sidecar.processIdentifier, SIGPIPE)
        try await Task.sleep(for: .milliseconds(700))
        #expect(sidecar.isRunning, "exit \(sidecar.isRunning ? 0 : sidecar.terminationStatus)")
    }

    // MARK: 12

    @Test(
        "12. orphans are reaped when the injector is PID 1",
        .enabled(if: getuid() == 0, "needs root for a PID namespace"))
    func orphansAreReapedWhenTheInjectorIsPID1() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        _ = FileManager.default.createFile(atPath: scene.log, contents: nil)
        let unshare = Process()
        unshare.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        unshare.arguments = ["--pid", "--fork", "--kill-child", BlackBox.binary, "run"]
        unshare.environment = [
            "SECRETS_INJECTOR_CONFIG": try scene.config([
                "refresh": ["intervalSeconds": 1],
                // The command's child outlives it: an orphan, reparented to PID 1.
                "onChange": ["command": ["/bin/sh", "-c", "/bin/sh -c 'sleep 0.2' & exit 0"]],
            ])
        ]
        unshare.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: scene.log))
        unshare.standardError = unshare.standardOutput
        try unshare.run()
        defer {
            kill(unshare.processIdentifier, SIGKILL)
            unshare.waitUntilExit()
        }
        try #require(try await scene.waitReady(), "not ready: \(scene.logText())")
        let children = try String(
            contentsOfFile: "/proc/\(unshare.processIdentifier)/task/\(unshare.processIdentifier)/children",
            encoding: .utf8)
        let injector = try #require(Int32(children.split(separator: " ").first ?? ""))
        for value in ["one", "two", "three"] { #expect(try await Self.rotate(scene, to: value)) }
        try await Task.sleep(for: .seconds(2))
        func zombies() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
                guard Int(pid) != nil, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return false }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return fields.count > 1 && fields[0] == "Z" && fields[1] == "\(injector)"
            }
        }
        #expect(zombies().isEmpty, "zombies of the injector: \(zombies())")
        kill(injector, SIGTERM)
        #expect(await SidecarCommandTests.waitFor(5) { !unshare.isRunning })
    }

    // MARK: 13

    @Test(
        "13. StrictModes checks every ancestor of outputDir, as sshd does",
        .enabled(if: getuid() == 0, "needs root to give a folder to another uid"))
    func strictModesChecksEveryAncestor() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        for (name, setUp, refused) in [
            ("theirs", { (path: String) in chown(path, 1000, 1000) }, true),
            ("group-writable", { (path: String) in chmod(path, 0o775) }, true),
            ("sticky", { (path: String) in chmod(path, 0o1777) }, false),
        ] {
            let parent = "\(scene.folder)/\(name)"
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: false)
            chmod(parent, 0o755)
            _ = setUp(parent)
            let config: [String: Any] = ["outputDir": "\(parent)/out"]
            for command in ["init", "check"] {
                let result = try await scene.command([command], config: config)
                if refused {
                    #expect(result.status == 5, "\(name) \(command): \(result.stderr)")
                    #expect(result.stderr.contains(parent), "\(name) \(command): \(result.stderr)")
                    #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
                } else {
                    #expect(result.status == 0, "\(name) \(command): \(result.stderr)")
                }
            }
        }
    }

    // MARK: 14

    @Test("14. discovered names that collide are refused before any write, naming both")
    func discoveredNamesThatCollideAreRefused() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let discover: [String: Any] = ["secrets": [["namePrefix": "p/"]]]
        for (values, names) in [
            (["p/a": "one", "p/a/b": "two"], ["\"a\"", "\"a/b\""]),
            (["p/x": "one", "p/injector.sock": "two"], ["injector.sock"]),
        ] {
            try scene.setValues(values)
            let result = try await scene.command(["init"], config: discover)
            #expect(result.status == 2, "\(values): \(result.stderr)")
            for name in names { #expect(result.stderr.contains(name), "\(values): \(result.stderr)") }
            #expect(
                !FileManager.default.fileExists(atPath: "\(scene.output)/..data"), "\(values): something was written")
        }
    }

    // MARK: Also closed

    @Test("a CA bundle that group or others may write is refused before any call")
    func aCABundleOthersMayWriteIsRefused() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let bundle = "\(scene.folder)/ca.pem"
        try "-----BEGIN CERTIFICATE-----\n".write(toFile: bundle, atomically: true, encoding: .utf8)
        chmod(bundle, 0o666)
        let document: [String: Any] = [
            "outputDir": scene.output, "region": "ap-southeast-1", "secrets": [["id": "app/token"]],
        ]
        let result = try await run(
            BlackBox.binary, ["init"],
            environment: [
                "SECRETS_INJECTOR_CONFIG": String(
                    decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self),
                "AWS_CA_BUNDLE": bundle, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example",
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": "https://127.0.0.1:9/",
            ], timeout: 30)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("AWS_CA_BUNDLE") && result.stderr.contains("chmod go-w"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    // MARK: 15

    @Test("15. a plain-http endpoint is only for loopback, or allowInsecureEndpoint, logged at every start")
    func aPlainHTTPEndpointIsOnlyForLoopback() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        let document: [String: Any] = [
            "outputDir": scene.output, "region": "ap-southeast-1", "secrets": [["id": "app/token"]],
        ]
        func check(_ extra: [String: Any], environment: [String: String] = [:], command: String = "check")
            async throws -> CommandResult
        {
            var config = document
            config.merge(extra) { $1 }
            return try await run(
                BlackBox.binary, [command],
                environment: environment.merging([
                    "SECRETS_INJECTOR_CONFIG": String(
                        decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
                ]) { $1 }, timeout: 30)
        }
        for extra in [
            ["endpoint": "http://10.0.0.5/"],
            ["failover": [["region": "ap-south-1", "endpoint": "http://10.0.0.6:8080/"]]],
        ] as [[String: Any]] {
            let refused = try await check(extra)
            #expect(refused.status == 2, "\(extra): \(refused.stderr)")
            #expect(refused.stderr.contains("allowInsecureEndpoint"), "\(refused.stderr)")
        }
        for endpoint in ["http://127.0.0.1:9/", "http://[::1]:9/", "http://localhost:9/", "https://10.0.0.5/"] {
            let allowed = try await check(["endpoint": endpoint])
            #expect(allowed.status == 0, "\(endpoint): \(allowed.stderr)")
        }
        #expect(try await check(["endpoint": "http://10.0.0.5/", "allowInsecureEndpoint": true]).status == 0)
        // The environment's endpoint too, found before any call (no credentials are even asked for).
        let keys = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"]
        let fromEnvironment = try await check(
            [:], environment: keys.merging(["AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://10.0.0.5/"]) { $1 },
            command: "init")
        #expect(fromEnvironment.status == 2, "\(fromEnvironment.stderr)")
        #expect(fromEnvironment.stderr.contains("AWS_ENDPOINT_URL_SECRETS_MANAGER"), "\(fromEnvironment.stderr)")
        // Allowed, it is logged at start (here a bad AWS_MAX_ATTEMPTS stops the start before any call).
        let allowedStart = try await check(
            ["allowInsecureEndpoint": true, "endpoint": "http://10.0.0.5/"],
            environment: keys.merging(["AWS_MAX_ATTEMPTS": "zero"]) { $1 }, command: "init")
        #expect(allowedStart.status == 2, "\(allowedStart.stderr)")
        #expect(allowedStart.stderr.contains("allowInsecureEndpoint"), "\(allowedStart.stderr)")
        #expect(allowedStart.stderr.contains("http://10.0.0.5/"), "\(allowedStart.stderr)")
    }
}
