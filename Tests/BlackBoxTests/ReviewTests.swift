import Foundation
import TestSupport
import Testing

/// `secrets-injector review` against moto, on the Pipeline Pulse example: the states
/// moto can make (rotation off on the database credential, never accessed, scheduled for
/// deletion, a failover region without a replica), a denied `DescribeSecret` (exit 3), and no
/// value in any output. The clean case and the age finding are `ReviewFindingTests`': moto never
/// fills `LastAccessedDate`, and its secrets are as old as the test.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct ReviewTests {
    static let example = Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path

    @Test func findingsFromMotoAndNoValue() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        func review(_ arguments: [String], role: String = "pipeline-pulse-task", config: String = "{}") async throws
            -> CommandResult
        {
            try await run(
                BlackBox.binary, ["review", "--config", Self.example] + arguments,
                environment: BlackBox.taskEnvironment(peers, role: role, ["SECRETS_INJECTOR_CONFIG": config]),
                timeout: 60)
        }
        var outputs: [String] = []

        let text = try await review([])
        #expect(text.status == 1, "\(text.stderr)")
        #expect(
            text.stdout.contains(
                "pipeline-pulse/prod/database\n  rotation: off\n"),
            "\(text.stdout)")
        #expect(
            text.stdout.contains(
                "  finding: rotation is off on a database credential (a template builds a database URL from it)\n"))
        // moto leaves LastAccessedDate empty; its role may not list versions nor read policies.
        #expect(text.stdout.components(separatedBy: "  finding: never accessed\n").count == 5)
        // Only the database secret is in the template's URL: not zoho, nor currency.
        #expect(text.stdout.components(separatedBy: "rotation is off on a database credential").count == 2)
        #expect(text.stdout.contains("  resource policy: unknown\n"))
        outputs += [text.stdout, text.stderr]

        // Scheduled for deletion, and a failover region with no replica: JSON.
        let deletion = try await run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import boto3,os;boto3.client('secretsmanager',endpoint_url=os.environ['E'],region_name='ap-southeast-1',aws_access_key_id=os.environ['K'],aws_secret_access_key=os.environ['S']).delete_secret(SecretId='pipeline-pulse/prod/jwt',RecoveryWindowInDays=7)",
            ],
            environment: [
                "E": peers.string("endpoint"), "K": peers.string("adminAccessKeyId"),
                "S": peers.string("adminSecretAccessKey"), "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "",
            ])
        try #require(deletion.status == 0, "\(deletion.stderr)")
        let json = try await review(
            ["--format", "json"], config: #"{"failover": [{"region": "ap-south-1", "endpoint": "http://127.0.0.1:9"}]}"#
        )
        #expect(json.status == 1, "\(json.stderr)")
        let secrets = try #require(
            (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["secrets"]
                as? [[String: Any]])
        let findings = Dictionary(
            uniqueKeysWithValues: secrets.map { ($0["secretId"] as! String, $0["findings"] as! [String]) })
        #expect(findings.count == 4)
        #expect(findings["pipeline-pulse/prod/jwt"]?.first?.hasPrefix("deleted or scheduled for deletion (") == true)
        #expect(
            findings.values.allSatisfy {
                $0.contains("failover region ap-south-1 has no InSync replica (no replica)")
            })
        outputs += [json.stdout, json.stderr]
        let markdown = try await review(["--format", "markdown"])
        #expect(markdown.stdout.hasPrefix("| secret | rotation |"), "\(markdown.stdout)")
        outputs += [markdown.stdout]

        // DescribeSecret denied: exit 3, naming it.
        let denied = try await review([], role: "pipeline-pulse-get-only")
        #expect(denied.status == 3, "\(denied)")
        #expect(denied.stderr.contains("DescribeSecret") && denied.stderr.split(separator: "\n").count == 1)
        outputs += [denied.stdout, denied.stderr]

        let seeded = peers.ready["secrets"] as? [String: String] ?? [:]
        for text in outputs { try BlackBox.expectNoSecret(of: seeded, in: text) }
    }
}
