import Foundation
import TestSupport
import Testing

/// `scan` and `migrate` as an operator runs them, on Pipeline Pulse's task definition from before
/// the migration (`examples/migration/pipeline-pulse-before-migration.json`, with hostile values), against
/// moto with signature and action checks: the secrets created, `init` under the generated policy
/// only, the app's files read back by python-dotenv, `verify`, a second `--apply`, botocore's
/// validation of the new task definition, and no value in any output.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct MigrationTests {
    static let before = Repository.root.appendingPathComponent(
        "examples/migration/pipeline-pulse-before-migration.json"
    ).path
    static let checks = Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/migration_checks.py").path
    static let sarifSchema = Repository.root.appendingPathComponent("../shared/testdata/sarif-schema-2.1.0.json")
        .standardized.path
    static let prefix = "pipeline-pulse/migrated/"
    static let container = "pipeline-pulse-backend"
    /// The five sensitive variables, and the values the operator's environment had.
    static let sensitive = [
        "CURRENCY_API_KEY", "DATABASE_URL", "JWT_SECRET", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN",
    ]

    static func environment() throws -> [String: String] {
        let document =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: before))) as! [String: Any]
        let containers = document["containerDefinitions"] as! [[String: Any]]
        let entries = containers[0]["environment"] as! [[String: String]]
        return Dictionary(uniqueKeysWithValues: entries.map { ($0["name"]!, $0["value"]!) })
    }

    /// Every moved value, and the database password alone (decoded), which must appear nowhere.
    static func values() throws -> [String] {
        let environment = try environment()
        return sensitive.map { environment[$0]! } + [
            "Xq7#p@ss:w/rd?&=+ %ü", "zoho\"client'secret", "cur-live-9d8e7f6a5b4c",
        ]
    }

    static func python(_ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        let result = try await run(
            "/usr/bin/env", ["python3", checks] + arguments,
            environment: environment.merging(["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]) {
                $1
            })
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func tool(_ arguments: [String], in folder: String, environment: [String: String] = [:]) async throws
        -> CommandResult
    {
        try await run(
            "/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", folder, BlackBox.binary] + arguments,
            environment: ["HOME": folder, "PATH": "/usr/bin:/bin"].merging(environment) { $1 }, timeout: 60)
    }

    /// Every output must be free of every value.
    static func expectNoValue(in texts: [String], _ label: String) throws {
        for value in try values() {
            for text in texts {
                #expect(!text.contains(value), "a value leaked into \(label)")
            }
        }
    }

    @Test func scanFindsExactlyTheSensitiveOnesInEveryFormat() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let text = try await Self.tool(["scan", Self.before], in: folder)
        #expect(text.status == 1, "\(text.stderr)")
        let json = try await Self.tool(["scan", "--format", "json", Self.before], in: folder)
        #expect(json.status == 1)
        let findings =
            try (JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any])["findings"]
            as! [[String: Any]]
        #expect(findings.map { $0["name"] as! String }.sorted() == Self.sensitive)
        let environment = try Self.environment()
        let source = try String(contentsOfFile: Self.before, encoding: .utf8).components(separatedBy: "\n")
        for finding in findings {
            let name = finding["name"] as! String
            #expect(finding["container"] as? String == Self.container)
            // The line of the value, and a keyed hash of its bytes: not their SHA-256 (finding 6).
            let line = finding["line"] as! Int
            #expect(source[line - 1].contains("\"value\""), "\(name) line \(line)")
            #expect(source[line - 2].contains("\"\(name)\""), "\(name) line \(line)")
            let hash = try await run(
                "/usr/bin/env",
                ["python3", "-c", "import hashlib,sys;print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"],
                environment: ["PATH": "/usr/bin:/bin"], input: Data(environment[name]!.utf8))
            let hashed = try #require(finding["hashedSecret"] as? String)
            #expect(hashed.count == 64 && hashed != hash.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(findings.first { $0["name"] as? String == "DATABASE_URL" }?["rule"] as? String == "url-password")

        // SARIF as CI makes it, at the repository's root: valid against the published OASIS schema
        // and by GitHub code scanning's rules (migration_checks.py: help text, relative uris under
        // a declared base, partialFingerprints, one to ten located results under their rules).
        let relative = "examples/migration/pipeline-pulse-before-migration.json"
        let sarif = try await Self.tool(["scan", "--format", "sarif", relative], in: Repository.root.path)
        #expect(sarif.status == 1)
        try sarif.stdout.write(toFile: "\(folder)/scan.sarif", atomically: true, encoding: .utf8)
        #expect(try await Self.python(["sarif", "\(folder)/scan.sarif", Self.sarifSchema]) == "valid")
        // GitHub matches alerts across runs by ruleId and partialFingerprints: a second run (with a
        // hash key of its own) writes the same report.
        let again = try await Self.tool(["scan", "--format", "sarif", relative], in: Repository.root.path)
        #expect(again.stdout == sarif.stdout)
        let run0 =
            ((try JSONSerialization.jsonObject(with: Data(sarif.stdout.utf8)) as! [String: Any])["runs"]
            as! [[String: Any]])[0]
        let results = run0["results"] as! [[String: Any]]
        #expect(results.count == 5)
        for result in results {
            #expect(result["level"] as? String == "error")
            #expect((result["partialFingerprints"] as? [String: String])?.isEmpty == false)
            let location = ((result["locations"] as! [[String: Any]])[0]["physicalLocation"] as! [String: Any])
            let uri = (location["artifactLocation"] as! [String: Any])["uri"] as! String
            #expect(!uri.hasPrefix("/") && uri.hasSuffix("examples/migration/pipeline-pulse-before-migration.json"))
            #expect(
                uri == relative
                    && (location["artifactLocation"] as! [String: Any])["uriBaseId"] as? String == "%SRCROOT%")
        }
        try Self.expectNoValue(in: [text.stdout, text.stderr, json.stdout, sarif.stdout], "scan's output")
    }

    @Test func scanReadsComposeDotenvDockerfilesAndCloudFormationWithTheirLines() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let files = [
            "docker-compose.yml": """
            services:
              api:
                environment:
                  DB_PASSWORD: "hunter2-but-longer"
                  PLAIN: hello
                  FROM_SHELL: ${DB_PASSWORD}
                env_file: [app.env]
              worker:
                environment:
                  - STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc
                  - API_TOKEN=$TOKEN_FROM_HOST
                  - EMPTY_SECRET=

            """,
            "app.env":
                "# comment\nexport JWT_SECRET='abc def'\nLOG_LEVEL=info\nGITHUB=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\n",
            "Dockerfile":
                "FROM debian\nARG NPM_TOKEN=npm_abcdefghijklmnop\nENV APP_HOME=/app \\\n    SESSION_SECRET=\"s3cr3t value\"\n",
            "stack.yaml": """
            AWSTemplateFormatVersion: "2010-09-09"
            Resources:
              Task:
                Type: AWS::ECS::TaskDefinition
                Properties:
                  ContainerDefinitions:
                    - Name: app
                      Environment:
                        - Name: DB_PASSWORD
                          Value: !Ref DbPassword
                        - Name: AWS_ACCESS_KEY_ID
                          Value: AKIAIOSFODNN7EXAMPLF
                        - Name: ADMIN_PASSWORD
                          Value: "{{resolve:secretsmanager:admin:SecretString:password}}"
                        - Name: PLACEHOLDER_PASSWORD
                          Value: <your password>

            """,
        ]
        for (name, text) in files { try text.write(toFile: "\(folder)/\(name)", atomically: true, encoding: .utf8) }
        try FileManager.default.createDirectory(atPath: "\(folder)/node_modules", withIntermediateDirectories: true)
        try "PASSWORD=hidden-in-node-modules\n".write(
            toFile: "\(folder)/node_modules/.env", atomically: true, encoding: .utf8)
        let result = try await Self.tool(["scan", "--format", "json"], in: folder)
        #expect(result.status == 1, "\(result.stderr)")
        let findings =
            try (JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any])["findings"]
            as! [[String: Any]]
        let seen = findings.map {
            "\($0["file"]!):\($0["line"]!):\($0["container"] is NSNull ? "-" : $0["container"]!):\($0["name"]!):\($0["rule"]!)"
        }
        #expect(
            seen == [
                "Dockerfile:2:-:NPM_TOKEN:sensitive-name",
                "Dockerfile:4:-:SESSION_SECRET:sensitive-name",
                "app.env:2:api:JWT_SECRET:sensitive-name",
                "app.env:4:api:GITHUB:github-token",
                "docker-compose.yml:4:api:DB_PASSWORD:sensitive-name",
                "docker-compose.yml:10:worker:STRIPE_KEY:stripe-key",
                "stack.yaml:12:app:AWS_ACCESS_KEY_ID:aws-access-key-id",
            ], "\(seen)")

        // A baseline keeps known findings quiet; a new one is reported.
        let update = try await Self.tool(
            ["scan", "--baseline", ".secrets-baseline.json", "--update-baseline"], in: folder)
        #expect(update.status == 0, "\(update.stderr)")
        #expect(try await Self.tool(["scan", "--baseline", ".secrets-baseline.json"], in: folder).status == 0)
        try "NEW_API_KEY=a-brand-new-key-value\n".write(toFile: "\(folder)/new.env", atomically: true, encoding: .utf8)
        let again = try await Self.tool(["scan", "--baseline", ".secrets-baseline.json"], in: folder)
        #expect(again.status == 1)
        #expect(again.stdout.hasPrefix("new.env:1: NEW_API_KEY: sensitive-name\n"), "\(again.stdout)")
        let baseline = try String(contentsOfFile: "\(folder)/.secrets-baseline.json", encoding: .utf8)
        for value in [
            "hunter2-but-longer", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "abc def", "s3cr3t value", "AKIAIOSFODNN7EXAMPLF",
        ] {
            #expect(!baseline.contains(value) && !result.stdout.contains(value) && !again.stdout.contains(value))
        }

        // A file that does not parse: one note naming the file and its line; exit 2 only with --strict.
        try "services:\n  api:\n    environment: [\n".write(
            toFile: "\(folder)/broken.yml", atomically: true, encoding: .utf8)
        let broken = try await Self.tool(["scan", "broken.yml"], in: folder)
        #expect(broken.status == 0)
        #expect(
            broken.stderr.hasPrefix("secrets-injector: note: broken.yml: line ")
                && broken.stderr.split(separator: "\n").count == 1, "\(broken.stderr)")
        #expect(try await Self.tool(["scan", "--strict", "broken.yml"], in: folder).status == 2)
        let unknown = try await Self.tool(["scan", "--format", "xml"], in: folder)
        #expect(unknown.status == 2)

        // A file larger than any configuration: a note, named or walked; exit 2 only with --strict.
        try FileManager.default.removeItem(atPath: "\(folder)/broken.yml")
        #expect(FileManager.default.createFile(atPath: "\(folder)/huge.json", contents: nil))
        let huge = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(folder)/huge.json"))
        try huge.truncate(atOffset: 17 << 20)
        try huge.close()
        let named = try await Self.tool(["scan", "huge.json"], in: folder)
        #expect(named.status == 0 && named.stderr.contains("huge.json: larger than 16 MiB"), "\(named.stderr)")
        #expect(try await Self.tool(["scan", "--strict", "huge.json"], in: folder).status == 2)
        let walked = try await Self.tool(["scan", "--baseline", ".secrets-baseline.json"], in: folder)
        #expect(
            walked.status == 1 && walked.stderr.contains("huge.json: larger than 16 MiB")
                && walked.stderr.contains("skipped"))
    }

    /// The operator's own credentials (the admin's keys), as `migrate --apply` and `verify` use them.
    static func operatorEnvironment(_ peers: PeerProcess) -> [String: String] {
        [
            "AWS_ACCESS_KEY_ID": peers.string("adminAccessKeyId"),
            "AWS_SECRET_ACCESS_KEY": peers.string("adminSecretAccessKey"),
            "AWS_REGION": peers.string("region"),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"),
        ]
    }

    @Test func migrateAppliesInitReadsBackAndVerifyAgrees() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let operator_ = Self.operatorEnvironment(peers)
        let migrate = [
            "migrate", "--task-definition", Self.before, "--prefix", Self.prefix, "--include", "ZOHO_CLIENT_ID",
        ]
        var outputs: [String] = []

        // Offline first: no network call at all (no endpoint, no credentials given).
        let offline = try await Self.tool(migrate, in: folder)
        #expect(offline.status == 0, "\(offline.stderr)")
        outputs += [offline.stdout, offline.stderr]

        let applied = try await Self.tool(
            migrate + ["--apply", "--tag", "team=pulse"], in: folder, environment: operator_)
        #expect(applied.status == 0, "\(applied.stderr)")
        outputs += [applied.stdout, applied.stderr]
        let names = ["currency-api-key", "database", "jwt-secret", "zoho"].map { Self.prefix + $0 }
        for name in names { #expect(applied.stdout.contains("\(name): created"), "\(applied.stdout)") }
        let versions = try await Self.python(["versions"] + names, environment: operator_)
        let described = try JSONSerialization.jsonObject(with: Data(versions.utf8)) as! [String: [String: Any]]
        for name in names {
            #expect(described[name]?["versions"] as? Int == 1)
            #expect((described[name]?["description"] as? String)?.contains("pipeline-pulse") == true)
            #expect(
                (described[name]?["tags"] as? [String: String])
                    == ["team": "pulse", "secrets-injector:family": "pipeline-pulse"])
        }

        // The policy names exactly the created secrets' ARNs; the role gets its actions, nothing more.
        let out = "\(folder)/migration"
        let policy =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(out)/task-role-policy.json"))) as! [String: Any]
        let statement = (policy["Statement"] as! [[String: Any]])[0]
        let resources = statement["Resource"] as! [String]
        #expect(
            resources.count == 4
                && resources.allSatisfy {
                    $0.hasPrefix("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:\(Self.prefix)")
                        && !$0.hasSuffix("??????")
                })
        let actions = statement["Action"] as! [String]
        #expect(actions == ["secretsmanager:GetSecretValue"])
        try await BlackBox.admin(peers, ["policy", "pipeline-pulse-get-only", actions.joined(separator: ",")])

        // init with the generated configuration, as the task role with that policy only.
        let secrets = "\(folder)/run-secrets"
        var task = BlackBox.taskEnvironment(
            peers, role: "pipeline-pulse-get-only", ["SECRETS_INJECTOR_OUTPUT_DIR": secrets])
        if getuid() != 0 { task["SECRETS_INJECTOR_CONFIG"] = #"{"defaults": {"gid": \#(getgid())}}"# }
        let initialized = try await run(
            BlackBox.binary, ["init", "--config", "\(out)/injector.json"], environment: task, timeout: 60)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        outputs += [initialized.stdout, initialized.stderr]
        let readBack = try await Self.python([
            "dotenv", Self.before, Self.container, "\(secrets)/secrets.env", "\(secrets)/database.env",
        ])
        let verdict = try JSONSerialization.jsonObject(with: Data(readBack.utf8)) as! [String: [String]]
        #expect(verdict["equal"] == (Self.sensitive + ["ZOHO_CLIENT_ID"]).sorted(), "\(readBack)")
        #expect(verdict["differs"] == [] && verdict["unknown"] == [])

        // verify: every variable ok, exit 0.
        let verify = try await Self.tool(
            ["migrate", "verify", "--task-definition", Self.before, "--config", "\(out)/injector.json"], in: folder,
            environment: operator_)
        #expect(verify.status == 0, "\(verify.stderr) \(verify.stdout)")
        #expect(
            verify.stdout.split(separator: "\n").sorted()
                == (Self.sensitive + ["ZOHO_CLIENT_ID"]).sorted().map { "\($0) ok" }, "\(verify.stdout)")
        outputs += [verify.stdout, verify.stderr]

        // A second --apply creates no version.
        let second = try await Self.tool(
            migrate + ["--apply", "--tag", "team=pulse"], in: folder, environment: operator_)
        #expect(second.status == 0, "\(second.stderr)")
        for name in names { #expect(second.stdout.contains("\(name): unchanged")) }
        let after =
            try JSONSerialization.jsonObject(
                with: Data(try await Self.python(["versions"] + names, environment: operator_).utf8))
            as! [String: [String: Any]]
        for name in names { #expect(after[name]?["versions"] as? Int == 1) }
        outputs += [second.stdout, second.stderr]

        // Another value is refused (exit 1, naming the secret) unless --overwrite.
        var changed = try String(contentsOfFile: Self.before, encoding: .utf8)
        changed = changed.replacingOccurrences(
            of: "jwt-sïgning-sécret-4c1d2e3f-日本", with: "a-new-jwt-signing-secret-value")
        try changed.write(toFile: "\(folder)/changed.json", atomically: true, encoding: .utf8)
        let changedMigrate = [
            "migrate", "--task-definition", "changed.json", "--prefix", Self.prefix, "--include", "ZOHO_CLIENT_ID",
            "--out", "changed", "--apply",
        ]
        let refused = try await Self.tool(changedMigrate, in: folder, environment: operator_)
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("\(Self.prefix)jwt-secret") && refused.stderr.contains("--overwrite"),
            "\(refused.stderr)")
        let overwritten = try await Self.tool(changedMigrate + ["--overwrite"], in: folder, environment: operator_)
        #expect(overwritten.status == 0, "\(overwritten.stderr)")
        #expect(overwritten.stdout.contains("\(Self.prefix)jwt-secret: updated"))
        outputs += [refused.stdout, refused.stderr, overwritten.stdout, overwritten.stderr]

        // The new task definition: botocore's RegisterTaskDefinition validation, no value, and scan passes it.
        #expect(try await Self.python(["register", "\(out)/task-definition.json"]) == "valid")
        let rescan = try await Self.tool(["scan", "migration"], in: folder)
        #expect(rescan.status == 0, "\(rescan.stdout)")
        outputs += [rescan.stdout, rescan.stderr]
        let definition =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(out)/task-definition.json"))) as! [String: Any]
        let containers = definition["containerDefinitions"] as! [[String: Any]]
        #expect(containers.map { $0["name"] as! String } == ["secrets-injector", Self.container])
        #expect(containers[0]["essential"] as? Bool == false)
        #expect(
            (containers[1]["dependsOn"] as? [[String: String]]) == [
                ["containerName": "secrets-injector", "condition": "SUCCESS"]
            ])
        let kept = (containers[1]["environment"] as! [[String: String]]).map { $0["name"]! }
        #expect(kept == ["APP_ENV", "ZOHO_REDIRECT_URI", "CURRENCY_BASE_URL", "JWT_ALGORITHM", "JWT_EXPIRE_MINUTES"])
        #expect(definition["taskRoleArn"] as? String == "arn:aws:iam::123456789012:role/pipeline-pulse-task")

        // No value anywhere: every file migrate wrote, and every output of every command.
        for directory in [out, "\(folder)/changed"] {
            for file in try FileManager.default.contentsOfDirectory(atPath: directory) {
                outputs.append(try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8))
            }
        }
        try Self.expectNoValue(in: outputs, "migrate's outputs")
    }

    @Test func badInputGetsOneLineAndExitTwo() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cases: [(String, String, String)] = [
            ("not-a-task.json", #"{"services": {}}"#, "not an ECS task definition"),
            ("twice.json", #"{"containerDefinitions": [{"name": "a"}, {"name": "a"}]}"#, "named twice"),
            (
                "bad-name.json",
                #"{"containerDefinitions": [{"name": "a", "environment": [{"name": "DB-PASSWORD", "value": "x"}]}]}"#,
                "is not an environment variable name"
            ),
            ("broken.json", "{\n  \"family\": \"x\",\n", "line 3"),
        ]
        for (file, text, expected) in cases {
            try text.write(toFile: "\(folder)/\(file)", atomically: true, encoding: .utf8)
            let result = try await Self.tool(["migrate", "--task-definition", file, "--prefix", "p/"], in: folder)
            #expect(result.status == 2, "\(file): \(result)")
            #expect(
                result.stderr.contains(expected) && result.stderr.split(separator: "\n").count == 1,
                "\(file): \(result.stderr)")
        }
        try #"{"containerDefinitions": [{"name": "a", "environment": [{"name": "LOG_LEVEL", "value": "info"}]}]}"#
            .write(toFile: "\(folder)/plain.json", atomically: true, encoding: .utf8)
        let nothing = try await Self.tool(["migrate", "--task-definition", "plain.json", "--prefix", "p/"], in: folder)
        #expect(nothing.status == 0 && nothing.stdout.contains("nothing to move"), "\(nothing)")
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/migration"))

        // A FIFO is refused at once, never waited on: as the task definition, and named to scan.
        #expect(mkfifo("\(folder)/fifo.json", 0o600) == 0)
        let fifoMigrate = try await Self.tool(
            ["migrate", "--task-definition", "fifo.json", "--prefix", "p/"], in: folder)
        #expect(
            fifoMigrate.status == 2 && fifoMigrate.stderr.contains("fifo.json is not a regular file"), "\(fifoMigrate)")
        let fifoScan = try await Self.tool(["scan", "fifo.json"], in: folder)
        #expect(fifoScan.status == 2 && fifoScan.stderr.contains("fifo.json: is not a regular file"), "\(fifoScan)")

        // The daemon alone (as in the runtime image): one line saying where the tools are, exit 2.
        try FileManager.default.copyItem(atPath: BlackBox.binary, toPath: "\(folder)/secrets-injector")
        let alone = try await run("\(folder)/secrets-injector", ["scan", "."], environment: ["PATH": "/usr/bin:/bin"])
        #expect(alone.status == 2)
        #expect(
            alone.stderr.hasPrefix("secrets-injector: error: scan is in secrets-injector-tools")
                && alone.stderr.split(separator: "\n").count == 1, "\(alone.stderr)")
    }
}
