import Foundation
import TestSupport
import Testing

/// `scan` as a new user runs it at the root of a repository, on files of the kinds teams commit
/// that stopped the scan or were skipped silently, names the rules missed, and
/// placeholders they flagged. Each file is written here, shaped like the public file named beside it.
@Suite struct ScanRealInputsTests {
    /// The folder's files, written; `scan` run in it with `arguments`.
    static func scan(_ files: [String: String], _ arguments: [String] = []) async throws -> (
        folder: String, result: CommandResult
    ) {
        let folder = try BlackBox.temporaryFolder()
        for (path, text) in files {
            let full = "\(folder)/\(path)"
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return (folder, try await MigrationTests.tool(["scan"] + arguments, in: folder))
    }

    /// `file:line:name` of every finding in `--format json` output.
    static func seen(_ json: String) throws -> [String] {
        let findings =
            try (JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any])["findings"] as! [[String: Any]]
        return findings.map { "\($0["file"]!):\($0["line"]!):\($0["name"]!)" }
    }

    /// Item 1: a file that cannot be parsed is a note, not the end of the scan. Files that are
    /// recognisably not ours (a tsconfig with comments, as Angular's `tsconfig.app.json`; VS Code's
    /// `.vscode/launch.json`; a Helm template, as `helm create` writes) are passed over in a walk;
    /// a broken and an empty `task-definition.json` are one note each, in text, JSON and SARIF.
    @Test func unparseableFilesAreNotesAndTheScanGoesOn() async throws {
        let files = [
            "tsconfig.app.json":
                "/* To learn more about this file see: https://angular.io/config/tsconfig. */\n{\n  \"extends\": \"./tsconfig.json\",\n  // output\n  \"compilerOptions\": {\"outDir\": \"./out-tsc/app\"}\n}\n",
            ".vscode/launch.json":
                "{\n  // Use IntelliSense to learn about possible attributes.\n  \"version\": \"0.2.0\",\n  \"configurations\": []\n}\n",
            "chart/templates/deployment.yaml":
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"chart.fullname\" . }}\n  labels:\n    {{- include \"chart.labels\" . | nindent 4 }}\n",
            "deploy/task-definition.json":
                "{\n  \"family\": \"app\",\n  \"containerDefinitions\": [\n    {\"name\": \"app\",\n",
            "task-definition.json": "",
            "app.env": "DB_PASSWORD=hunter2-but-longer\n",
        ]
        let (folder, text) = try await Self.scan(files)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(text.status == 1, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("app.env:1: DB_PASSWORD: sensitive-name\n"), "\(text.stdout)")
        #expect(
            text.stderr.split(separator: "\n") == [
                "secrets-injector: note: deploy/task-definition.json: line 5: not valid JSON: expected a key",
                "secrets-injector: note: task-definition.json: is empty",
            ], "\(text.stderr)")

        let json = try await MigrationTests.tool(["scan", "--format", "json"], in: folder)
        let notes =
            try (JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any])["notes"]
            as! [[String: Any]]
        #expect(
            notes.map { "\($0["file"]!):\($0["line"]!)" } == [
                "deploy/task-definition.json:5", "task-definition.json:<null>",
            ])

        let sarif = try await MigrationTests.tool(["scan", "--format", "sarif"], in: folder)
        #expect(sarif.status == 1)
        let run =
            ((try JSONSerialization.jsonObject(with: Data(sarif.stdout.utf8)) as! [String: Any])["runs"]
            as! [[String: Any]])[0]
        let invocation = (run["invocations"] as! [[String: Any]])[0]
        #expect(invocation["executionSuccessful"] as? Bool == true)
        let notifications = invocation["toolExecutionNotifications"] as! [[String: Any]]
        #expect(notifications.count == 2 && notifications.allSatisfy { $0["level"] as? String == "warning" })
        if pythonHasModule("jsonschema") {
            try sarif.stdout.write(toFile: "\(folder)/scan.sarif", atomically: true, encoding: .utf8)
            #expect(
                try await MigrationTests.python(["sarif", "\(folder)/scan.sarif", MigrationTests.sarifSchema])
                    == "valid")
        }

        // --strict: the same report, then exit 2; the notes are errors.
        let strict = try await MigrationTests.tool(["scan", "--strict"], in: folder)
        #expect(strict.status == 2 && strict.stdout == text.stdout, "\(strict)")
        #expect(strict.stderr.hasPrefix("secrets-injector: error: deploy/task-definition.json: line 5"))

        // A baseline is written whatever the notes (their files' findings are new later, never
        // hidden), but not with --strict.
        let strictBaseline = try await MigrationTests.tool(
            ["scan", "--strict", "--baseline", "known.json", "--update-baseline"], in: folder)
        #expect(strictBaseline.status == 2 && !FileManager.default.fileExists(atPath: "\(folder)/known.json"))
        let baseline = try await MigrationTests.tool(
            ["scan", "--baseline", "known.json", "--update-baseline"], in: folder)
        #expect(baseline.status == 0 && FileManager.default.fileExists(atPath: "\(folder)/known.json"), "\(baseline)")

        // Named, a file that is not one of ours is a note too; one that does not exist is bad usage.
        let named = try await MigrationTests.tool(["scan", "tsconfig.app.json", "app.env"], in: folder)
        #expect(named.status == 1 && named.stderr.hasPrefix("secrets-injector: note: tsconfig.app.json: line 1: "))
        let missing = try await MigrationTests.tool(["scan", "no-such-file.json"], in: folder)
        #expect(missing.status == 2 && missing.stderr.contains("no-such-file.json: cannot be read"), "\(missing)")
    }

    /// Item 2: the Compose v1 format (services at the top level, as sameersbn/docker-redmine's
    /// `docker-compose-mysql.yml` had it), a bare array of container definitions (Terraform's
    /// `container_definitions = file("container_definitions.json")`), and a Terraform JSON template
    /// whose numbers are `${…}` (`task.json.tpl` for `templatefile`).
    @Test func composeV1AndContainerDefinitionArraysAreRead() async throws {
        let files = [
            "docker-compose.yml": """
            postgresql:
              image: sameersbn/postgresql:9.6
              environment:
                - DB_USER=redmine
                - DB_PASS=password
            redmine:
              image: sameersbn/redmine:4.1.1
              links:
                - postgresql:postgresql
              environment:
                SMTP_PASS: password

            """,
            "terraform/container_definitions.json": """
            [
              {
                "name": "app",
                "image": "app:1",
                "environment": [
                  {"name": "DB_HOST", "value": "db"},
                  {"name": "DB_PASSWORD", "value": "topsecret"}
                ]
              }
            ]

            """,
            "terraform/templates/task.json.tpl": """
            [
              {
                "name": "${name}",
                "image": "${image}",
                "cpu": ${cpu},
                "environment": [
                  {"name": "WORDPRESS_DB_PASSWORD", "value": "wordpress"},
                  {"name": "WORDPRESS_DB_USER", "value": "${db_user}"},
                  {"name": "API_TOKEN", "value": "${api_token}"}
                ]
              }
            ]

            """,
        ]
        let (folder, result) = try await Self.scan(files, ["--format", "json"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.status == 1 && result.stderr.isEmpty, "\(result.stderr)")
        #expect(
            try Self.seen(result.stdout) == [
                "docker-compose.yml:5:DB_PASS", "docker-compose.yml:11:SMTP_PASS",
                "terraform/container_definitions.json:7:DB_PASSWORD",
                "terraform/templates/task.json.tpl:7:WORDPRESS_DB_PASSWORD",
            ], "\(result.stdout)")
    }

    /// Item 2: Dockerfiles by the names teams give them (`dockerfile`, `dockerfile.app`,
    /// `*.Dockerfile`), with CRLF line ends, and a value on an `ENV` continuation line reported on
    /// its own line (as SeleniumHQ/docker-selenium's `Base/Dockerfile` writes its `ENV`s); and
    /// `.env-example`. A file named on the command line is read by its content whatever its name.
    @Test func dockerfilesAndDotenvFilesByTheirNamesAndContent() async throws {
        let files = [
            "dockerfile": "FROM x\r\nENV SECRET_KEY=abcdefghijkl\r\n",
            "build/dockerfile.app":
                "FROM node:20\n# settings\nENV API_PORT=5000 \\\n    # the signing key\n    JWT_SECRET=holy_cow_ambassador \\\n\n    DB_SECRET=holy_cow_database\n",
            "build/db.Dockerfile":
                "FROM mysql:8\r\nENV MYSQL_ROOT_PASSWORD=Abc123456* \\\r\n    MYSQL_PASSWORD=Abc123456*\r\n",
            ".env-example": "SMTP_HOST=smtp.example.com\nSMTP_PASSWORD=s3cret-smtp-pw\n",
        ]
        let (folder, result) = try await Self.scan(files, ["--format", "json"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.status == 1 && result.stderr.isEmpty, "\(result.stderr)")
        #expect(
            try Self.seen(result.stdout) == [
                ".env-example:2:SMTP_PASSWORD", "build/db.Dockerfile:2:MYSQL_ROOT_PASSWORD",
                "build/db.Dockerfile:3:MYSQL_PASSWORD", "build/dockerfile.app:5:JWT_SECRET",
                "build/dockerfile.app:7:DB_SECRET", "dockerfile:2:SECRET_KEY",
            ], "\(result.stdout)")

        // Named files whose names say nothing: by their content.
        try FileManager.default.moveItem(atPath: "\(folder)/dockerfile", toPath: "\(folder)/image-recipe")
        try FileManager.default.moveItem(atPath: "\(folder)/.env-example", toPath: "\(folder)/settings")
        let named = try await MigrationTests.tool(["scan", "--format", "json", "image-recipe", "settings"], in: folder)
        #expect(named.status == 1 && named.stderr.isEmpty, "\(named.stderr)")
        #expect(try Self.seen(named.stdout) == ["image-recipe:2:SECRET_KEY", "settings:2:SMTP_PASSWORD"])
    }

    /// Item 3: names the rules missed, as real files write them (mongo-express's
    /// `ME_CONFIG_MONGODB_ADMINPASSWORD`, the postgres image's `PGPASSWORD`, RabbitMQ's
    /// `RABBITMQ_ERLANG_COOKIE`).
    @Test func namesWrittenAsOneWordOrShortened() async throws {
        let names = [
            "DBPASS", "RABBITMQ_PASS", "SMTP_PASS", "DB_PW", "PGPASSWORD", "RABBITMQ_ERLANG_COOKIE",
            "ME_CONFIG_MONGODB_ADMINPASSWORD",
        ]
        var compose = "services:\n  app:\n    image: app\n    environment:\n"
        for name in names { compose += "      \(name): some-value-\(name.count)\n" }
        compose += "      BYPASS_CACHE: some-value\n      PGPASSFILE: some-value\n"
        let (folder, result) = try await Self.scan(["compose.yaml": compose], ["--format", "json"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.status == 1, "\(result.stderr)")
        #expect(
            try Self.seen(result.stdout) == names.enumerated().map { "compose.yaml:\($0.offset + 5):\($0.element)" })
    }

    /// Item 4: placeholders and references are no findings: `your_…` and `…_here` (fastapi's and
    /// Laravel's examples), `{{API_KEY}}` substituted by CI into a task definition, a Docker secret's
    /// file, 1Password's `op://`, and `${VAR:?…}`; while `${VAR:-postgres}`'s default is a value in
    /// plain sight.
    @Test func placeholdersAndReferencesAreNotFindings() async throws {
        let files = [
            ".env.example": """
            API_KEY=your_api_key_here
            CLIENT_SECRET=your-client-secret
            SECRET_KEY=changethis
            APP_KEYS="toBeModified1,toBeModified2"
            DOCRAPTOR_API_KEY=op://devs/app/docraptorApiKey
            JWT_SECRET=${JWT_SECRET:?set JWT_SECRET}

            """,
            "task-definition.json": """
            {"family": "app", "containerDefinitions": [{"name": "app", "image": "app:1", "environment": [
              {"name": "API_KEY", "value": "{{API_KEY}}"}
            ]}]}

            """,
            "docker-compose.yml": """
            services:
              db:
                image: postgres
                environment:
                  DATABASE_PASSWORD: /run/secrets/db-password
                  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-postgres}

            """,
        ]
        let (folder, result) = try await Self.scan(files, ["--format", "json"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(result.status == 1 && result.stderr.isEmpty, "\(result.stderr)")
        #expect(try Self.seen(result.stdout) == ["docker-compose.yml:6:POSTGRES_PASSWORD"], "\(result.stdout)")
    }
}
