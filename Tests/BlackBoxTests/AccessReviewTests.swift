import Foundation
import TestSupport
import Testing

/// `secrets-injector review access` against moto (the secrets, DescribeSecret) and the CloudTrail
/// stand-in (`scripts/harness/cloudtrail_standin.py`: LookupEvents with CloudTrail's paging,
/// rate limit and record shapes), on the Pipeline Pulse example: each finding, none on a clean
/// account, a denied LookupEvents (exit 3), the flags' usage errors (exit 2), the pace (never more
/// than two requests in a second), and no secret value in any output.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct AccessReviewTests {
    static let example = Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path
    static let taskRole = "arn:aws:iam::123456789012:role/pipeline-pulse-task"

    /// The stand-in, seeded with `scenario`, reading the secrets' ARNs from the peers' moto.
    static func standIn(_ peers: PeerProcess, _ arguments: [String]) async throws -> PeerProcess {
        try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/cloudtrail_standin.py"),
            arguments: arguments,
            environment: peers.adminEnvironment.merging([
                "CREDENTIALS_URL": peers.string("credentials"), "CREDENTIALS_TOKEN": peers.string("token"),
            ]) { $1 }, timeout: 60)
    }

    /// `review access` as an auditor runs it, with `role`'s credentials.
    static func review(
        _ peers: PeerProcess, _ cloudTrail: PeerProcess, _ arguments: [String],
        role: String = "pipeline-pulse-task"
    ) async throws -> CommandResult {
        // CloudTrail's limit is per account: one run's last request and the next one's first must
        // not share a second.
        try await Task.sleep(for: .seconds(1.1))
        return try await run(
            BlackBox.binary, ["review", "access", "--config", Self.example] + arguments,
            environment: BlackBox.taskEnvironment(
                peers, role: role, ["AWS_ENDPOINT_URL_CLOUDTRAIL": cloudTrail.string("endpoint")]),
            timeout: 90)
    }

    /// Every request's arrival (seconds) and answer, as the stand-in saw them.
    static func requests(_ cloudTrail: PeerProcess) async throws -> (arrivals: [Double], answers: [String]) {
        let answer = try await SidecarCommandTests.curl([cloudTrail.string("control") + "requests"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        return (object["arrivals"] as? [Double] ?? [], object["answers"] as? [String] ?? [])
    }

    static func taskDefinition(_ text: String) throws -> String {
        let path = try BlackBox.temporaryFolder() + "/task-definition.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func eachFindingAndNoValue() async throws {
        let peers = try await BlackBox.sharedPeers.value
        // The second request is answered ThrottlingException once; the describe-only role's keys are denied.
        let cloudTrail = try await Self.standIn(
            peers, ["--scenario", "findings", "--throttle-request", "2", "--deny-role", "pipeline-pulse-describe-only"])
        defer { cloudTrail.stop() }
        var outputs: [String] = []
        let registered = try Self.taskDefinition(
            #"{"family": "pipeline-pulse", "taskRoleArn": "\#(Self.taskRole)", "containerDefinitions": []}"#)
        let described = try Self.taskDefinition(
            #"{"taskDefinition": {"family": "pipeline-pulse", "revision": 7, "taskRoleArn": "\#(Self.taskRole)"}}"#)

        // Text, the task role from the registered task definition, reads outside a VPC endpoint flagged.
        let text = try await Self.review(
            peers, cloudTrail, ["--task-definition", registered, "--require-vpc-endpoint"])
        outputs += [text.stdout, text.stderr]
        #expect(text.status == 1, "\(text.stderr)")
        let stdout = text.stdout
        // The task role's records name its role with a path (role/ecs/…): the same role.
        #expect(
            stdout.contains(
                "pipeline-pulse/prod/database\n  arn: arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-"
            ), "\(stdout)")
        #expect(stdout.contains("  reader: \(Self.taskRole) (AssumedRole, expected): 34 reads, "))
        #expect(
            stdout.contains(
                "    from vpce-0a1b2c3d4e5f60718 (VPC endpoint) with secrets-injector/1.0 (Linux; x86_64): 30 reads, "))
        #expect(stdout.contains("    from 54.251.10.20 with secrets-injector/1.0 (Linux; x86_64): 4 reads, "))
        #expect(
            stdout.contains(
                "  finding: read by arn:aws:iam::123456789012:role/data-export, not an expected principal: 2 reads, last "
            ))
        #expect(
            stdout.contains(
                "  finding: read by arn:aws:iam::123456789012:user/alice, not an expected principal: 1 read, last "))
        #expect(
            stdout.contains(
                "  finding: access denied: arn:aws:iam::123456789012:role/ci-deployer tried GetSecretValue 1 time, last "
            ))
        #expect(stdout.contains("pipeline-pulse/prod/jwt\n"))
        #expect(stdout.contains("  finding: nobody read it in the last 90 days\n"))
        #expect(stdout.components(separatedBy: "  finding: nobody read it").count == 2)
        #expect(
            stdout.contains(
                "  finding: read without a VPC endpoint by \(Self.taskRole): 4 reads from 54.251.10.20\n"))
        // The batch read counts once per secret: zoho 12 reads + 1, currency 1.
        #expect(stdout.contains("pipeline-pulse/prod/currency\n  arn: "))
        #expect(stdout.contains("  reader: \(Self.taskRole) (AssumedRole, expected): 13 reads, "))
        #expect(stdout.contains("  reader: \(Self.taskRole) (AssumedRole, expected): 1 read, "))
        #expect(stdout.contains("read: 65 Secrets Manager events in 2 pages, 1 throttled request retried\n"))
        #expect(stdout.hasSuffix("7 findings in 3 of 4 secrets\n"))

        // JSON, the expected role given as a session ARN; without --require-vpc-endpoint.
        let json = try await Self.review(
            peers, cloudTrail,
            [
                "--format", "json", "--expected-principal",
                "arn:aws:sts::123456789012:assumed-role/pipeline-pulse-task/0f1e",
            ])
        outputs += [json.stdout, json.stderr]
        #expect(json.status == 1, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["findings"] as? Int) == 4)
        #expect((object["lookup"] as? [String: Any])?["pages"] as? Int == 2)
        let secrets = try #require(object["secrets"] as? [[String: Any]])
        let findings = Dictionary(
            uniqueKeysWithValues: secrets.map { ($0["secretId"] as! String, $0["findings"] as! [String]) })
        #expect(findings["pipeline-pulse/prod/currency"] == [])
        #expect(findings["pipeline-pulse/prod/database"]?.count == 1)
        let readers = try #require(secrets.first?["readers"] as? [[String: Any]])
        #expect(
            readers.map { $0["principal"] as? String } == [Self.taskRole, "arn:aws:iam::123456789012:role/data-export"])
        #expect(readers.map { $0["expected"] as? Bool } == [true, false])
        #expect(readers.map { $0["reads"] as? Int } == [34, 2])

        // Markdown, the task role from describe-task-definition's output.
        let markdown = try await Self.review(
            peers, cloudTrail, ["--format", "markdown", "--task-definition", described])
        outputs += [markdown.stdout, markdown.stderr]
        #expect(markdown.status == 1, "\(markdown.stderr)")
        #expect(markdown.stdout.contains("| secret | reader | expected | reads | first | last | from | with |\n"))
        #expect(markdown.stdout.contains("| arn:aws:iam::123456789012:user/alice | **no** | 1 |"), "\(markdown.stdout)")

        // The pace: never more than two requests in one second, and more than one page each run.
        let seen = try await Self.requests(cloudTrail)
        #expect(seen.answers.filter { $0 == "page" }.count == 6, "\(seen.answers)")
        #expect(seen.answers.filter { $0 == "throttled" }.count == 1, "\(seen.answers)")
        for index in seen.arrivals.indices.dropLast(2) {
            #expect(seen.arrivals[index + 2] - seen.arrivals[index] >= 1.0, "\(seen.arrivals)")
        }

        // LookupEvents denied: exit 3, one line naming the permission.
        let denied = try await Self.review(
            peers, cloudTrail, ["--expected-principal", Self.taskRole], role: "pipeline-pulse-describe-only")
        outputs += [denied.stdout, denied.stderr]
        #expect(denied.status == 3, "\(denied)")
        #expect(denied.stderr.contains("cloudtrail:LookupEvents") && denied.stderr.split(separator: "\n").count == 1)
        #expect(denied.stdout.isEmpty)

        // Usage: a window beyond the event history, and no expected principal.
        let tooLong = try await Self.review(peers, cloudTrail, ["--days", "91", "--expected-principal", Self.taskRole])
        #expect(tooLong.status == 2 && tooLong.stderr.split(separator: "\n").count == 1, "\(tooLong)")
        #expect(tooLong.stderr.contains("CloudTrail's event history keeps 90 days"))
        let nobody = try await Self.review(peers, cloudTrail, [])
        #expect(nobody.status == 2 && nobody.stderr.split(separator: "\n").count == 1, "\(nobody)")
        #expect(nobody.stderr.contains("--expected-principal") && nobody.stderr.contains("--task-definition"))
        outputs += [tooLong.stdout, tooLong.stderr, nobody.stdout, nobody.stderr]
        // Neither reached CloudTrail.
        #expect(try await Self.requests(cloudTrail).arrivals.count == seen.arrivals.count + 1)

        let seeded = peers.ready["secrets"] as? [String: String] ?? [:]
        #expect(seeded.count == 4)
        for output in outputs { try BlackBox.expectNoSecret(of: seeded, in: output) }
    }

    @Test func aCleanAccountHasNoFinding() async throws {
        let peers = try await BlackBox.sharedPeers.value
        let cloudTrail = try await Self.standIn(peers, ["--scenario", "clean"])
        defer { cloudTrail.stop() }
        let clean = try await Self.review(
            peers, cloudTrail, ["--expected-principal", Self.taskRole, "--require-vpc-endpoint", "--days", "30"])
        #expect(clean.status == 0, "\(clean)")
        #expect(clean.stdout.hasSuffix("no finding in 4 secrets\n"), "\(clean.stdout)")
        #expect(!clean.stdout.contains("finding:"))
        #expect(clean.stdout.contains("(30 days), CloudTrail event history in ap-southeast-1\n"))
        let seen = try await Self.requests(cloudTrail)
        #expect(seen.answers == ["page", "page"], "\(seen.answers)")
        let seeded = peers.ready["secrets"] as? [String: String] ?? [:]
        try BlackBox.expectNoSecret(of: seeded, in: clean.stdout + clean.stderr)
    }
}
