import Foundation
import TestSupport
import Testing

/// `migrate --mode exec` and `migrate verify --mode exec` as an operator runs them, on Pipeline
/// Pulse's task definition from before the migration (hostile values: a newline, `$`, both quotes,
/// a backslash, `#`, non-ASCII, and the `ZOHO_*` values, which become keys of one JSON secret),
/// against moto: the secrets created, the app's entry point running the real `exec` with the
/// configuration the task definition holds, under the generated policy only, `verify` running
/// `exec` for real, a value that differs, and no value in any output.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct MigrationExecTests {
    static let moved = (MigrationTests.sensitive + ["ZOHO_CLIENT_ID"]).sorted()

    /// `env -0`'s output as names and values.
    static func variables(_ output: String) -> [String: String] {
        var variables: [String: String] = [:]
        for entry in output.split(separator: "\0") {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            variables[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return variables
    }

    @Test func migrateExecRunsTheAppWithItsVariablesAndVerifyRunsExec() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let operator_ = MigrationTests.operatorEnvironment(peers)
        var outputs: [String] = []

        let applied = try await MigrationTests.tool(
            [
                "migrate", "--task-definition", MigrationTests.before, "--prefix", MigrationTests.prefix, "--include",
                "ZOHO_CLIENT_ID", "--mode", "exec", "--image", "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/si:1",
                "--apply",
            ], in: folder, environment: operator_)
        #expect(applied.status == 0, "\(applied.stderr)")
        outputs += [applied.stdout, applied.stderr]
        let out = "\(folder)/migration"
        #expect(
            Set(try FileManager.default.contentsOfDirectory(atPath: out)) == [
                "injector.json", "task-definition.json", "task-role-policy.json", "MIGRATION.md",
            ])

        // The task definition: botocore's validation, the install container, the app's entry point.
        #expect(try await MigrationTests.python(["register", "\(out)/task-definition.json"]) == "valid")
        let definition =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(out)/task-definition.json"))) as! [String: Any]
        let containers = definition["containerDefinitions"] as! [[String: Any]]
        #expect(containers.map { $0["name"] as! String } == ["secrets-injector", MigrationTests.container])
        #expect(containers[0]["command"] as? [String] == ["install", "/injector"])
        #expect(containers[0]["essential"] as? Bool == false)
        let app = containers[1]
        #expect(app["entryPoint"] as? [String] == ["/injector/secrets-injector", "exec", "--"])
        #expect((app["command"] as? [String])?.first == "uvicorn")
        #expect(app["secrets"] == nil)
        #expect(
            (app["dependsOn"] as? [[String: String]]) == [
                ["containerName": "secrets-injector", "condition": "SUCCESS"]
            ])
        let environment = app["environment"] as! [[String: String]]
        #expect(
            environment.map { $0["name"]! } == [
                "APP_ENV", "ZOHO_REDIRECT_URI", "CURRENCY_BASE_URL", "JWT_ALGORITHM", "JWT_EXPIRE_MINUTES",
                "SECRETS_INJECTOR_CONFIG",
            ])
        let inline = try #require(environment.last?["value"])
        #expect(
            (definition["volumes"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == [
                "secrets", "injector",
            ])

        // The app's entry point as ECS runs it: exec, supervising, with the configuration the task
        // definition holds, as the task role under the generated policy only.
        let policy =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(out)/task-role-policy.json"))) as! [String: Any]
        let actions = (policy["Statement"] as! [[String: Any]])[0]["Action"] as! [String]
        #expect(actions == ["secretsmanager:GetSecretValue"])
        try await BlackBox.admin(peers, ["policy", "pipeline-pulse-get-only", actions.joined(separator: ",")])
        let files = "\(folder)/run-secrets"
        let task = BlackBox.taskEnvironment(
            peers, role: "pipeline-pulse-get-only",
            ["SECRETS_INJECTOR_CONFIG": inline, "SECRETS_INJECTOR_OUTPUT_DIR": files, "APP_ENV": "production"])
        let started = try await run(
            BlackBox.binary, ["exec", "--", "/usr/bin/env", "-0"], environment: task, timeout: 60)
        #expect(started.status == 0, "\(started.stderr)")
        outputs += [started.stderr]
        let given = Self.variables(started.stdout)
        let old = try MigrationTests.environment()
        for name in Self.moved { #expect(given[name] == old[name], "\(name)") }
        #expect(given["APP_ENV"] == "production")
        #expect(!given.keys.contains { $0.hasPrefix("SECRETS_INJECTOR_") })
        // exec wrote the configured files too, in the writable folder the task mounts.
        #expect(FileManager.default.fileExists(atPath: "\(files)/secrets.env"))

        // verify --mode exec: exec for real; every variable ok, exit 0.
        let verify = try await MigrationTests.tool(
            [
                "migrate", "verify", "--task-definition", MigrationTests.before, "--config", "\(out)/injector.json",
                "--mode", "exec",
            ], in: folder, environment: operator_.merging(["SECRETS_INJECTOR_CONFIG": #"{"log": "nonsense"}"#]) { $1 })
        #expect(verify.status == 0, "\(verify.stderr) \(verify.stdout)")
        #expect(verify.stdout.split(separator: "\n").sorted() == Self.moved.map { "\($0) ok" }, "\(verify.stdout)")
        outputs += [verify.stdout, verify.stderr]

        // One value that differs by one character: that one differs, exit 1.
        var changed = try String(contentsOfFile: MigrationTests.before, encoding: .utf8)
        changed = changed.replacingOccurrences(
            of: "jwt-sïgning-sécret-4c1d2e3f-日本", with: "jwt-sïgning-sécret-4c1d2e3f-日本!")
        try changed.write(toFile: "\(folder)/changed.json", atomically: true, encoding: .utf8)
        let differs = try await MigrationTests.tool(
            [
                "migrate", "verify", "--task-definition", "changed.json", "--config", "\(out)/injector.json", "--mode",
                "exec",
            ], in: folder, environment: operator_)
        #expect(differs.status == 1, "\(differs.stderr)")
        #expect(
            differs.stdout.split(separator: "\n").sorted()
                == Self.moved.map { $0 == "JWT_SECRET" ? "\($0) differs" : "\($0) ok" }, "\(differs.stdout)")
        outputs += [differs.stdout, differs.stderr]

        // exec refused (no credentials at all): verify ends with exec's code, comparing nothing.
        let denied = try await MigrationTests.tool(
            [
                "migrate", "verify", "--task-definition", MigrationTests.before, "--config", "\(out)/injector.json",
                "--mode", "exec",
            ], in: folder,
            environment: [
                "AWS_REGION": peers.string("region"), "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"),
                "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG0", "AWS_SECRET_ACCESS_KEY": "wrong",
            ])
        #expect(![0, 1].contains(denied.status) && denied.stdout.isEmpty, "\(denied.status) \(denied.stderr)")
        #expect(denied.stderr.contains("exec exited \(denied.status)"), "\(denied.stderr)")
        outputs += [denied.stdout, denied.stderr]

        for file in try FileManager.default.contentsOfDirectory(atPath: out) {
            outputs.append(try String(contentsOfFile: "\(out)/\(file)", encoding: .utf8))
        }
        try MigrationTests.expectNoValue(in: outputs, "migrate --mode exec's outputs")
    }
}
