import Foundation
import TestSupport
import Testing

/// A real database password rotated under a running app: PostgreSQL started here on loopback,
/// moto, the sidecar with a 60 s interval (unless a test says otherwise), an app at 25 queries a
/// second that reconnects on `onChange` and retires each connection after a second
/// (`Fixtures/rotation_app.py`), and the four rotation steps as AWS's functions run them
/// (`scripts/harness/rotate_postgres.py`).
/// Each test prints its figures; docs/rotation.md quotes them.
@Suite(
    .enabled(if: BlackBox.hasPeers && Rotation.hasPostgres, "PostgreSQL, psycopg or moto is not installed"))
struct RotationTests {
    static let database = "pipeline-pulse/prod/database"
    static let interval = 60.0
    static let minRefresh = 5.0
    /// The longest a refresh check's window lasts: minRefreshSeconds and half of it.
    static let window = 1.5 * minRefresh
    /// Room for a loaded CI machine (every suite runs at once) on top of the bounds under test.
    static let slack = 5.0
    /// `exec.settleSeconds` under `exec`.
    static let settle = 2

    /// Alternating users: the app keeps working as the previous user until the round brings the
    /// new one, then reconnects as it; a second rotation then changes the user it no longer uses.
    @Test func alternatingUsersFailNoQuery() async throws {
        let run = try await Rotation.start(strategy: "multi", refreshOnAuthenticationFailure: true)
        defer { run.stop() }
        let first = try await run.rotate()
        let clone = try await run.waitForUser("pp_app_clone", after: first.finish)
        try await Task.sleep(for: .seconds(2))
        let second = try await run.rotate()
        try await Task.sleep(for: .seconds(4))
        let report = try await run.finish()

        #expect(report.failedQueries == 0 && report.failedLogins.isEmpty, "\(report)")
        #expect(report.queriesPerSecond >= 20, "\(report)")
        let newUser = try #require(report.firstLogin["pp_app_clone"], "\(report)")
        let pickup = newUser - first.finish
        #expect(pickup > 0 && pickup <= Self.interval * 1.1 + Self.slack, "new user \(pickup) s after finishSecret")
        #expect(report.signals >= 1)
        #expect(clone.hasPrefix("pp_app_clone"))
        try run.expectNoValueLeaked()
        print(
            "rotation (alternating users): \(report.ok) queries at \(Int(report.queriesPerSecond))/s, "
                + "\(report.failedQueries) failed; the new user's first connection \(format(pickup)) s after "
                + "finishSecret (interval \(Int(Self.interval)) s ±10 %); a second rotation \(format(second.finish - first.finish)) s later: 0 failed"
        )
    }

    /// One user, the app asking `POST /refresh` when its login fails: failed logins only from
    /// setSecret until the first refresh after finishSecret: at most the refresh window later
    /// (minRefreshSeconds plus up to half of it).
    /// The rounds are an hour apart here, so that only a refresh can bring the new version: the
    /// first round falls at a random point of the first interval, and at 60 s it could land in
    /// the refresh window and deliver the version first.
    @Test func singleUserWithRefreshFailsOnlyUntilTheFirstRefreshAfterFinish() async throws {
        let run = try await Rotation.start(strategy: "single", refreshOnAuthenticationFailure: true, interval: 3600)
        defer { run.stop() }
        let steps = try await run.rotate()
        try await Task.sleep(for: .seconds(Self.window + 4))
        let report = try await run.finish()

        let failures = report.failedLogins.map(\.at)
        let first = try #require(failures.min(), "no failed login: the rotation changed nothing the app saw")
        let last = try #require(failures.max())
        #expect(report.failedLogins.allSatisfy { $0.authentication })
        #expect(first >= steps.set, "a login failed \(steps.set - first) s before setSecret")
        let changed = try #require(
            report.refreshes.first { $0.result == "changed" }, "no refresh brought the new version: \(report)")
        #expect(changed.at - steps.finish <= Self.window + Self.slack, "\(changed.at - steps.finish) s")
        #expect(last <= changed.at + 0.5, "a login failed after the refresh that brought the new version")
        #expect(report.refreshes.allSatisfy { $0.status == 200 })
        #expect(report.queriesPerSecond >= 20, "\(report)")
        try run.expectNoValueLeaked()
        print(
            "rotation (single user, POST /refresh on failure): \(failures.count) failed logins "
                + "(\(report.failedQueries) failed of \(report.ok + report.failedQueries) queries) over "
                + "\(format(last - first)) s, from setSecret to \(format(last - steps.finish)) s after finishSecret; "
                + "\(report.refreshes.count) refreshes asked, \(report.refreshes.filter { $0.cached == false }.count) checked"
        )
    }

    /// One user, the app under `exec` reading DATABASE_URL from its environment only (no refresh or
    /// signal code): logins fail from setSecret until the round that brings the new password, the
    /// settle time after it, and the restart; the restarted app fails nothing.
    @Test func singleUserUnderExecIsRestartedWithTheNewPassword() async throws {
        let run = try await Rotation.start(strategy: "single", refreshOnAuthenticationFailure: false, exec: true)
        defer { run.stop() }
        let steps = try await run.rotate()
        _ = try await run.waitForPassword(changedFrom: run.initialPassword, after: steps.finish)
        try await Task.sleep(for: .seconds(Double(Self.settle) + 5))
        let reports = try await run.finishExec()
        try #require(reports.count == 2, "one restart: \(reports)")
        let (before, after) = (reports[0], reports[1])
        #expect(after.failedLogins.isEmpty && after.failedQueries == 0, "the restarted app: \(after)")
        let failures = before.failedLogins.map(\.at)
        let first = try #require(failures.min(), "no failed login: the rotation changed nothing the app saw")
        #expect(first >= steps.set)
        let restartedAt = try #require(after.firstLogin.values.min(), "\(after)")
        // The window between the two apps: SIGTERM, the old app's exit, the new one's start and login.
        let window = restartedAt - before.stopped
        #expect(window > 0 && window <= Self.slack, "restart window \(window) s")
        #expect(after.started - steps.finish <= Self.interval * 1.1 + Double(Self.settle) + Self.slack)
        #expect(before.queriesPerSecond >= 20 && after.queriesPerSecond >= 20, "\(before); \(after)")
        try run.expectNoValueLeaked()
        print(
            "rotation (single user, exec restart, no app code): \(before.failedQueries) failed of "
                + "\(before.ok + before.failedQueries + after.ok) queries, failed logins from setSecret to "
                + "\(format((failures.max() ?? first) - steps.finish)) s after finishSecret; the restart "
                + "\(format(after.started - steps.finish)) s after finishSecret (settle \(Self.settle) s), "
                + "\(format(window)) s from the old app's stop to the new app's first login")
    }

    /// The same rotation without the app's refresh: the window lasts until the sidecar's round.
    @Test func singleUserWithoutRefreshWaitsForTheRound() async throws {
        let run = try await Rotation.start(strategy: "single", refreshOnAuthenticationFailure: false)
        defer { run.stop() }
        let steps = try await run.rotate()
        _ = try await run.waitForPassword(changedFrom: run.initialPassword, after: steps.finish)
        try await Task.sleep(for: .seconds(3))
        let report = try await run.finish()

        let failures = report.failedLogins.map(\.at)
        let first = try #require(failures.min())
        let last = try #require(failures.max())
        #expect(first >= steps.set)
        #expect(last - steps.finish <= Self.interval * 1.1 + Self.slack)
        #expect(report.refreshes.isEmpty)
        try run.expectNoValueLeaked()
        print(
            "rotation (single user, rounds only): \(failures.count) failed logins over \(format(last - first)) s, "
                + "until \(format(last - steps.finish)) s after finishSecret (interval \(Int(Self.interval)) s)")
    }
}

private func format(_ seconds: Double) -> String { String(format: "%.1f", seconds) }

/// What the app wrote when it stopped (`Fixtures/rotation_app.py`).
struct AppReport: Decodable, CustomStringConvertible {
    struct Login: Decodable { var at: Double, user: String, authentication: Bool }
    struct Refresh: Decodable { var at: Double, status: Int, result: String?, cached: Bool? }
    var ok: Int
    var failedQueries: Int
    var failedLogins: [Login]
    var firstLogin: [String: Double]
    var signals: Int
    var refreshes: [Refresh]
    var started: Double
    var stopped: Double

    var queriesPerSecond: Double { Double(ok + failedQueries) / max(stopped - started, 1) }
    var description: String {
        "ok \(ok), failed \(failedQueries), failed logins \(failedLogins.count), users \(firstLogin.keys.sorted()), "
            + "signals \(signals), refreshes \(refreshes.count), \(format(stopped - started)) s"
    }
}

/// One rotation run: PostgreSQL, moto, the sidecar and the app, each stopped by `stop()`.
final class Rotation: @unchecked Sendable {
    static let hasPostgres =
        pythonHasModule("psycopg") && pythonHasModule("dotenv")
        && ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).contains {
            FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/postgres")
        }
    struct Steps { var set: Double, finish: Double }

    let strategy: String
    let peers: PeerProcess
    let postgres: PeerProcess
    let folder: String
    /// The sidecar, or under `exec` the injector that supervises the app.
    let sidecar: Process
    /// The app the test started (nil under `exec`: the injector starts it).
    let app: Process?
    let exec: Bool
    let initialPassword: String
    private var driverOutput = ""
    /// Every password the files held when this run looked, for the leak check.
    private var passwords: Set<String> = []

    var output: String { "\(folder)/out" }

    static func start(
        strategy: String, refreshOnAuthenticationFailure: Bool, exec: Bool = false,
        interval: Double = RotationTests.interval
    ) async throws -> Rotation {
        async let startingPeers = PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        let postgres = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/postgres_server.py"),
            timeout: 90)
        let peers: PeerProcess
        do { peers = try await startingPeers } catch {
            postgres.stop()
            throw error
        }
        do {
            return try await Rotation(
                strategy: strategy, refresh: refreshOnAuthenticationFailure, exec: exec, interval: interval,
                peers: peers, postgres: postgres)
        } catch {
            peers.stop()
            postgres.stop()
            throw error
        }
    }

    private init(
        strategy: String, refresh: Bool, exec: Bool, interval: Double, peers: PeerProcess, postgres: PeerProcess
    ) async throws {
        self.strategy = strategy
        self.exec = exec
        self.peers = peers
        self.postgres = postgres
        initialPassword = postgres.string("password")
        folder = try BlackBox.temporaryFolder()
        let host = postgres.string("host")
        let port = postgres.string("port")
        var credential: [String: Any] = [
            "engine": "postgres", "host": host, "port": Int(port)!, "username": postgres.string("user"),
            "password": initialPassword, "dbname": postgres.string("dbname"),
        ]
        if strategy == "multi" {
            let master: [String: Any] = [
                "engine": "postgres", "host": host, "port": Int(port)!, "username": postgres.string("superuser"),
                "password": postgres.string("superPassword"),
            ]
            credential["masterarn"] = try await BlackBox.admin(
                peers, ["create", "pipeline-pulse/prod/database-master", Self.json(master)]
            ).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try await BlackBox.admin(peers, ["put", RotationTests.database, Self.json(credential)])

        let socket = "\(folder)/out/injector.sock"
        let owner: [String: Any] = getuid() == 0 ? [:] : ["defaults": ["uid": getuid(), "gid": getgid()]]
        let config: [String: Any] = owner.merging([
            "outputDir": "\(folder)/out",
            "secrets": [["id": RotationTests.database, "alias": "database", "file": "database.json"]],
            "templates": [
                [
                    "file": "app.env",
                    "template":
                        "DATABASE_URL=postgresql://{{ database.username | urlencode }}:{{ database.password | urlencode }}@{{ database.host | urlencode }}:{{ database.port | urlencode }}/{{ database.dbname | default(database.database) | urlencode }}\n",
                ]
            ],
            "refresh": [
                "intervalSeconds": Int(interval), "minRefreshSeconds": Int(RotationTests.minRefresh),
            ],
            "server": ["socketPath": socket],
        ]) { $1 }.merging(
            exec
                ? ["exec": ["settleSeconds": RotationTests.settle]]
                : ["onChange": ["signal": ["pidFile": "\(folder)/app.pid"]]]
        ) { $1 }
        try Self.json(config).write(toFile: "\(folder)/injector.json", atomically: true, encoding: .utf8)
        #expect(FileManager.default.createFile(atPath: "\(folder)/sidecar.log", contents: nil))
        let script = Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/rotation_app.py").path
        var environment = BlackBox.taskEnvironment(peers)
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        sidecar = try BlackBox.launch(
            ["\(exec ? "exec" : "run")", "--config", "\(folder)/injector.json"]
                + (exec
                    ? ["--", "python3", script, "-", "\(folder)/app.pid", "\(folder)/report", "--from-environment"]
                    : []),
            environment: environment, log: "\(folder)/sidecar.log")
        let output = "\(folder)/out"
        let ready = await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") }
        guard ready else {
            sidecar.terminate()
            throw RotationError(message: "the sidecar did not get ready: \(Self.read("\(folder)/sidecar.log"))")
        }

        if exec {
            app = nil
        } else {
            let app = Process()
            app.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            app.arguments =
                ["python3", script, "\(output)/app.env", "\(folder)/app.pid", "\(folder)/report.json"]
                + (refresh ? ["--refresh", socket, RotationTests.database] : [])
            #expect(FileManager.default.createFile(atPath: "\(folder)/app.log", contents: nil))
            app.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(folder)/app.log"))
            app.standardError = app.standardOutput
            do { try app.run() } catch {
                sidecar.terminate()
                throw error
            }
            self.app = app
        }
        // The app is up and querying before anything rotates.
        try await Task.sleep(for: .seconds(4))
    }

    /// The four steps, two seconds apart (the function's separate invocations).
    func rotate() async throws -> Steps {
        let result = try await run(
            "/usr/bin/env",
            [
                "python3", Repository.root.appendingPathComponent("scripts/harness/rotate_postgres.py").path, strategy,
                RotationTests.database, "--pause", "2",
            ], environment: peers.adminEnvironment, timeout: 120)
        try #require(result.status == 0, "\(result.stderr)")
        driverOutput += result.stdout + result.stderr
        var steps: [String: [String: Any]] = [:]
        for line in result.stdout.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            steps[object["step"] as! String] = object
        }
        // The password changes within setSecret: from its start. AWSCURRENT moves within finishSecret.
        return Steps(
            set: try #require(steps["setSecret"]?["started"] as? Double),
            finish: try #require(steps["finishSecret"]?["at"] as? Double))
    }

    /// Waits (one interval with its jitter, and slack) until the file holds `user`; its value.
    func waitForUser(_ user: String, after: Double) async throws -> String {
        let deadline = RotationTests.interval * 1.1 + RotationTests.slack + 5
        var found = ""
        let arrived = await SidecarCommandTests.waitFor(deadline) { [self] in
            found = (currentCredential()["username"] as? String) ?? ""
            return found == user
        }
        try #require(
            arrived,
            "\(user) did not arrive within \(deadline) s; the sidecar's log: \(Self.read("\(folder)/sidecar.log"))")
        return found
    }

    func waitForPassword(changedFrom old: String, after: Double) async throws -> String {
        let deadline = RotationTests.interval * 1.1 + RotationTests.slack + 5
        let arrived = await SidecarCommandTests.waitFor(deadline) { [self] in
            (currentCredential()["password"] as? String).map { $0 != old } ?? false
        }
        try #require(
            arrived,
            "the new password did not arrive within \(deadline) s; the sidecar's log: \(Self.read("\(folder)/sidecar.log"))"
        )
        return currentCredential()["password"] as? String ?? ""
    }

    func currentCredential() -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: "\(output)/database.json"),
            let credential = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        if let password = credential["password"] as? String { passwords.insert(password) }
        return credential
    }

    /// Stops the app and reads its report.
    func finish() async throws -> AppReport {
        let app = try #require(app, "under exec: finishExec()")
        app.terminate()
        let stopped = await SidecarCommandTests.waitFor(20) { [app] in !app.isRunning }
        try #require(stopped, "the app did not stop")
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/report.json"))
        return try JSONDecoder().decode(AppReport.self, from: data)
    }

    /// Under `exec`: SIGTERM to the injector (forwarded to the app, whose exit 0 is the injector's),
    /// then each start's report, in the order they started.
    func finishExec() async throws -> [AppReport] {
        sidecar.terminate()
        let stopped = await SidecarCommandTests.waitFor(30) { [sidecar] in !sidecar.isRunning }
        try #require(stopped, "exec did not stop")
        #expect(sidecar.terminationStatus == 0, "the app's exit status: \(Self.read("\(folder)/sidecar.log"))")
        return try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("report.") }
            .map {
                try JSONDecoder().decode(
                    AppReport.self, from: Data(contentsOf: URL(fileURLWithPath: "\(folder)/\($0)")))
            }
            .sorted { $0.started < $1.started }
    }

    /// No password, the first or a rotated one, in the sidecar's log, the app's output and report,
    /// or the driver's output.
    func expectNoValueLeaked() throws {
        let reports = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
            $0.hasPrefix("report")
        }
        let text = (["sidecar.log", "app.log"] + reports).map { Self.read("\(folder)/\($0)") }.joined() + driverOutput
        _ = currentCredential()
        passwords.insert(initialPassword)
        #expect(passwords.count >= 2, "the run saw no rotated password")
        for password in passwords {
            #expect(!password.isEmpty && !text.contains(password))
        }
    }

    func stop() {
        if let app, app.isRunning { app.terminate() }
        if sidecar.isRunning { sidecar.terminate() }
        peers.stop()
        postgres.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }

    private static func json(_ object: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    private static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}

struct RotationError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
