import Foundation
import TestSupport
import Testing

/// What the `migrate` findings share: their own AWS peers (they create, overwrite and attack
/// secrets), an operator with the admin keys, a small task definition, and the tools run as an
/// operator runs them.
struct MigrateFixture {
    let peers: PeerProcess
    let folder: String

    static func start() async throws -> MigrateFixture {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        return MigrateFixture(peers: peers, folder: try BlackBox.temporaryFolder())
    }

    func stop() {
        peers.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The operator's environment: the admin keys, the region and the emulator.
    var operator_: [String: String] {
        [
            "AWS_ACCESS_KEY_ID": peers.string("adminAccessKeyId"),
            "AWS_SECRET_ACCESS_KEY": peers.string("adminSecretAccessKey"),
            "AWS_REGION": peers.string("region"),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"),
        ]
    }

    /// A task definition of one container `app` that runs `command`, with `environment`, written to
    /// `file` in the folder.
    func taskDefinition(
        _ file: String, environment: [(String, String)], command: [String] = ["/usr/bin/env"],
        roles: Bool = true
    ) throws {
        var definition: [String: Any] = [
            "family": "shop",
            "containerDefinitions": [
                [
                    "name": "app", "image": "shop:1", "essential": true, "command": command,
                    "environment": environment.map { ["name": $0.0, "value": $0.1] },
                ]
            ],
        ]
        if roles { definition["taskRoleArn"] = "arn:aws:iam::123456789012:role/shop-task" }
        try JSONSerialization.data(withJSONObject: definition, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: "\(folder)/\(file)"))
    }

    /// `secrets-injector ARGUMENTS` in the folder (the daemon runs the tools beside it).
    func tool(_ arguments: [String], environment: [String: String] = [:]) async throws -> CommandResult {
        try await run(
            "/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", folder, BlackBox.binary] + arguments,
            environment: ["HOME": folder, "PATH": "/usr/bin:/bin"].merging(environment) { $1 }, timeout: 60)
    }

    /// `init` with `config` into `output`, as the harness's task role allowed `GetSecretValue` only.
    func initialize(config: String, output: String) async throws -> CommandResult {
        _ = try await BlackBox.admin(peers, ["policy", "pipeline-pulse-task", "secretsmanager:GetSecretValue"])
        var task = BlackBox.taskEnvironment(peers, ["SECRETS_INJECTOR_OUTPUT_DIR": output])
        if getuid() != 0 { task["SECRETS_INJECTOR_CONFIG"] = #"{"defaults": {"gid": \#(getgid())}}"# }
        return try await run(BlackBox.binary, ["init", "--config", config], environment: task, timeout: 60)
    }

    /// A secret's current value, read back as the operator (`secrets-injector get`).
    func secretValue(_ name: String) async throws -> String {
        let result = try await run(BlackBox.binary, ["get", name], environment: operator_, timeout: 30)
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout.hasSuffix("\n") ? String(result.stdout.dropLast()) : result.stdout
    }

    func json(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
