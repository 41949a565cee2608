import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// `--apply --overwrite` wrote a production value into a secret someone else had created, with a
    /// resource policy that admitted another account. Before writing into an existing secret,
    /// `migrate` now reads what it is, and refuses one that others can reach or own.
    @Test(
        "7. --overwrite refuses a secret others can reach or own: a foreign policy, KMS key, replica or owner",
        .enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func overwriteRefusesASecretOthersCanReach() async throws {
        let fixture = try await MigrateFixture.start()
        defer { fixture.stop() }
        let value = "sk_live_51Hq9dQ2eZvKYlo2C0ffee7a1b2c3d4e5f"
        try fixture.taskDefinition("before.json", environment: [("STRIPE_API_KEY", value)])
        let migrate = ["migrate", "--task-definition", "before.json", "--apply", "--overwrite"]
        let foreignPolicy = #"""
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "secretsmanager:GetSecretValue",
             "Resource": "*"}]}
            """#
        let cases: [(prefix: String, create: String?, policy: String?, reason: String)] = [
            ("a/", nil, foreignPolicy, "999999999999"),
            (
                "b/",
                #"{"KmsKeyId": "arn:aws:kms:ap-southeast-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"}"#,
                nil, "KMS key"
            ),
            ("c/", #"{"AddReplicaRegions": [{"Region": "eu-west-1"}]}"#, nil, "eu-west-1"),
            ("d/", #"{"Tags": [{"Key": "secrets-injector:family", "Value": "billing"}]}"#, nil, "billing"),
            ("e/", #"{"Tags": [{"Key": "team", "Value": "payments"}]}"#, nil, "team"),
        ]
        for (prefix, create, policy, reason) in cases {
            let name = "\(prefix)stripe-api-key"
            let old = "the-other-teams-value-\(prefix.dropLast())"
            if let create {
                _ = try await BlackBox.admin(fixture.peers, ["create-with", name, old, create])
            } else {
                _ = try await BlackBox.admin(fixture.peers, ["create", name, old])
            }
            if let policy { _ = try await BlackBox.admin(fixture.peers, ["resource-policy", name, policy]) }
            let out = "out-\(prefix.dropLast())"
            let refused = try await fixture.tool(
                migrate + ["--prefix", prefix, "--out", out, "--tag", "team=shop"], environment: fixture.operator_)
            #expect(refused.status == 1, "\(name): \(refused)")
            #expect(
                refused.stderr.contains(name) && refused.stderr.contains(reason)
                    && refused.stderr.contains("--accept-existing-access"),
                "\(name): one line naming the secret, the reason and the flag: \(refused.stderr)")
            #expect(try await fixture.secretValue(name) == old, "\(name) received the value")
            #expect(
                !FileManager.default.fileExists(atPath: "\(fixture.folder)/\(out)/task-role-policy.json"),
                "\(name): no policy names a refused secret")
            #expect(!refused.stdout.contains(value) && !refused.stderr.contains(value))
        }

        // Only the flag that names the risk writes into it; --overwrite alone never did.
        let accepted = try await fixture.tool(
            migrate + ["--prefix", "a/", "--out", "out-accepted", "--accept-existing-access"],
            environment: fixture.operator_)
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try await fixture.secretValue("a/stripe-api-key") == value)

        // An honest overwrite of the secret migrate created itself, in the same account and key.
        let created = try await fixture.tool(
            ["migrate", "--task-definition", "before.json", "--apply", "--prefix", "shop/"],
            environment: fixture.operator_)
        #expect(created.status == 0, "\(created.stderr)")
        try fixture.taskDefinition("changed.json", environment: [("STRIPE_API_KEY", value + "-rotated")])
        let overwritten = try await fixture.tool(
            ["migrate", "--task-definition", "changed.json", "--apply", "--overwrite", "--prefix", "shop/"],
            environment: fixture.operator_)
        #expect(
            overwritten.status == 0 && overwritten.stdout.contains("shop/stripe-api-key: updated"), "\(overwritten)")
    }
}
