import Foundation

/// Helpers shared by the test targets: finding the repository, running peers and commands.
public enum Repository {
    /// The checkout's top folder.
    public static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}

/// A helper process (a Python peer: test server, moto harness) that prints one JSON line when it
/// is ready, runs until its standard input closes, and is stopped by the test that started it.
public final class PeerProcess: @unchecked Sendable {
    public let ready: [String: Any]
    private let process: Process
    private let stdin: Pipe

    /// Starts `python3 script arguments…` and waits (at most `timeout`) for its ready line. The
    /// blocking read runs on a thread of its own, never on Swift's cooperative pool.
    public static func start(
        python script: URL, arguments: [String] = [], environment: [String: String]? = nil, timeout: TimeInterval = 60
    ) async throws -> PeerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        if let environment { process.environment = environment }
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        let line: Data = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var line = Data()
                let handle = stdout.fileHandleForReading
                while true {
                    let byte = handle.readData(ofLength: 1)
                    if byte.isEmpty || byte == Data("\n".utf8) { break }
                    line.append(byte)
                }
                continuation.resume(returning: line)
            }
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(timeout)
                while process.isRunning, Date() < deadline { usleep(50_000) }
                if process.isRunning, Date() >= deadline { process.terminate() }  // ends the read above
            }
        }
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            if process.isRunning { process.terminate() }
            throw PeerError(
                message: "\(script.lastPathComponent) did not get ready: \(String(decoding: line, as: UTF8.self))")
        }
        return PeerProcess(process: process, stdin: stdin, ready: object)
    }

    private init(process: Process, stdin: Pipe, ready: [String: Any]) {
        self.process = process
        self.stdin = stdin
        self.ready = ready
    }

    public func string(_ key: String) -> String { ready[key] as? String ?? "\(ready[key] ?? "")" }

    /// The environment `scripts/harness` scripts read to act as the AWS harness's admin user.
    public var adminEnvironment: [String: String] {
        [
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": string("endpoint"),
            "ADMIN_ACCESS_KEY_ID": string("adminAccessKeyId"),
            "ADMIN_SECRET_ACCESS_KEY": string("adminSecretAccessKey"),
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
    }

    /// `scripts/harness/aws_admin.py ARGUMENTS…` against these peers (`aws_peers.py`): what an
    /// operator does to the secrets and parameters; its standard output.
    @discardableResult
    public func admin(_ arguments: [String]) async throws -> String {
        let result = try await run(
            "/usr/bin/env",
            ["python3", Repository.root.appendingPathComponent("scripts/harness/aws_admin.py").path] + arguments,
            environment: adminEnvironment)
        guard result.status == 0 else {
            throw PeerError(message: "aws_admin.py \(arguments.first ?? ""): \(result.stderr)")
        }
        return result.stdout
    }

    /// Closes the peer's standard input, so that it stops what it started and ends; a thread of
    /// its own kills it if it has not after 10 s. Returns at once: callers are often on Swift's
    /// cooperative pool (a `defer` in an async test), which a wait here would block.
    public func stop() {
        guard process.isRunning else { return }
        try? stdin.fileHandleForWriting.close()
        let process = self.process
        Thread.detachNewThread {
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { process.terminate() }
        }
    }

    deinit { stop() }
}

public struct PeerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// What a finished command printed and how it ended.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var duration: TimeInterval
}

/// Runs a command to completion on a thread of its own, so the waiting never blocks Swift's
/// cooperative pool.
public func run(
    _ executable: String, _ arguments: [String], environment: [String: String], input: Data? = nil,
    timeout: TimeInterval = 60
) async throws -> CommandResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(
                with: Result {
                    try runCommand(executable, arguments, environment: environment, input: input, timeout: timeout)
                })
        }
    }
}

/// Runs a command to completion (killing it after `timeout`) with exactly `environment`.
public func runCommand(
    _ executable: String, _ arguments: [String], environment: [String: String], input: Data? = nil,
    timeout: TimeInterval = 60
) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString).out")
    let err = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let inputFile = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID().uuidString).in")
    _ = FileManager.default.createFile(atPath: inputFile.path, contents: input ?? Data())
    defer {
        try? FileManager.default.removeItem(at: out)
        try? FileManager.default.removeItem(at: err)
        try? FileManager.default.removeItem(at: inputFile)
    }
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = try FileHandle(forReadingFrom: inputFile)
    let start = Date()
    try process.run()
    let deadline = start.addingTimeInterval(timeout)
    while process.isRunning, Date() < deadline { usleep(10_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        throw PeerError(message: "\(executable) \(arguments) did not finish in \(timeout) s")
    }
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus,
        stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
        duration: Date().timeIntervalSince(start))
}

/// True when python3 can import `module`, so tests that need a peer can say why they skip. It asks
/// `importlib.util.find_spec` (the module is found, not imported: moto alone takes a second or
/// more to import) and remembers the answer. Test traits call this on Swift's cooperative pool,
/// where every blocked second stalls the tests running beside them.
public func pythonHasModule(_ module: String) -> Bool {
    if let known = pythonModules.withLock({ $0[module] }) { return known }
    let found =
        (try? runCommand(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(sys.argv[1]) else 1)", module,
            ], environment: ProcessInfo.processInfo.environment, timeout: 30
        ).status) == 0
    pythonModules.withLock { $0[module] = found }
    return found
}

private let pythonModules = NSLockedDictionary()

/// A dictionary behind a lock (Foundation's, as the rest of this file uses).
private final class NSLockedDictionary: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: Bool] = [:]
    func withLock<T>(_ body: (inout [String: Bool]) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&values)
    }
}

/// A small seeded generator, so that a failing seed replays exactly.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
