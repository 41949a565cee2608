import Foundation
import TestSupport
import Testing

/// What the black-box suites share: the binary, one set of AWS peers, and the output checks.
enum BlackBox {
    static let binary: String =
        ProcessInfo.processInfo.environment["SECRETS_INJECTOR_BIN"]
        ?? Repository.root.appendingPathComponent(".build/debug/secrets-injector").path
    static let hasPeers = pythonHasModule("moto") && pythonHasModule("boto3")

    /// One set of peers for every suite (the tests only read, or write their own outputs); it
    /// stops when this test process ends and closes its standard input.
    static let sharedPeers = Task {
        try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
    }

    /// The task's environment: only the credential URI, its token, the region and the endpoint.
    static func taskEnvironment(
        _ peers: PeerProcess, role: String = "pipeline-pulse-task", tokenFromFile: Bool = false,
        _ extra: [String: String] = [:]
    ) -> [String: String] {
        var environment = [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": peers.string("credentials") + role,
            "AWS_REGION": peers.string("region"),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"),
        ]
        if tokenFromFile {
            environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = peers.string("tokenFile")
        } else {
            environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = peers.string("token")
        }
        return environment.merging(extra) { $1 }
    }

    /// `init` with `examples/pipeline-pulse.json` into `output`, as a task runs it; not as root, the
    /// files keep our own group (the example's group 1000 is root's to give).
    static func initExample(
        _ peers: PeerProcess, output: String, _ extra: [String: String] = [:]
    ) async throws -> CommandResult {
        var environment = taskEnvironment(peers, ["SECRETS_INJECTOR_OUTPUT_DIR": output])
        if getuid() != 0 {
            environment["SECRETS_INJECTOR_CONFIG"] = #"{"defaults": {"gid": \#(getgid())}}"#
        }
        return try await run(
            binary, ["init", "--config", Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path],
            environment: environment.merging(extra) { $1 }, timeout: 60)
    }

    /// Every secret value, and every JSON field value longer than four characters, must be absent from `text`.
    static func expectNoSecret(
        of secrets: [String: String], in text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        for (name, value) in secrets {
            #expect(!text.contains(value), "\(name) leaked", sourceLocation: sourceLocation)
            guard let object = try JSONSerialization.jsonObject(with: Data(value.utf8)) as? [String: Any] else {
                continue
            }
            for (key, field) in object where "\(field)".count > 4 {
                #expect(!text.contains("\(field)"), "\(name).\(key) leaked", sourceLocation: sourceLocation)
            }
        }
    }

    /// Starts the binary with exactly `environment`; its output goes to `log` (or nowhere).
    static func launch(_ arguments: [String], environment: [String: String], log: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment
        if let log {
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardError = process.standardOutput
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    /// The `password` in the database secret the sidecar on `socket` answers with, if any.
    static func answeredPassword(socket: String) async throws -> String? {
        let answer = try await SidecarCommandTests.curl([
            "--unix-socket", socket, "http://localhost/secretsmanager/get?secretId=pipeline-pulse/prod/database",
        ])
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
            let string = object["SecretString"] as? String,
            let value = try? JSONSerialization.jsonObject(with: Data(string.utf8)) as? [String: Any]
        else { return nil }
        return value["password"] as? String
    }

    /// `scripts/harness/aws_admin.py` with the peers' admin keys (a policy, a new version…); its
    /// standard output.
    @discardableResult
    static func admin(_ peers: PeerProcess, _ arguments: [String]) async throws -> String {
        try await peers.admin(arguments)
    }

    /// A fresh folder under the system's temporary folder.
    static func temporaryFolder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("blackbox-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
