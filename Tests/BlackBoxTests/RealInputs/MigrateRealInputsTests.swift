import Foundation
import TestSupport
import Testing

/// `migrate` on task definitions as teams write them: several containers with secrets, official
/// database images, regions and ARNs from the task definition, console exports, CloudFormation
/// given by mistake, and the messages a first run shows.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct MigrateRealInputsTests {
    static let image = "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/secrets-injector:1"
    static let checks = Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/migration_checks.py").path

    static func python(_ arguments: [String]) async throws -> String {
        let result = try await run(
            "/usr/bin/env", ["python3", checks] + arguments,
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The old task definition's containers: name → (image, environment).
    static func containers(_ path: String) throws -> [String: (image: String, environment: [String: String])] {
        var document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        if let wrapped = (document as? [String: Any])?["taskDefinition"] { document = wrapped }
        var out: [String: (String, [String: String])] = [:]
        for container in (document as! [String: Any])["containerDefinitions"] as! [[String: Any]] {
            let environment = (container["environment"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
                $0[$1["name"] as! String] = $1["value"] as? String ?? ""
            }
            out[container["name"] as! String] = (container["image"] as? String ?? "", environment)
        }
        return out
    }

    /// The whole journey on one task definition: `--apply`, botocore's validation, `init` under a
    /// `GetSecretValue`-only role, every app's wrapped command and `NAME_FILE` read back against the
    /// old values, `verify`, a second `--apply` that changes nothing, `migrate` on its own output
    /// finding nothing, and no value in anything `migrate` wrote or said. Returns the new task
    /// definition's containers.
    @discardableResult
    static func endToEnd(_ fixture: MigrateFixture, _ file: String, prefix: String) async throws -> [[String: Any]] {
        let migrate = ["migrate", "--task-definition", file, "--prefix", prefix, "--image", image]
        let applied = try await fixture.tool(migrate + ["--apply"], environment: fixture.operator_)
        try #require(applied.status == 0, "\(file): \(applied.stderr)")
        let out = "\(fixture.folder)/migration"
        #expect(try await python(["register", "\(out)/task-definition.json"]) == "valid", "\(file)")

        let output = "\(fixture.folder)/run-secrets-\(UUID().uuidString.prefix(8))"
        let initialized = try await fixture.initialize(config: "\(out)/injector.json", output: output)
        try #require(initialized.status == 0, "\(file): \(initialized.stderr)")

        let old = try containers("\(fixture.folder)/\(file)")
        let new = try fixture.json("\(out)/task-definition.json") as! [String: Any]
        let newContainers = new["containerDefinitions"] as! [[String: Any]]
        #expect(newContainers.filter { $0["name"] as? String == "secrets-injector" }.count == 1)
        var movedAny = false
        for container in newContainers where container["name"] as? String != "secrets-injector" {
            let name = container["name"] as! String
            let environment = (container["environment"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) {
                $0[$1["name"] as! String] = $1["value"] as? String ?? ""
            }
            let moved = old[name]!.environment.filter { environment[$0.key] == nil }
            // An official image reads NAME_FILE: the file holds the old value exactly.
            for (variable, path) in environment where variable.hasSuffix("_FILE") && path.hasPrefix("/run/secrets/") {
                let original = String(variable.dropLast(5))
                let written = try Data(contentsOf: URL(fileURLWithPath: output + path.dropFirst("/run/secrets".count)))
                #expect(written == Data(old[name]!.environment[original]!.utf8), "\(file): \(name) \(variable)")
                movedAny = true
            }
            // A wrapped command: sh sources the app's files and gets every moved value back.
            if let command = container["command"] as? [String], command.first == "/bin/sh", command.count > 2,
                command[2].hasPrefix("set -a")
            {
                let script = command[2].replacingOccurrences(of: "/run/secrets/", with: "\(output)/")
                let printed = try await run(
                    "/bin/sh", ["-c", script, "/usr/bin/env"], environment: ["PATH": "/usr/bin:/bin"])
                for (variable, value) in moved where !value.contains("\n") {
                    #expect(
                        ("\n" + printed.stdout).contains("\n\(variable)=\(value)\n"), "\(file): \(name) \(variable)")
                    movedAny = true
                }
            }
        }
        _ = movedAny  // a task whose apps name no command of their own is checked by verify alone

        let verify = try await fixture.tool(
            ["migrate", "verify", "--task-definition", file, "--config", "\(out)/injector.json"],
            environment: fixture.operator_)
        #expect(verify.status == 0, "\(file): \(verify.stdout) \(verify.stderr)")
        #expect(!verify.stdout.isEmpty && !verify.stdout.contains("differs"), "\(file): \(verify.stdout)")

        let again = try await fixture.tool(migrate + ["--apply"], environment: fixture.operator_)
        #expect(again.status == 0 && !again.stdout.contains(": created") && !again.stdout.contains(": updated"))
        let rerun = try await fixture.tool(
            ["migrate", "--task-definition", "migration/task-definition.json", "--prefix", prefix, "--out", "rerun"])
        #expect(rerun.status == 0 && rerun.stdout.contains("nothing to move"), "\(file): \(rerun)")

        // No value in anything migrate wrote or said.
        var texts = [applied.stdout, applied.stderr, verify.stdout, verify.stderr, again.stdout, again.stderr]
        for name in try FileManager.default.contentsOfDirectory(atPath: out) {
            texts.append(try String(contentsOfFile: "\(out)/\(name)", encoding: .utf8))
        }
        for (_, container) in old {
            // A dictionary word (`password`, `example`) is in every file's prose: only values with
            // a digit, a capital or a symbol are looked for.
            for (variable, value) in container.environment
            where value.count >= 6 && value.contains(where: { !$0.isLowercase || !$0.isLetter }) {
                let movedNames = newContainers.flatMap {
                    ($0["environment"] as? [[String: Any]] ?? []).map { $0["name"] as! String }
                }
                guard !movedNames.contains(variable) else { continue }  // stayed: not a secret
                for text in texts { #expect(!text.contains(value), "\(file): \(variable)'s value in an output") }
            }
        }
        return newContainers
    }

    @Test func everyContainerMovesInOneRunAndOfficialImagesReadFiles() async throws {
        let fixture = try await MigrateFixture.start()
        defer { fixture.stop() }
        let url = "postgresql://shop:Sh0p-Pa55word@db:5432/shop"
        let definition: [String: Any] = [
            "family": "shop", "taskRoleArn": "arn:aws:iam::123456789012:role/shop-task",
            "containerDefinitions": [
                [
                    "name": "web", "image": "node:20", "command": ["node", "server.js"], "user": "1000:1000",
                    "environment": [
                        ["name": "DATABASE_URL", "value": url],
                        ["name": "STRIPE_API_KEY", "value": "sk_live_web_7f3c9e1d"],
                        ["name": "NODE_ENV", "value": "production"],
                    ],
                ],
                [
                    "name": "worker", "image": "python:3.12", "command": ["python", "-m", "worker"],
                    "environment": [
                        ["name": "DATABASE_URL", "value": url],
                        ["name": "STRIPE_API_KEY", "value": "sk_live_wrk_9a8b7c6d"],
                    ],
                ],
                [
                    "name": "db", "image": "public.ecr.aws/docker/library/postgres:16",
                    "environment": [
                        ["name": "POSTGRES_PASSWORD", "value": "Pg-r00t-Pa55"],
                        ["name": "POSTGRES_USER", "value": "shop"],
                    ],
                ],
                [
                    "name": "cache", "image": "mongo:7",
                    "environment": [
                        ["name": "MONGO_INITDB_ROOT_PASSWORD", "value": "M0ngo-Pa55"],
                        ["name": "MONGO_BACKUP_PASSWORD", "value": "backup-Pa55-5f4e3d2c"],
                    ],
                ],
            ],
        ]
        try JSONSerialization.data(withJSONObject: definition).write(
            to: URL(fileURLWithPath: "\(fixture.folder)/shop.json"))
        let containers = try await Self.endToEnd(fixture, "shop.json", prefix: "shop/prod/")
        let out = "\(fixture.folder)/migration"

        // One injector; each app its own folder; the same URL is one secret, the two keys two.
        let config = try fixture.json("\(out)/injector.json") as! [String: Any]
        let envFiles = (config["env"] as! [[String: Any]]).map { $0["file"] as! String }
        #expect(envFiles == ["web/secrets.env", "worker/secrets.env"])
        let policy = try fixture.json("\(out)/task-role-policy.json") as! [String: Any]
        let resources = (policy["Statement"] as! [[String: Any]]).flatMap { $0["Resource"] as! [String] }
        #expect(resources.filter { $0.contains(":secret:shop/prod/database-") }.count == 1, "\(resources)")
        #expect(resources.contains { $0.contains(":secret:shop/prod/stripe-api-key-") })
        #expect(resources.contains { $0.contains(":secret:shop/prod/worker/stripe-api-key-") })
        // The official images read NAME_FILE and keep what their entrypoint reads from the environment only.
        let db = containers.first { $0["name"] as? String == "db" }!
        let dbEnvironment = (db["environment"] as! [[String: String]]).map { $0["name"]! }
        #expect(dbEnvironment.contains("POSTGRES_PASSWORD_FILE") && !dbEnvironment.contains("POSTGRES_PASSWORD"))
        let cache = containers.first { $0["name"] as? String == "cache" }!
        let cacheEnvironment = (cache["environment"] as! [[String: String]]).map { $0["name"]! }
        #expect(cacheEnvironment.contains("MONGO_INITDB_ROOT_PASSWORD_FILE"))
        #expect(
            cacheEnvironment.contains("MONGO_BACKUP_PASSWORD"), "the mongo image reads it from its environment only")
        let guide = try String(contentsOfFile: "\(out)/MIGRATION.md", encoding: .utf8)
        #expect(guide.contains("`MONGO_BACKUP_PASSWORD`") && guide.contains("Still in plain text"))
        // The files are readable by the official images' own users.
        #expect((config["defaults"] as! [String: Any])["mode"] as? String == "0444")
    }

    /// The region, the ARNs, the console's nulls, CloudFormation, the prefix, the image and the
    /// messages: each as a first run meets it, offline.
    @Test func whatAFirstRunMeets() async throws {
        let fixture = try await MigrateFixture.start()
        defer { fixture.stop() }
        func write(_ name: String, _ object: Any) throws {
            try JSONSerialization.data(withJSONObject: object).write(
                to: URL(fileURLWithPath: "\(fixture.folder)/\(name)"))
        }
        func app(_ environment: [[String: String]], name: String = "app", secrets: [[String: String]] = []) -> [String:
            Any]
        {
            [
                "name": name, "image": "node:20", "command": ["node", "index.js"], "environment": environment,
                "secrets": secrets,
            ]
        }
        let token = ["name": "API_TOKEN", "value": "tok-7Hq2Lw9xVb4Nc6Zr"]

        // The region comes from the task definition before the shell; an unknown one is refused.
        try write(
            "tokyo.json",
            [
                "family": "t", "taskDefinitionArn": "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/t:3",
                "containerDefinitions": [app([token])],
            ])
        let tokyo = try await fixture.tool(
            ["migrate", "--task-definition", "tokyo.json", "--prefix", "t/", "--image", Self.image, "--out", "tokyo"],
            environment: ["AWS_REGION": "us-east-1"])
        #expect(tokyo.status == 0, "\(tokyo.stderr)")
        #expect(
            (try fixture.json("\(fixture.folder)/tokyo/injector.json") as! [String: Any])["region"] as? String
                == "ap-northeast-1")
        let nowhere = try await fixture.tool(
            ["migrate", "--task-definition", "tokyo.json", "--prefix", "t/", "--region", "eu-west-9"])
        #expect(
            nowhere.status == 2 && nowhere.stderr.contains("eu-west-9")
                && nowhere.stderr.split(separator: "\n").count == 1)

        // Placeholder ARNs are refused, each named, in one line.
        try write(
            "placeholders.json",
            [
                "family": "p", "taskRoleArn": "arn:aws:iam::ACCOUNT_ID:role/p",
                "containerDefinitions": [
                    app(
                        [token],
                        secrets: [["name": "DB", "valueFrom": "arn:aws:secretsmanager:REGION:123456789012:secret:db"]])
                ],
            ])
        let placeholders = try await fixture.tool([
            "migrate", "--task-definition", "placeholders.json", "--prefix", "p/",
        ])
        #expect(placeholders.status == 2 && placeholders.stderr.split(separator: "\n").count == 1, "\(placeholders)")
        #expect(placeholders.stderr.contains("ACCOUNT_ID") && placeholders.stderr.contains("\"REGION\""))

        // A container name ECS would refuse never becomes a folder.
        try write("dots.json", ["family": "d", "containerDefinitions": [app([token], name: "../escape")]])
        let dots = try await fixture.tool(["migrate", "--task-definition", "dots.json", "--prefix", "d/"])
        #expect(dots.status == 2 && dots.stderr.contains("is not one ECS takes"), "\(dots)")
        #expect(!FileManager.default.fileExists(atPath: "\(fixture.folder)/escape"))

        // The console's null members are dropped: botocore accepts the result.
        try write(
            "console.json",
            [
                "family": "c", "proxyConfiguration": NSNull(), "inferenceAccelerators": NSNull(),
                "containerDefinitions": [app([token]).merging(["user": NSNull()]) { $1 }],
            ])
        let console = try await fixture.tool(
            [
                "migrate", "--task-definition", "console.json", "--prefix", "c/", "--image", Self.image, "--out",
                "console",
            ])
        #expect(console.status == 0, "\(console.stderr)")
        #expect(try await Self.python(["register", "\(fixture.folder)/console/task-definition.json"]) == "valid")

        // A CloudFormation template: said plainly, with the way on.
        try "AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n"
            .write(toFile: "\(fixture.folder)/stack.yaml", atomically: true, encoding: .utf8)
        let stack = try await fixture.tool(["migrate", "--task-definition", "stack.yaml", "--prefix", "s/"])
        #expect(
            stack.status == 2 && stack.stderr.contains("CloudFormation")
                && stack.stderr.contains("describe-task-definition"))

        // --prefix without its slash gets one; the default image is said to be unpullable.
        let bare = try await fixture.tool([
            "migrate", "--task-definition", "tokyo.json", "--prefix", "myapp", "--out", "bare",
        ])
        #expect(bare.status == 0)
        let policy = try String(contentsOfFile: "\(fixture.folder)/bare/task-role-policy.json", encoding: .utf8)
        #expect(policy.contains(":secret:myapp/api-token-"), "\(policy)")
        #expect(bare.stderr.contains("--image") && bare.stderr.contains("cannot pull"))
        #expect(try String(contentsOfFile: "\(fixture.folder)/bare/MIGRATION.md", encoding: .utf8).contains("--image"))

        // MIGRATION.md speaks the app's runtime.
        try write(
            "node.json",
            [
                "family": "n",
                "containerDefinitions": [["name": "api", "image": "node:20-alpine", "environment": [token]]],
            ])
        _ = try await fixture.tool(["migrate", "--task-definition", "node.json", "--prefix", "n/", "--out", "node"])
        let guide = try String(contentsOfFile: "\(fixture.folder)/node/MIGRATION.md", encoding: .utf8)
        #expect(guide.contains("require('dotenv')") && !guide.contains("load_dotenv"), "\(guide)")

        // Messages: references moved are not "0 secrets"; --container with nothing names who has.
        try write(
            "refs.json",
            [
                "family": "r",
                "containerDefinitions": [
                    app([], name: "client"),
                    app([], name: "api", secrets: [["name": "DB_PASSWORD", "valueFrom": "/r/db-password"]]),
                ],
            ])
        let refs = try await fixture.tool([
            "migrate", "--task-definition", "refs.json", "--prefix", "r/", "--out", "refs",
        ])
        #expect(
            refs.stdout.contains("from secrets[] references") && !refs.stdout.contains("0 secret"), "\(refs.stdout)")
        let client = try await fixture.tool(
            ["migrate", "--task-definition", "refs.json", "--prefix", "r/", "--container", "client"])
        #expect(client.status == 2 && client.stderr.contains("client") && client.stderr.contains("api"), "\(client)")
    }

    /// Real multi-container task definitions from public repositories (`Fixtures/migrate-corpus`,
    /// their origins in its `ORIGINS.tsv`), as their authors committed them: the whole journey on each.
    @Test func realMultiContainerTaskDefinitions() async throws {
        let corpus = Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/migrate-corpus").path
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus).filter { $0.hasSuffix(".json") }
            .sorted()
        #expect(files.count >= 5)
        for file in files {
            let fixture = try await MigrateFixture.start()
            defer { fixture.stop() }
            try FileManager.default.copyItem(atPath: "\(corpus)/\(file)", toPath: "\(fixture.folder)/\(file)")
            // A template committed with placeholders in its ARNs is refused, each one named.
            if try String(contentsOfFile: "\(corpus)/\(file)", encoding: .utf8).contains("<ACCOUNT_ID>") {
                let refused = try await fixture.tool(["migrate", "--task-definition", file, "--prefix", "real/"])
                #expect(refused.status == 2 && refused.stderr.contains("\"<ACCOUNT_ID>\" is not an account id"))
                #expect(refused.stderr.contains("\"<REGION>\" is not an AWS region"), "\(refused.stderr)")
                continue
            }
            let containers = try await Self.endToEnd(fixture, file, prefix: "real/")
            #expect(containers.count >= 3, "\(file): the injector and at least two containers")
        }
    }

    /// What an attack review of `migrate` found: every configuration it writes is one `check`
    /// accepts, and input JSON readers disagree on is refused.
    @Test func everyConfigurationMigrateWritesIsOneCheckAccepts() async throws {
        let fixture = try await MigrateFixture.start()
        defer { fixture.stop() }
        func migrate(_ name: String, _ definition: Any) async throws -> CommandResult {
            try JSONSerialization.data(withJSONObject: definition).write(
                to: URL(fileURLWithPath: "\(fixture.folder)/\(name).json"))
            return try await fixture.tool([
                "migrate", "--task-definition", "\(name).json", "--prefix", "p/", "--image", Self.image, "--out", name,
                "--region", "ap-southeast-1",
            ])
        }
        func checked(_ name: String) async throws {
            let check = try await run(
                BlackBox.binary, ["check", "--config", "\(fixture.folder)/\(name)/injector.json"], environment: [:])
            #expect(check.status == 0 || check.status == 5, "\(name): \(check.stderr)")
            #expect(!check.stderr.contains("error"), "\(name): \(check.stderr)")
        }
        let password = ["name": "POSTGRES_PASSWORD", "value": "Pg-Same-Pa55"]
        // Two official images with one password: each gets its own file.
        let twoDatabases = try await migrate(
            "two",
            [
                "family": "t",
                "containerDefinitions": [
                    ["name": "db1", "image": "postgres:16", "environment": [password]],
                    ["name": "db2", "image": "postgres:16", "environment": [password]],
                ],
            ])
        #expect(twoDatabases.status == 0, "\(twoDatabases.stderr)")
        try await checked("two")
        let config = try String(contentsOfFile: "\(fixture.folder)/two/injector.json", encoding: .utf8)
        #expect(config.contains("db1/postgres_password") && config.contains("db2/postgres_password"), "\(config)")
        // A variable whose segment is SECRETS: its URL's file is not the env file.
        let url = try await migrate(
            "url",
            [
                "family": "u",
                "containerDefinitions": [
                    [
                        "name": "app", "image": "a", "command": ["run"],
                        "environment": [
                            ["name": "SECRETS_URL", "value": "postgresql://u:Pa55-w0rd@db/x"],
                            ["name": "API_TOKEN", "value": "tok-7Hq2Lw9xVb4Nc6Zr"],
                        ],
                    ]
                ],
            ])
        #expect(url.status == 0, "\(url.stderr)")
        try await checked("url")
        // A user whose group the injector cannot give: the default group.
        let user = try await migrate(
            "user",
            [
                "family": "g",
                "containerDefinitions": [
                    [
                        "name": "app", "image": "a", "user": "1000:-1",
                        "environment": [["name": "API_TOKEN", "value": "tok-7Hq2Lw9xVb4Nc6Zr"]],
                    ]
                ],
            ])
        #expect(user.status == 0, "\(user.stderr)")
        try await checked("user")
        // A secrets[] name that is no variable name, and keys given twice: refused in one line.
        let badName = try await migrate(
            "bad",
            [
                "family": "b",
                "containerDefinitions": [
                    ["name": "app", "image": "a", "secrets": [["name": "Y;touch /tmp/x", "valueFrom": "/b/y"]]]
                ],
            ])
        #expect(badName.status == 2 && badName.stderr.contains("not an environment variable name"), "\(badName)")
        try
            #"{"family": "d", "containerDefinitions": [{"name": "app", "image": "a", "environment": [{"name": "API_TOKEN", "value": "tok-7Hq2Lw9xVb4Nc6Zr"}], "environment": []}]}"#
            .write(toFile: "\(fixture.folder)/dup.json", atomically: true, encoding: .utf8)
        let duplicate = try await fixture.tool(["migrate", "--task-definition", "dup.json", "--prefix", "d/"])
        #expect(duplicate.status == 2 && duplicate.stderr.contains("repeats the key \"environment\""), "\(duplicate)")
        #expect(duplicate.stderr.split(separator: "\n").count == 1)
    }
}
