import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The auditor's least policy, `task-definitions/iam/review-policy.json`: `review`, `review access`
/// and `review permissions` run on it without a refusal, and each of its actions is needed (a user
/// with every other action is refused, or loses a field). moto checks the actions of a signed call,
/// not its resources (it authorizes every call against `*`), so the users here get the policy's
/// actions on `*`, and the policy's own resources are checked against moto's secrets and key ARNs.
/// CloudTrail is the stand-in, which checks no policy: that `LookupEvents` is needed is shown by
/// the auditor's requests reaching it.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct ReviewPolicyTests {
    static let example = Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path
    static let policyFile = Repository.root.appendingPathComponent("task-definitions/iam/review-policy.json").path

    struct Statement {
        var actions: [String]
        var resources: [String]
    }

    static func statements() throws -> [Statement] {
        let policy = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: policyFile))) as? [String: Any]
        )
        let statements = try #require(policy["Statement"] as? [[String: Any]])
        return statements.map { statement in
            func list(_ key: String) -> [String] {
                (statement[key] as? [String]) ?? (statement[key] as? String).map { [$0] } ?? []
            }
            #expect(statement["Effect"] as? String == "Allow")
            return Statement(actions: list("Action"), resources: list("Resource"))
        }
    }

    @Test func everyCallTheReviewsMakeAndNothingElse() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        let statements = try Self.statements()
        let actions = statements.flatMap(\.actions)
        #expect(Set(actions).count == actions.count, "an action listed twice")
        // A customer managed key on one secret, so that review permissions reads its key policy.
        let key = try await peers.admin(["key", "pipeline-pulse/prod/jwt", "the jwt secret's key"])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let secretARNs = try await peers.admin(["arns", "pipeline-pulse/prod/", "-"])
            .split(separator: "\n").map(String.init)
        #expect(secretARNs.count == 4)

        // The policy's resources: each action's statement covers what the reviews call it on.
        func covers(_ action: String, _ resource: String) -> Bool {
            statements.contains { statement in
                statement.actions.contains(action) && statement.resources.contains { fnmatch($0, resource, 0) == 0 }
            }
        }
        for action in ["DescribeSecret", "ListSecretVersionIds", "GetResourcePolicy"] {
            for arn in secretARNs { #expect(covers("secretsmanager:\(action)", arn), "\(action) on \(arn)") }
        }
        for action in ["kms:DescribeKey", "kms:GetKeyPolicy"] { #expect(covers(action, key), "\(action) on \(key)") }
        for action in ["secretsmanager:ListSecrets", "cloudtrail:LookupEvents", "iam:GetAccountAuthorizationDetails"] {
            #expect(covers(action, "*"), "\(action) on *")
        }

        let cloudTrail = try await AccessReviewTests.standIn(peers, ["--scenario", "clean"])
        defer { cloudTrail.stop() }
        let taskRole = AccessReviewTests.taskRole
        var outputs: [String] = []
        /// The three reviews as `user` (an IAM user allowed `allowed` on `*`) runs them.
        func reviews(_ user: String, _ allowed: [String]) async throws -> [CommandResult] {
            let keys = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(try await peers.admin(["user", user, allowed.joined(separator: ",")]).utf8))
                    as? [String: String])
            let environment = [
                "AWS_ACCESS_KEY_ID": keys["AccessKeyId"] ?? "", "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"] ?? "",
                "AWS_REGION": peers.string("region"), "AWS_ENDPOINT_URL": peers.string("endpoint"),
                "AWS_ENDPOINT_URL_CLOUDTRAIL": cloudTrail.string("endpoint"),
            ]
            // namePrefix: the configured secrets are listed (ListSecrets), as an operator's may be.
            let scope = ["--config", Self.example, "--name-prefix", "pipeline-pulse/prod/"]
            var results: [CommandResult] = []
            for command in [["review"], ["review", "access"], ["review", "permissions"]] {
                // CloudTrail's limit is per account: one run's requests and the next's must not share a second.
                if command.count > 1 { try await Task.sleep(for: .seconds(1.1)) }
                let expected = command.count > 1 ? ["--expected-principal", taskRole] : []
                let result = try await run(
                    BlackBox.binary, command + scope + expected, environment: environment, timeout: 90)
                outputs += [result.stdout, result.stderr]
                results.append(result)
            }
            return results
        }

        // The whole policy: no refusal and no unknown field; findings (exit 1) are the account's.
        let full = try await reviews("auditor", actions)
        for result in full {
            #expect([0, 1].contains(result.status), "\(result.stderr)")
            #expect(!result.stdout.contains("unknown"), "\(result.stdout)")
        }
        #expect(full[1].stdout.contains("pipeline-pulse/prod/database"), "\(full[1].stdout)")
        #expect(full[2].stdout.contains(key), "review permissions did not read the customer managed key")
        let answers = try await AccessReviewTests.requests(cloudTrail).answers
        #expect(!answers.isEmpty, "review access never reached CloudTrail")
        #expect(!answers.contains { $0.contains("Denied") })

        // Without any one action, a review is refused naming the call (exit 3), or loses the field
        // the call fills (review's `unknown`).
        for (index, action) in actions.enumerated() where action != "cloudtrail:LookupEvents" {
            let operation = String(action.split(separator: ":").last ?? "")
            let results = try await reviews("auditor-\(index)", actions.filter { $0 != action })
            let refused = results.contains { $0.status == 3 && $0.stderr.contains(operation) }
            let lostAField = results[0].stdout.contains(": unknown")
            #expect(refused || lostAField, "\(action) is not needed: \(results.map(\.stderr))")
        }
        for output in outputs {
            try BlackBox.expectNoSecret(of: peers.ready["secrets"] as? [String: String] ?? [:], in: output)
        }
    }
}
