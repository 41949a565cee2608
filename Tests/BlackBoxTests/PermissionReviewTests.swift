import Foundation
import TestSupport
import Testing

/// `secrets-injector review permissions` against moto, on the Pipeline Pulse example: each finding
/// on a seeded account (`scripts/harness/permission_account.py --seed findings`), none on a clean
/// one, a refused `GetAccountAuthorizationDetails` (exit 3, aws_peers.py's task role), no expected
/// principal (exit 2), no value in any output; and cloudsplaining's verdict on the same account's
/// details cross-checked against ours.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct PermissionReviewTests {
    static let example = Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path
    static let harness = Repository.root.appendingPathComponent("scripts/harness/permission_account.py")
    static let taskRole = "arn:aws:iam::123456789012:role/pipeline-pulse-task"

    static func review(_ account: PeerProcess, _ arguments: [String]) async throws -> CommandResult {
        try await run(
            BlackBox.binary, ["review", "permissions", "--config", example] + arguments,
            environment: [
                "AWS_ACCESS_KEY_ID": "AKIAAUDITOR", "AWS_SECRET_ACCESS_KEY": "auditor",
                "AWS_REGION": account.string("region"), "AWS_ENDPOINT_URL": account.string("endpoint"),
            ], timeout: 60)
    }

    static func values(_ account: PeerProcess) -> [String: String] {
        account.ready["values"] as? [String: String] ?? [:]
    }

    @Test func eachFindingOnASeededAccountAndNoValue() async throws {
        let account = try await PeerProcess.start(python: Self.harness, arguments: ["--seed", "findings"], timeout: 90)
        defer { account.stop() }
        var outputs: [String] = []

        let text = try await Self.review(account, ["--expected-principal", Self.taskRole])
        outputs += [text.stdout, text.stderr]
        #expect(text.status == 1, "\(text.stderr)")
        let expectations = [
            // A principal outside the expected set that can read (a group's policy reaches its user).
            "  finding: arn:aws:iam::123456789012:user/ci-bot can read it and is not an expected principal\n",
            "    through user ci-bot via group deployers: managed policy arn:aws:iam::123456789012:policy/read-pipeline-pulse, statement 1\n",
            // A grant of * on *.
            "  finding: a broad grant reaches it: role pipeline-pulse-admin: inline policy all, statement 1 allows secretsmanager:GetSecretValue by action *, Resource *",
            // A resource policy that admits another account, or anyone.
            "  finding: the resource policy admits another account (444455556666): arn:aws:iam::444455556666:root in statement 1\n",
            "  finding: the resource policy admits anyone (*) in statement 1 (conditional: StringEquals aws:SourceVpce)\n",
            // A key policy wider than the secret's grants.
            "  finding: the KMS key's policy lets arn:aws:iam::123456789012:role/pipeline-pulse-decrypter decrypt",
            "  finding: the KMS key's policy lets 777788889999 decrypt in statement \"Decrypters\", which the secret's own grants do not admit\n",
            "  can read: \(Self.taskRole) (expected)\n",
            "iam:SimulatePrincipalPolicy",
        ]
        for expected in expectations {
            #expect(text.stdout.contains(expected), "\(expected)\n\(text.stdout)")
        }
        // The AWS managed key serves no other account: the admitted account cannot read the database secret.
        #expect(!text.stdout.contains("  can read: arn:aws:iam::444455556666:root"))

        // The task definition names the same task role (describe-task-definition's form); JSON.
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let definition = folder + "/task-definition.json"
        try Data(#"{"taskDefinition": {"family": "pipeline-pulse", "taskRoleArn": "\#(Self.taskRole)"}}"#.utf8)
            .write(to: URL(fileURLWithPath: definition))
        let json = try await Self.review(account, ["--task-definition", definition, "--format", "json"])
        outputs += [json.stdout, json.stderr]
        #expect(json.status == 1, "\(json.stderr)")
        let secrets = try #require(
            (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["secrets"]
                as? [[String: Any]])
        #expect(secrets.count == 4)
        // cloudsplaining reads no key policy: compare on the secrets under the AWS managed key,
        // where secretsmanager:GetSecretValue alone reads (jwt's customer managed key gates it).
        var readers: [String: Set<String>] = [:]
        for secret in secrets {
            let list = secret["readers"] as? [[String: Any]] ?? []
            if secret["customerManagedKey"] as? Bool == false {
                readers[secret["secretId"] as? String ?? ""] = Set(list.compactMap { $0["principal"] as? String })
            }
            #expect(list.contains { $0["principal"] as? String == Self.taskRole && $0["expected"] as? Bool == true })
        }
        let markdown = try await Self.review(account, ["--expected-principal", Self.taskRole, "--format", "markdown"])
        outputs += [markdown.stdout, markdown.stderr]
        #expect(markdown.status == 1)
        #expect(markdown.stdout.hasPrefix("| secret | KMS key | resource policy | can read | findings |"))

        // No expected principal: exit 2, one line saying how to name them.
        let unnamed = try await Self.review(account, [])
        outputs += [unnamed.stdout, unnamed.stderr]
        #expect(unnamed.status == 2)
        #expect(unnamed.stderr.contains("--expected-principal") && unnamed.stderr.contains("--task-definition"))
        #expect(unnamed.stderr.split(separator: "\n").count == 1)

        for output in outputs { try BlackBox.expectNoSecret(of: Self.values(account), in: output) }

        try await crossCheckWithCloudsplaining(account, readers: readers)
    }

    /// Every principal cloudsplaining reports with `secretsmanager:GetSecretValue` data
    /// exfiltration (granted on all resources) must be among those we say can read each secret.
    func crossCheckWithCloudsplaining(_ account: PeerProcess, readers: [String: Set<String>]) async throws {
        let venvs =
            ProcessInfo.processInfo.environment["SECRETS_INJECTOR_VENVS"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/secrets-injector/venvs")
            .path
        let cloudsplaining = venvs + "/cloudsplaining/bin/cloudsplaining"
        guard FileManager.default.isExecutableFile(atPath: cloudsplaining) else {
            print("cross-check skipped: \(cloudsplaining) is missing (scripts/install-deps installs it)")
            return
        }
        let output = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: output) }
        let scan = try await run(
            cloudsplaining,
            ["scan", "--input-file", account.string("details"), "--output", output, "--skip-open-report"],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": output],
            timeout: 120)
        try #require(scan.status == 0, "\(scan.stderr)")
        let results = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: output + "/iam-results-account.json"))) as? [String: Any])
        func entities(_ kind: String) -> [[String: Any]] {
            (results[kind] as? [String: Any] ?? [:]).values.compactMap { $0 as? [String: Any] }
        }
        let users = entities("users")
        let roles = entities("roles")
        var exfiltrating: Set<String> = []
        for kind in ["inline_policies", "customer_managed_policies", "aws_managed_policies"] {
            for case let policy as [String: Any] in (results[kind] as? [String: Any] ?? [:]).values {
                let findings = (policy["DataExfiltration"] as? [String: Any])?["findings"] as? [String] ?? []
                guard findings.contains("secretsmanager:GetSecretValue") else { continue }
                let attached = policy["AttachedTo"] as? [String: [String]] ?? [:]
                for name in attached["roles"] ?? [] {
                    exfiltrating.formUnion(
                        roles.filter { $0["name"] as? String == name }.compactMap { $0["arn"] as? String })
                }
                for name in attached["users"] ?? [] {
                    exfiltrating.formUnion(
                        users.filter { $0["name"] as? String == name }.compactMap { $0["arn"] as? String })
                }
                for group in attached["groups"] ?? [] {
                    exfiltrating.formUnion(
                        users.filter { (($0["groups"] as? [String: Any]) ?? [:]).keys.contains(group) }
                            .compactMap { $0["arn"] as? String })
                }
            }
        }
        // The seeded account has two: the admin role (* on *) and the operators' user.
        #expect(
            exfiltrating == [
                "arn:aws:iam::123456789012:role/pipeline-pulse-admin", "arn:aws:iam::123456789012:user/ops-alice",
            ])
        #expect(readers.count == 3)
        for (secret, principals) in readers {
            #expect(exfiltrating.isSubset(of: principals), "\(secret): \(exfiltrating.subtracting(principals))")
        }
    }

    @Test func noFindingOnACleanAccount() async throws {
        let account = try await PeerProcess.start(python: Self.harness, arguments: ["--seed", "clean"], timeout: 90)
        defer { account.stop() }
        let text = try await Self.review(account, ["--expected-principal", Self.taskRole])
        #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("no finding in 4 secrets\n"))
        #expect(text.stdout.components(separatedBy: "  can read: \(Self.taskRole) (expected)\n").count == 5)
        #expect(!text.stdout.contains("pipeline-pulse-reports"))
        try BlackBox.expectNoSecret(of: Self.values(account), in: text.stdout + text.stderr)
    }

    @Test func aRefusedAuthorizationDetailsExits3NamingThePermission() async throws {
        let peers = try await BlackBox.sharedPeers.value
        let denied = try await run(
            BlackBox.binary,
            ["review", "permissions", "--config", Self.example, "--expected-principal", Self.taskRole],
            environment: BlackBox.taskEnvironment(peers, ["AWS_ENDPOINT_URL": peers.string("endpoint")]), timeout: 60)
        #expect(denied.status == 3, "\(denied)")
        #expect(denied.stderr.contains("iam:GetAccountAuthorizationDetails"), "\(denied.stderr)")
        #expect(denied.stderr.split(separator: "\n").count == 1)
        #expect(denied.stdout.isEmpty)
        let seeded = peers.ready["secrets"] as? [String: String] ?? [:]
        try BlackBox.expectNoSecret(of: seeded, in: denied.stdout + denied.stderr)
    }
}
