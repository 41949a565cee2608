import Foundation
import TestSupport
import Testing

/// Parameter Store references in `secrets[].id` and `env.entries[].valueFrom`, against
/// moto (SSM, signatures verified) through the built binary: each type, a version selector, JSON
/// keys in a template, Secrets Manager alongside, a missing optional and a missing required
/// parameter, a role with only `ssm:GetParameters`, and a new version reaching the files and
/// `onChange`. No value in any output.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct ParameterStoreTests {
    static let values = [
        "db-pass": "p@ss:w/rd #1 'q'", "region": "ap-southeast-1", "hosts": "a.example,b.example",
        "smtp": #"{"user":"mailer","password":"m41l-p4ss-v4lue"}"#,
    ]

    /// Peers of its own (moto with SSM), seeded with the parameters of ``values``.
    static func seededPeers() async throws -> PeerProcess {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        do {
            try await seed(peers)
        } catch {
            peers.stop()
            throw error
        }
        return peers
    }

    static func seed(_ peers: PeerProcess) async throws {
        _ = try await BlackBox.admin(
            peers, ["ssm-put", "/pipeline-pulse/prod/db-pass", values["db-pass"]!, "SecureString"])
        _ = try await BlackBox.admin(peers, ["ssm-put", "/pipeline-pulse/prod/region", values["region"]!, "String"])
        _ = try await BlackBox.admin(peers, ["ssm-put", "/pipeline-pulse/prod/hosts", values["hosts"]!, "StringList"])
        _ = try await BlackBox.admin(peers, ["ssm-put", "/pipeline-pulse/prod/smtp", values["smtp"]!, "SecureString"])
        _ = try await BlackBox.admin(
            peers, ["ssm-put", "/pipeline-pulse/prod/feature", "feature-one", "String", "first"])
        _ = try await BlackBox.admin(peers, ["ssm-put", "/pipeline-pulse/prod/feature", "feature-two", "String"])
    }

    static func environment(_ peers: PeerProcess, role: String = "pipeline-pulse-task") -> [String: String] {
        var environment = BlackBox.taskEnvironment(peers, role: role)
        environment["AWS_ENDPOINT_URL_SSM"] = peers.string("endpoint")
        return environment
    }

    static func config(_ output: String, secrets: String, extra: String = "") -> String {
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        return #"{\#(owner)"outputDir": "\#(output)", "secrets": [\#(secrets)]\#(extra)}"#
    }

    @Test func initWritesParametersLikeSecretsAndRefusesAMissingRequiredOne() async throws {
        let peers = try await Self.seededPeers()
        defer { peers.stop() }
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = "\(folder)/out"
        let secrets = """
            {"id": "/pipeline-pulse/prod/db-pass", "alias": "dbpass", "file": "db-pass"},
            {"id": "parameter/pipeline-pulse/prod/hosts", "alias": "hosts"},
            {"id": "/pipeline-pulse/prod/feature:1", "alias": "feature", "file": "feature-v1"},
            {"id": "/pipeline-pulse/prod/feature:first", "alias": "labelled", "file": "feature-first"},
            {"id": "/pipeline-pulse/prod/smtp", "alias": "smtp", "file": "smtp.json"},
            {"id": "/pipeline-pulse/prod/not-there", "required": false, "file": "optional"},
            {"id": "pipeline-pulse/prod/jwt", "alias": "jwt", "file": "jwt.json"}
            """
        let extra = #"""
            , "templates": [{"file": "app.env", "template": "DB_PASS={{ dbpass | dotenv }}\nSMTP_USER={{ smtp.user | dotenv }}\nHOSTS={{ hosts | dotenv }}\nFEATURE={{ feature }}\n"}],
            "env": {"file": "secrets.env", "entries": [
              {"name": "REGION", "valueFrom": "/pipeline-pulse/prod/region"},
              {"name": "JWT_SECRET", "valueFrom": "pipeline-pulse/prod/jwt:secret::"}]}
            """#
        var environment = Self.environment(peers)
        environment["SECRETS_INJECTOR_CONFIG"] = Self.config(output, secrets: secrets, extra: extra)
        environment["SECRETS_INJECTOR_LOG_LEVEL"] = "trace"
        let result = try await run(BlackBox.binary, ["init"], environment: environment, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        func read(_ file: String) -> String? { try? String(contentsOfFile: "\(output)/\(file)", encoding: .utf8) }
        #expect(read("db-pass") == Self.values["db-pass"])
        #expect(read("pipeline-pulse/prod/hosts") == Self.values["hosts"], "a StringList is its text, under its name")
        #expect(read("feature-v1") == "feature-one", "the :1 selector reads version 1, not the current one")
        #expect(read("feature-first") == "feature-one", "the :first label reads the version it labels")
        #expect(read("smtp.json") == Self.values["smtp"])
        #expect(read("optional") == nil, "a missing optional parameter writes nothing")
        #expect(read("jwt.json")?.contains("\"secret\"") == true, "Secrets Manager alongside")
        let appEnv = try #require(read("app.env"))
        #expect(appEnv.contains("SMTP_USER='mailer'\n") && appEnv.contains("FEATURE=feature-one\n"))
        #expect(appEnv.contains("HOSTS='a.example,b.example'\n"))
        #expect(read("secrets.env")?.contains("REGION='ap-southeast-1'\n") == true)
        #expect(result.stderr.contains("/pipeline-pulse/prod/not-there"), "the optional one is named: \(result.stderr)")

        // A missing required parameter: exit 3, as for a missing secret; the last generation stays.
        var missing = environment
        missing["SECRETS_INJECTOR_CONFIG"] = Self.config(
            output,
            secrets: #"{"id": "/pipeline-pulse/prod/db-pass", "file": "db-pass"}, {"id": "/pipeline-pulse/prod/gone"}"#)
        let refused = try await run(BlackBox.binary, ["init"], environment: missing, timeout: 60)
        #expect(refused.status == 3, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("/pipeline-pulse/prod/gone") && refused.stderr.contains("ParameterNotFound"),
            "\(refused.stderr)")
        #expect(read("feature-v1") == "feature-one", "the previous generation stays")

        // A role with only ssm:GetParameters reads parameters.
        var parametersOnly = Self.environment(peers, role: "pipeline-pulse-parameters")
        parametersOnly["SECRETS_INJECTOR_CONFIG"] = Self.config(
            "\(folder)/only", secrets: #"{"id": "/pipeline-pulse/prod/db-pass", "file": "db-pass"}"#)
        let only = try await run(BlackBox.binary, ["init"], environment: parametersOnly, timeout: 60)
        #expect(only.status == 0, "\(only.stderr)")
        #expect(
            (try? String(contentsOfFile: "\(folder)/only/db-pass", encoding: .utf8)) == Self.values["db-pass"])

        // The review is Secrets Manager's: a parameter is not in it.
        var reviewed = environment
        reviewed["SECRETS_INJECTOR_CONFIG"] = Self.config(
            output,
            secrets: #"{"id": "/pipeline-pulse/prod/db-pass", "file": "db-pass"}, {"id": "pipeline-pulse/prod/jwt"}"#)
        let review = try await run(BlackBox.binary, ["review", "--format", "json"], environment: reviewed, timeout: 60)
        #expect(review.status == 0 || review.status == 1, "\(review.stderr)")
        #expect(
            review.stdout.contains("pipeline-pulse/prod/jwt") && !review.stdout.contains("/pipeline-pulse/prod/db-pass")
        )

        // A bad reference is one line naming it, exit 2.
        var bad = environment
        bad["SECRETS_INJECTOR_CONFIG"] = Self.config(output, secrets: #"{"id": "/pipeline-pulse/prod/db-pass:1:2"}"#)
        let invalid = try await run(BlackBox.binary, ["init"], environment: bad, timeout: 60)
        #expect(invalid.status == 2 && invalid.stderr.contains("has more than one selector"), "\(invalid.stderr)")

        for text in [result.stdout, result.stderr, refused.stderr, only.stderr, invalid.stderr] {
            // Every value but the region, which the logs name as the AWS region anyway.
            for value in Self.values.values where value != "ap-southeast-1" {
                #expect(!text.contains(value), "a value in the output")
            }
            #expect(!text.contains("m41l-p4ss-v4lue"))
        }
    }

    /// `{"parameterPath": "/pipeline-pulse/prod/"}`: every parameter under the path, recursively
    /// (`GetParametersByPath`), written under its name without the path, with its default alias.
    @Test func aPathDiscoversItsParameters() async throws {
        let peers = try await Self.seededPeers()
        defer { peers.stop() }
        _ = try await BlackBox.admin(peers, ["ssm-put", "/pipeline-pulse/prod/nested/deep", "deep-value", "String"])
        _ = try await BlackBox.admin(peers, ["ssm-put", "/pipeline-pulse/staging/db-pass", "not-this-one", "String"])
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = "\(folder)/out"
        var environment = Self.environment(peers)
        environment["SECRETS_INJECTOR_CONFIG"] = Self.config(
            output, secrets: #"{"parameterPath": "/pipeline-pulse/prod/"}"#,
            extra: #", "templates": [{"file": "app.env", "template": "REGION={{ region }}\nDEEP={{ deep }}\n"}]"#)
        let result = try await run(BlackBox.binary, ["init"], environment: environment, timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        func read(_ file: String) -> String? { try? String(contentsOfFile: "\(output)/\(file)", encoding: .utf8) }
        #expect(read("db-pass") == Self.values["db-pass"])
        #expect(read("hosts") == Self.values["hosts"] && read("feature") == "feature-two")
        #expect(read("nested/deep") == "deep-value")
        #expect(read("app.env") == "REGION=ap-southeast-1\nDEEP=deep-value\n")
        #expect(!FileManager.default.fileExists(atPath: "\(output)/staging"))
        #expect(!result.stderr.contains(Self.values["db-pass"]!))
    }

    @Test func aNewVersionReachesTheFilesAndOnChange() async throws {
        let peers = try await Self.seededPeers()
        defer { peers.stop() }
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = "\(folder)/out"
        var environment = Self.environment(peers)
        environment["SECRETS_INJECTOR_CONFIG"] = Self.config(
            output, secrets: #"{"id": "/pipeline-pulse/prod/db-pass", "file": "db-pass"}"#,
            extra:
                #", "refresh": {"intervalSeconds": 1}, "onChange": {"command": ["/usr/bin/touch", "\#(folder)/changed"]}"#
        )
        #expect(FileManager.default.createFile(atPath: "\(folder)/sidecar.log", contents: nil))
        let sidecar = try BlackBox.launch(["run"], environment: environment, log: "\(folder)/sidecar.log")
        defer { sidecar.terminate() }
        try #require(
            await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") },
            "not ready")
        _ = try await BlackBox.admin(
            peers, ["ssm-put", "/pipeline-pulse/prod/db-pass", "rotated-param-value-2", "SecureString"])
        let arrived = await SidecarCommandTests.waitFor(20) {
            (try? String(contentsOfFile: "\(output)/db-pass", encoding: .utf8)) == "rotated-param-value-2"
                && FileManager.default.fileExists(atPath: "\(folder)/changed")
        }
        #expect(arrived, "\((try? String(contentsOfFile: "\(folder)/sidecar.log", encoding: .utf8)) ?? "")")
        // The Agent API is Secrets Manager's: a parameter is not one of its answers.
        let agent = try await SidecarCommandTests.curl([
            "--unix-socket", "\(output)/injector.sock",
            "http://localhost/secretsmanager/get?secretId=/pipeline-pulse/prod/db-pass",
        ])
        #expect(agent.status != 200 && !agent.body.contains("rotated-param-value-2"), "\(agent)")
        let log = try String(contentsOfFile: "\(folder)/sidecar.log", encoding: .utf8)
        #expect(!log.contains("rotated-param-value-2") && !log.contains(Self.values["db-pass"]!))
    }
}
