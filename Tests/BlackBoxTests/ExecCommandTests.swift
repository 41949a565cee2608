import Foundation
import TestSupport
import Testing

/// `secrets-injector exec -- APP ARGS…`: a real app (a python3 script, `Fixtures/exec_app.py`)
/// started through `exec` gets its secrets in its environment and nowhere else, is supervised as
/// PID 1 would (signals to its group, the stop timeout, orphans reaped) and gives its exit status.
@Suite struct ExecCommandTests {
    static let app = Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/exec_app.py").path
    /// Values no shell or dotenv reader would pass through unchanged.
    static let hostile = "line one\nline two $HOME ${PATH} `id` \"double\" 'single' back\\slash \\n é 東京 🙂"
    static let plain = "plain-secret-value-3f9a"
    static let overriding = "overriding-secret-value-77c1"
    let folder: String

    init() throws {
        try #require(FileManager.default.isExecutableFile(atPath: BlackBox.binary))
        folder = try BlackBox.temporaryFolder()
    }

    /// A local source with the values above, and the configuration that puts them in the app's
    /// environment (`HOME` too: the configured value wins over the inherited one).
    func configure(_ exec: String = "{}") throws -> String {
        try writeSecrets(plain: Self.plain)
        let config = """
            {"source": {"local": "\(folder)/secrets.json"}, "outputDir": "\(folder)/out",
             "secrets": [{"id": "app/plain", "alias": "plain", "file": "plain"}],
             "templates": [{"file": "extra.env", "template": "FROM_TEMPLATE={{ plain | dotenv }}\\nPLAIN=from-template-{{ plain | plain }}\\n"}],
             "env": {"file": "app.env", "mode": "0400", "entries": [
               {"name": "HOSTILE", "valueFrom": "app/hostile:value"},
               {"name": "PLAIN", "valueFrom": "app/plain"},
               {"name": "HOME", "valueFrom": "app/home"}]},
             "refresh": {"intervalSeconds": 1},
             "exec": \(exec)}
            """
        try config.write(toFile: "\(folder)/config.json", atomically: true, encoding: .utf8)
        return "\(folder)/config.json"
    }

    /// The local source's file, written whole (a rename): a new `plain` is a rotation, as the
    /// local source's version ids follow the content.
    func writeSecrets(plain: String) throws {
        let secrets: [String: Any] = [
            "app/hostile": ["value": Self.hostile], "app/plain": plain, "app/home": Self.overriding,
        ]
        try JSONSerialization.data(withJSONObject: secrets).write(
            to: URL(fileURLWithPath: "\(folder)/secrets.json"), options: .atomic)
    }

    /// The `serve` app's starts so far: (pid, the value it got), waiting (bounded) for `count`.
    func starts(count: Int, seconds: Double = 30) async throws -> [(pid: Int32, value: String)] {
        let deadline = Date().addingTimeInterval(seconds)
        var lines: [Substring] = []
        // Looks once more after the deadline: a stalled test thread must not miss what the app wrote.
        while true {
            let text = (try? String(contentsOfFile: "\(folder)/starts", encoding: .utf8)) ?? ""
            // Whole lines only: the app's append may be caught between creating the file and writing.
            lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().filter { !$0.isEmpty }
            if lines.count >= count || Date() >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return lines.map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            return (Int32(parts[0])!, parts.count > 1 ? String(parts[1]) : "")
        }
    }

    /// The injector's environment: PATH (to find python3), what the app must keep or lose.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": "/home/inherited",
            "KEPT": "kept value", "DROPPED": "dropped value", "AWS_REGION": "ap-southeast-1",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds",
            "SECRETS_INJECTOR_LOG_LEVEL": "debug",
        ].merging(extra) { $1 }
    }

    var values: [String: String] { ["hostile": Self.hostile, "plain": Self.plain, "home": Self.overriding] }

    func expectNoValue(in text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, value) in values {
            #expect(!text.contains(value), "\(name) leaked", sourceLocation: sourceLocation)
        }
        #expect(!text.contains("line two"), "hostile leaked", sourceLocation: sourceLocation)
    }

    /// Waits (bounded, generously) until `path` exists, looking once more after the deadline; its
    /// text. With `line`, until it holds a whole line: an append creates the file before it writes.
    func waitFor(_ path: String, line: Bool = false, seconds: Double = 30) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), !line || text.hasSuffix("\n") {
                return text
            }
            if Date() >= deadline { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(path) never appeared")
        throw CancellationError()
    }

    /// Waits (bounded) for `process` to end; its status, or nil if it is still running.
    func waitForExit(_ process: Process, seconds: Double = 30) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard !process.isRunning else {
            kill(-process.processIdentifier, SIGKILL)
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    /// After a failed test: nothing of it keeps running (the app's group, whose id `ready` holds,
    /// and the injector).
    func cleanUp(_ injector: Process?) {
        if let ready = try? String(contentsOfFile: "\(folder)/ready", encoding: .utf8), let group = Int32(ready) {
            kill(-group, SIGKILL)
        }
        if let injector, injector.isRunning { kill(injector.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The app holds no descriptor of the injector's (beyond the standard three; the one listing
    /// /proc/self/fd is not counted), blocks no signal, and does not ignore SIGHUP, which the
    /// injector ignores (python3 itself ignores SIGPIPE and SIGXFSZ, so those say nothing).
    func expectCleanStart(_ state: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(state["descriptors"] as? Int == 0, "\(state)", sourceLocation: sourceLocation)
        let ignored = UInt64(state["ignored"] as? String ?? "", radix: 16)
        #expect(ignored.map { $0 & (1 << (UInt64(SIGHUP) - 1)) } == 0, "\(state)", sourceLocation: sourceLocation)
        #expect(state["blocked"] as? String == "0000000000000000", "\(state)", sourceLocation: sourceLocation)
    }

    func log() -> String { (try? String(contentsOfFile: "\(folder)/log", encoding: .utf8)) ?? "" }

    func start(_ mode: String, exec: String = "{}", once: Bool = false) throws -> Process {
        FileManager.default.createFile(atPath: "\(folder)/log", contents: nil)
        return try BlackBox.launch(
            ["exec", "--config", try configure(exec)] + (once ? ["--once"] : []) + [
                "--", "python3", Self.app, mode, folder,
            ], environment: environment(), log: "\(folder)/log")
    }

    @Test func theAppGetsItsEnvironmentByteForByteAndItsExitCode() async throws {
        // A core-file limit of its own, which the injector (soft limit 0 for itself) gives back to the app.
        var core = rlimit()
        getrlimit(Int32(RLIMIT_CORE.rawValue), &core)
        if core.rlim_max > 0 {
            core.rlim_cur = min(core.rlim_max, 1_234_944)
            setrlimit(Int32(RLIMIT_CORE.rawValue), &core)
        }
        let injector = try start("env", exec: #"{"dropEnvironment": ["DROPPED"]}"#)
        defer { cleanUp(injector) }
        let status = try await waitForExit(injector)
        #expect(status == 7, "the app's exit code: \(log())")
        let report =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/env.json")))
            as! [String: Any]
        func text(_ hex: String) -> String {
            var bytes: [UInt8] = []
            var index = hex.startIndex
            while index < hex.endIndex {
                let next = hex.index(index, offsetBy: 2)
                bytes.append(UInt8(hex[index..<next], radix: 16)!)
                index = next
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var seen: [String: String] = [:]
        for (name, value) in report["environment"] as! [String: String] { seen[text(name)] = text(value) }
        #expect(seen["HOSTILE"] == Self.hostile)
        #expect(seen["FROM_TEMPLATE"] == Self.plain, "a template written to a dotenv file defines variables too")
        #expect(seen["PLAIN"] == "from-template-\(Self.plain)", "the later definition of a name wins")
        #expect(seen["HOME"] == Self.overriding, "a configured variable wins over the inherited one")
        #expect(seen["KEPT"] == "kept value")
        #expect(seen["AWS_REGION"] == "ap-southeast-1")
        #expect(seen["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == "http://127.0.0.1:9/creds")
        #expect(seen["DROPPED"] == nil, "exec.dropEnvironment")
        #expect(!seen.keys.contains { $0.hasPrefix("SECRETS_INJECTOR_") })
        // The injector is the app's parent: its /proc shows no value (or nothing at all).
        #expect(report["parent"] as? Int == Int(injector.processIdentifier))
        expectCleanStart(report["state"] as! [String: Any])
        let appCore = (report["state"] as! [String: Any])["core"] as? [Int]
        // As Python's resource module gives them: RLIM_INFINITY is -1.
        func limit(_ value: rlim_t) -> Int { value == rlim_t.max ? -1 : Int(value) }
        #expect(appCore == [limit(core.rlim_cur), limit(core.rlim_max)], "RLIMIT_CORE")
        for name in ["parentEnviron", "parentCmdline"] {
            let shown = report[name] as! String
            if !shown.hasPrefix("unreadable") { expectNoValue(in: text(shown)) }
        }
        // The configured files are written as init writes them; the log names, never values.
        #expect(try String(contentsOfFile: "\(folder)/out/app.env", encoding: .utf8).contains("PLAIN="))
        let log = log()
        #expect(log.contains("HOME"), "the overridden name is logged")
        expectNoValue(in: log)
    }

    /// `restart` (the default): a rotation that changes the app's environment stops the app with
    /// SIGTERM and starts it again with the new value, within the settle time plus the splay plus
    /// one round (1 s each here, and wide slack for a loaded machine); exec itself stays.
    @Test func aRotationRestartsTheAppWithItsNewEnvironment() async throws {
        let injector = try start("serve", exec: #"{"settleSeconds": 1, "splaySeconds": 1}"#)
        defer { cleanUp(injector) }
        let first = try await starts(count: 1)
        try #require(first.count == 1, "\(log())")
        #expect(first[0].value == Self.plain)
        let rotated = "rotated-secret-value-51d2"
        let rotatedAt = Date()
        try writeSecrets(plain: rotated)
        let both = try await starts(count: 2)
        let window = Date().timeIntervalSince(rotatedAt)
        try #require(both.count == 2, "restarted: \(log())")
        #expect(both[1].value == rotated, "the new start has the new value")
        #expect(both[1].pid != first[0].pid)
        #expect(kill(first[0].pid, 0) != 0, "the first app is gone")
        // Not before the settle time; and within the settle time, the splay and a round, with wide
        // slack: a loaded CI machine took 9.5 s where a quiet one takes about 3.
        #expect(window >= 1 && window < 1 + 1 + 1 + 27, "restarted \(window) s after the rotation")
        #expect(injector.isRunning, "exec stays through the restart")
        #expect(getpgid(both[1].pid) == both[1].pid, "the new app leads a group of its own too")
        // Signals go to the new app now; its SIGTERM exit (0) is exec's.
        kill(injector.processIdentifier, SIGTERM)
        #expect(try await waitForExit(injector) == 0, "\(log())")
        let log = log()
        #expect(log.contains("restarting the app"))
        expectNoValue(in: log)
        #expect(!log.contains(rotated))
        print("exec restart window: \(window) s (settle 1 s, splay up to 1 s, rounds every 1 s)")
    }

    /// `signal:HUP`: the same app gets SIGHUP (it re-reads its files itself); `none`: nothing at all.
    @Test(arguments: ["signal:HUP", "none"])
    func otherRestartPoliciesKeepTheApp(policy: String) async throws {
        let injector = try start("serve", exec: #"{"restart": "\#(policy)", "settleSeconds": 0}"#)
        defer { cleanUp(injector) }
        let first = try await starts(count: 1)
        try #require(first.count == 1, "\(log())")
        try writeSecrets(plain: "rotated-secret-value-8e01")
        // The new generation is written (the file the app would re-read), then the policy acts.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline,
            !((try? String(contentsOfFile: "\(folder)/out/plain", encoding: .utf8)) ?? "").contains("8e01")
        {
            try await Task.sleep(for: .milliseconds(20))
        }
        if policy == "none" {
            try await Task.sleep(for: .seconds(3))
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/hups"))
        } else {
            #expect(try await waitFor("\(folder)/hups", line: true) == "\(first[0].pid)\n", "SIGHUP to the same app")
        }
        #expect(try await starts(count: 1, seconds: 0).count == 1, "never restarted")
        #expect(kill(first[0].pid, 0) == 0, "the first app still runs")
        kill(injector.processIdentifier, SIGTERM)
        #expect(try await waitForExit(injector) == 0, "\(log())")
    }

    @Test func theInjectorsOwnEnvironmentAndArgvHoldNoValue() async throws {
        let injector = try start("signals")
        defer { cleanUp(injector) }
        _ = try await waitFor("\(folder)/ready")
        let pid = injector.processIdentifier
        for name in ["environ", "cmdline"] {
            // As root (or the same uid) the test reads it whatever the dumpable flag says.
            if let data = FileManager.default.contents(atPath: "/proc/\(pid)/\(name)") {
                expectNoValue(in: String(decoding: data, as: UTF8.self))
            } else {
                #expect(getuid() != 0, "root reads /proc/\(pid)/\(name)")
            }
        }
        kill(pid, SIGTERM)
        #expect(try await waitForExit(injector) == 42)
        expectNoValue(in: log())
    }

    @Test func signalsGoToTheAppsGroupAndItsExitCodeComesBack() async throws {
        let injector = try start("signals")
        defer { cleanUp(injector) }
        let app = Int32(try await waitFor("\(folder)/ready"))!
        #expect(getpgid(app) == app, "the app leads a process group of its own")
        #expect(getpgid(app) != getpgid(injector.processIdentifier))
        var expected: [String] = []
        for (number, name) in [(SIGHUP, "SIGHUP"), (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2"), (SIGWINCH, "SIGWINCH")] {
            kill(injector.processIdentifier, number)
            expected.append(name)
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline,
                (try? String(contentsOfFile: "\(folder)/signals", encoding: .utf8)) != expected.joined(separator: "\n")
            {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(
                try String(contentsOfFile: "\(folder)/signals", encoding: .utf8) == expected.joined(separator: "\n"),
                "\(name) forwarded")
        }
        #expect(injector.isRunning, "no forwarded signal ends the injector")
        kill(injector.processIdentifier, SIGTERM)
        #expect(try await waitForExit(injector) == 42, "the app's own code after SIGTERM: \(log())")
        #expect(FileManager.default.fileExists(atPath: "\(folder)/member-term"), "SIGTERM reached the whole group")
    }

    @Test func anAppThatIgnoresSIGTERMIsKilledAfterTheStopTimeout() async throws {
        let injector = try start("stubborn", exec: #"{"stopTimeoutSeconds": 1}"#)
        defer { cleanUp(injector) }
        let app = Int32(try await waitFor("\(folder)/ready"))!
        kill(injector.processIdentifier, SIGTERM)
        #expect(try await waitForExit(injector) == 128 + SIGKILL, "128 + SIGKILL: \(log())")
        #expect(kill(app, 0) != 0, "the app is gone")
        #expect(log().contains("stop timeout"))
    }

    @Test func anOrphanedGrandchildIsReapedByTheInjector() async throws {
        let injector = try start("orphan")
        defer { cleanUp(injector) }
        _ = try await waitFor("\(folder)/ready")
        let orphan =
            try JSONSerialization.jsonObject(with: Data(try await waitFor("\(folder)/orphan").utf8)) as! [String: Int]
        #expect(orphan["adoptedBy"] == Int(injector.processIdentifier), "the injector adopts the orphan (subreaper)")
        let pid = orphan["pid"]!
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, FileManager.default.fileExists(atPath: "/proc/\(pid)/stat") {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)/stat"), "the orphan is reaped, not a zombie")
        kill(injector.processIdentifier, SIGTERM)
        #expect(try await waitForExit(injector) == 128 + SIGTERM)
    }

    /// As root: `exec.user` runs the app as nobody (no supplementary group), which cannot read the
    /// injector's /proc.
    @Test(.enabled(if: getuid() == 0, "needs root to change ids"))
    func theAppRunsAsExecUser() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // nobody must write its report and read the script: a sticky world-writable folder.
        chmod(folder, 0o1777)
        let script = "\(folder)/exec_app.py"
        try FileManager.default.copyItem(atPath: Self.app, toPath: script)
        chmod(script, 0o644)
        // Supervised, then in place (--once): the same ids either way.
        for once in [false, true] {
            try? FileManager.default.removeItem(atPath: "\(folder)/identity.json")
            let result = try await run(
                BlackBox.binary,
                ["exec", "--config", try configure(#"{"user": "65534:65534"}"#)] + (once ? ["--once"] : []) + [
                    "--", "/usr/bin/python3", script, "identity", folder,
                ], environment: environment())
            #expect(result.status == 0, "\(result.stderr)")
            let report =
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/identity.json"))) as! [String: Any]
            for key in ["uid", "euid", "gid", "egid"] { #expect(report[key] as? Int == 65534, "\(key), once: \(once)") }
            #expect(report["groups"] as? [Int] == [65534], "no supplementary group but its own, once: \(once)")
            #expect(report["plain"] as? String == "from-template-\(Self.plain)")
            // The injector's /proc (supervised), or the test's (in place): neither is nobody's to read.
            #expect(
                (report["parentEnviron"] as? String)?.hasPrefix("unreadable") == true, "the parent's /proc is closed")
            expectNoValue(in: result.stdout + result.stderr)
        }
    }

    @Test func onceRunsTheAppInTheInjectorsPlaceAndWritesNothing() async throws {
        let injector = try start("pid", once: true)
        defer { cleanUp(injector) }
        #expect(try await waitForExit(injector) == 0, "\(log())")
        #expect(try String(contentsOfFile: "\(folder)/pid", encoding: .utf8) == "\(injector.processIdentifier)")
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/out"), "--once writes nothing")
        expectCleanStart(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(folder)/state.json")))
                as! [String: Any])
        expectNoValue(in: log())
    }

    /// `install DIR`: the binary itself, 0755, by a rename (no temporary file left, a second install
    /// replaces the first), or the portable build beside it when there is one; a missing folder is
    /// exit 5 and one line.
    @Test func installCopiesThisBinaryIntoTheSharedFolder() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let shared = "\(folder)/injector"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        for _ in 0..<2 {
            let result = try await run(BlackBox.binary, ["install", shared], environment: [:])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "\(shared)/secrets-injector\n")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: shared) == ["secrets-injector"])
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(shared)/secrets-injector")
        #expect((attributes[.posixPermissions] as? Int) == 0o755)
        #expect(
            FileManager.default.contents(atPath: "\(shared)/secrets-injector")
                == FileManager.default.contents(atPath: BlackBox.binary))
        let copied = try await run("\(shared)/secrets-injector", ["version"], environment: [:])
        let original = try await run(BlackBox.binary, ["version"], environment: [:])
        #expect(copied.status == 0 && copied.stdout == original.stdout)
        // Beside a portable build (as in the image), that is what is installed.
        let bin = "\(folder)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: BlackBox.binary, toPath: "\(bin)/secrets-injector")
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: "\(bin)/secrets-injector-portable")
        let beside = try await run("\(bin)/secrets-injector", ["install", shared], environment: [:])
        #expect(beside.status == 0, "\(beside.stderr)")
        #expect(
            FileManager.default.contents(atPath: "\(shared)/secrets-injector")
                == FileManager.default.contents(atPath: "/bin/true"), "the portable build is the one installed")
        // A FIFO in the portable build's place: refused at once (exit 5), never waited on.
        try FileManager.default.removeItem(atPath: "\(bin)/secrets-injector-portable")
        #expect(mkfifo("\(bin)/secrets-injector-portable", 0o755) == 0)
        let fifo = try await run("\(bin)/secrets-injector", ["install", shared], environment: [:], timeout: 20)
        #expect(fifo.status == 5 && fifo.stderr.contains("not a regular"), "\(fifo.stderr)")
        let missing = try await run(BlackBox.binary, ["install", "\(folder)/absent"], environment: [:])
        #expect(missing.status == 5)
        #expect(missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
        #expect(missing.stderr.hasPrefix("secrets-injector: error: cannot install into \(folder)/absent"))
    }

    @Test func anAppThatCannotBeFoundExits127() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try await run(
            BlackBox.binary, ["exec", "--config", try configure(), "--", "\(folder)/no-such-app"],
            environment: environment())
        #expect(result.status == 127)
        #expect(result.stderr.contains("secrets-injector: error: cannot run \(folder)/no-such-app"))
        expectNoValue(in: result.stdout + result.stderr)
    }

    @Test func withoutAnAppItIsAUsageErrorBeforeAnyFetch() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for arguments in [["exec"], ["exec", "--"], ["exec", "--once", "--", ""]] {
            // No configuration at all: the usage is checked first.
            let result = try await run(BlackBox.binary, arguments, environment: [:])
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains("exec needs the app to run"), "\(arguments): \(result.stderr)")
        }
    }

    /// A role that cannot read the secret: `init`'s code and one line, and the app never starts.
    @Test(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func theAppIsNotStartedWhenARequiredSecretIsDenied() async throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let peers = try await BlackBox.sharedPeers.value
        let config = """
            {"outputDir": "\(folder)/out", "env": {"file": "app.env", "entries": [
              {"name": "JWT_SECRET", "valueFrom": "pipeline-pulse/prod/jwt:secret"}]}}
            """
        var environment = BlackBox.taskEnvironment(peers, role: "pipeline-pulse-describe-only")
        environment["SECRETS_INJECTOR_CONFIG"] = config
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for once in [false, true] {
            let result = try await run(
                BlackBox.binary,
                ["exec"] + (once ? ["--once"] : []) + ["--", "python3", Self.app, "started", folder],
                environment: environment, timeout: 60)
            #expect(result.status == 3, "\(result.stderr)")
            let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("secrets-injector: error:") }
            #expect(errors.count == 1 && errors[0].contains("AccessDenied"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/started"), "the app never starts")
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/out/app.env"))
            try BlackBox.expectNoSecret(
                of: peers.ready["secrets"] as? [String: String] ?? [:], in: result.stdout + result.stderr)
        }
    }
}
