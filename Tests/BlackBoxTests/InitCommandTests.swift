import Foundation
import TestSupport
import Testing

/// `secrets-injector init` with `examples/pipeline-pulse.json` against moto_server.
@Suite struct InitCommandTests {
    let peers: PeerProcess
    let secrets: [String: String]
    let output: String
    /// uid/gid the files must get: ours, and the example's group 1000 as root (else our own group).
    let owner: (uid: UInt32, gid: UInt32)

    init() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: BlackBox.binary))
        peers = try await BlackBox.sharedPeers.value
        secrets = peers.ready["secrets"] as? [String: String] ?? [:]
        output = try BlackBox.temporaryFolder()
        owner = getuid() == 0 ? (0, 1000) : (getuid(), getgid())
    }

    func initialize(_ extra: [String: String] = [:]) async throws -> CommandResult {
        try await BlackBox.initExample(
            peers, output: output, extra.merging(["SECRETS_INJECTOR_LOG_LEVEL": "trace"]) { old, _ in old })
    }

    func field(_ secret: String, _ key: String) throws -> String {
        let object =
            try JSONSerialization.jsonObject(with: Data(secrets["pipeline-pulse/prod/\(secret)"]!.utf8))
            as! [String: Any]
        return "\(object[key]!)"
    }

    func urlencode(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: CharacterSet(
                charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._"))!
    }

    func mode(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
    }

    @Test(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func pipelinePulseExampleWritesTheExpectedTree() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try await initialize()
        #expect(result.status == 0, "\(result.stderr)")
        try BlackBox.expectNoSecret(of: secrets, in: result.stdout + result.stderr)

        let names = try FileManager.default.contentsOfDirectory(atPath: output).sorted()
        let generation = try FileManager.default.destinationOfSymbolicLink(atPath: "\(output)/..data")
        #expect(
            names
                == [
                    generation, "..data", "app.env", "currency.json", "database.json", "jwt.json", "secrets.env",
                    "zoho.json",
                ].sorted())

        for name in ["database", "zoho", "currency", "jwt"] {
            #expect(
                try String(contentsOfFile: "\(output)/\(name).json", encoding: .utf8)
                    == secrets["pipeline-pulse/prod/\(name)"], "\(name).json")
        }
        let databaseURL = try
            "postgresql://\(urlencode(field("database", "username"))):\(urlencode(field("database", "password")))@\(field("database", "host")):\(field("database", "port"))/\(field("database", "dbname"))"
        let appEnv = try String(contentsOfFile: "\(output)/app.env", encoding: .utf8)
        let (zohoID, currencyURL, jwtSecret) = (
            try field("zoho", "client_id"), try field("currency", "base_url"), try field("jwt", "secret")
        )
        #expect(appEnv.hasPrefix("DATABASE_URL=\(databaseURL)\nZOHO_CLIENT_ID='\(zohoID)'\n"))
        #expect(appEnv.hasSuffix("CURRENCY_BASE_URL='\(currencyURL)'\n"))
        #expect(
            try String(contentsOfFile: "\(output)/secrets.env", encoding: .utf8)
                == "JWT_SECRET='\(jwtSecret)'\nJWT_ALGORITHM='HS256'\nJWT_EXPIRE_MINUTES='30'\n")

        let modes = [
            "database.json": 0o440, "zoho.json": 0o440, "currency.json": 0o440, "jwt.json": 0o440, "app.env": 0o440,
            "secrets.env": 0o440,
        ]
        for (name, expected) in modes {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(output)/..data/\(name)")
            #expect(attributes[.posixPermissions] as? Int == expected, "\(name) mode")
            #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == owner.uid, "\(name) owner")
            #expect((attributes[.groupOwnerAccountID] as? NSNumber)?.uint32Value == owner.gid, "\(name) group")
        }
        #expect(try mode("\(output)/\(generation)") == 0o750)

        // The same secrets again: nothing is rewritten.
        let again = try await initialize()
        #expect(again.status == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(output)/..data") == generation)
        #expect(again.stderr.contains("outputs unchanged"))
    }

    @Test(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func aMissingSecretLeavesThePreviousGenerationUntouched() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        #expect(try await initialize().status == 0)
        let generation = try FileManager.default.destinationOfSymbolicLink(atPath: "\(output)/..data")
        let before = try FileManager.default.contentsOfDirectory(atPath: "\(output)/\(generation)").sorted()
        let database = try String(contentsOfFile: "\(output)/database.json", encoding: .utf8)

        var override =
            #"{"secrets": [{"id": "pipeline-pulse/prod/database", "alias": "database", "file": "database.json"}, {"id": "pipeline-pulse/prod/zoho"}, {"id": "pipeline-pulse/prod/currency"}, {"id": "pipeline-pulse/prod/jwt", "file": "jwt.json"}, {"id": "pipeline-pulse/prod/missing"}]"#
        override += getuid() == 0 ? "}" : #", "defaults": {"gid": \#(owner.gid)}}"#
        let result = try await initialize(["SECRETS_INJECTOR_CONFIG": override])
        #expect(result.status == 3, "\(result.stderr)")
        let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("secrets-injector: error:") }
        #expect(
            errors == [
                "secrets-injector: error: BatchGetSecretValue: secret pipeline-pulse/prod/missing not found in region ap-southeast-1 (AWS: Secrets Manager can't find the specified secret.); check the secret's name and the region"
            ]
                || errors.count == 1
                    && errors[0].contains("pipeline-pulse/prod/missing not found in region ap-southeast-1"),
            "\(errors)")
        try BlackBox.expectNoSecret(of: secrets, in: result.stdout + result.stderr)

        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(output)/..data") == generation)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(output)/\(generation)").sorted() == before)
        #expect(try String(contentsOfFile: "\(output)/database.json", encoding: .utf8) == database)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: output).filter { $0.hasPrefix("..2") } == [generation])
    }

    @Test(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func deniedAccessIsExit3AndConfigErrorsExit2() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let denied = try await run(
            BlackBox.binary,
            ["init", "--config", Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path],
            environment: BlackBox.taskEnvironment(
                peers, role: "pipeline-pulse-describe-only", ["SECRETS_INJECTOR_OUTPUT_DIR": output]))
        #expect(denied.status == 3, "\(denied.stderr)")
        // BatchGetSecretValue is denied, so each secret is read alone, and each is denied itself.
        let errors = denied.stderr.split(separator: "\n").filter { $0.hasPrefix("secrets-injector: error: ") }
        #expect(errors.count == 4, "\(denied.stderr)")
        #expect(
            errors.allSatisfy {
                $0.hasPrefix("secrets-injector: error: AccessDenied for pipeline-pulse/prod/")
                    && $0.contains(
                        "the task role needs secretsmanager:GetSecretValue on arn:aws:secretsmanager:ap-southeast-1:*:secret:pipeline-pulse/prod/"
                    )
            }, "\(errors)")
        #expect(!FileManager.default.fileExists(atPath: "\(output)/..data"))

        let bad = try await run(
            BlackBox.binary, ["init"],
            environment: ["SECRETS_INJECTOR_CONFIG": #"{"secrets": [{"id": "a", "mode": "999"}]}"#])
        #expect(bad.status == 2)
        #expect(
            bad.stderr
                == "secrets-injector: error: secrets[0].mode: \"999\" is not an octal file mode (like \"0440\")\n")
    }
}

/// Every example in the repository validates against the published schema and passes `check`.
@Suite struct ExampleConfigurationTests {
    static let examples =
        ((try? FileManager.default.contentsOfDirectory(atPath: Repository.root.appendingPathComponent("examples").path))
        ?? [])
        .filter { $0.hasSuffix(".json") && $0 != "dev-secrets.json" }.sorted()

    @Test(.enabled(if: pythonHasModule("jsonschema"), "python jsonschema is not installed"), arguments: examples)
    func validatesAgainstTheSchemaAndPassesCheck(_ name: String) async throws {
        let path = Repository.root.appendingPathComponent("examples/\(name)").path
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(sys.argv[2])))]
            print("\\n".join(errors)); sys.exit(1 if errors else 0)
            """
        let schema = try await run(
            "/usr/bin/env",
            ["python3", "-c", script, Repository.root.appendingPathComponent("docs/config.schema.json").path, path],
            environment: ProcessInfo.processInfo.environment)
        #expect(schema.status == 0, "\(name): \(schema.stdout)\(schema.stderr)")
        let check = try await run(BlackBox.binary, ["check", "--config", path], environment: [:])
        #expect(check.status == 0, "\(name): \(check.stderr)")
        #expect(check.stdout.hasPrefix("configuration is valid\n"))
    }

    @Test func thereAreExamples() { #expect(Self.examples.contains("pipeline-pulse.json")) }
}
