import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// With no role ARN in the task definition and no region, the least policy granted
    /// `arn:aws:secretsmanager:*:*:secret:…` and `arn:aws:ssm:*:*:…` without a word.
    @Test(
        "10. migrate's policy names the account and region, from the task definition, the flags or --apply; a wildcard left is said",
        .enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func migratesPolicyHoldsNoSilentWildcard() async throws {
        let fixture = try await MigrateFixture.start()
        defer { fixture.stop() }
        // No role ARN, a secret to move and a parameter to carry.
        var definition: [String: Any] = [
            "family": "shop",
            "containerDefinitions": [
                [
                    "name": "app", "image": "shop:1", "essential": true,
                    "environment": [["name": "API_TOKEN", "value": "tok-7Hq2Lw9xVb4Nc6Zr"]],
                    "secrets": [["name": "SMTP_PASSWORD", "valueFrom": "/shop/prod/smtp-password"]],
                ]
            ],
        ]
        try JSONSerialization.data(withJSONObject: definition).write(
            to: URL(fileURLWithPath: "\(fixture.folder)/before.json"))
        func statements(_ out: String) throws -> [String] {
            let policy = try fixture.json("\(fixture.folder)/\(out)/task-role-policy.json") as! [String: Any]
            return (policy["Statement"] as! [[String: Any]]).flatMap { $0["Resource"] as! [String] }
        }
        let migrate = [
            "migrate", "--task-definition", "before.json", "--prefix", "shop/prod/", "--image",
            "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/secrets-injector:1",
        ]

        // Offline, nothing says the account or the region: one warning line names the wildcards.
        let unknown = try await fixture.tool(migrate + ["--out", "unknown"])
        #expect(unknown.status == 0, "\(unknown.stderr)")
        let warnings = unknown.stderr.split(separator: "\n").filter { $0.contains("warning") }
        #expect(warnings.count == 1, "\(unknown.stderr)")
        #expect(
            warnings.first.map { $0.contains(":*:*:") && $0.contains("--account") && $0.contains("--region") }
                == true, "\(unknown.stderr)")

        // The flags: no wildcard, no warning.
        let flagged = try await fixture.tool(
            migrate + ["--out", "flagged", "--account", "210987654321", "--region", "eu-west-1"])
        #expect(flagged.status == 0 && !flagged.stderr.contains("warning"), "\(flagged.stderr)")
        for resource in try statements("flagged") {
            #expect(resource.contains(":eu-west-1:210987654321:"), "\(resource)")
        }
        let badAccount = try await fixture.tool(migrate + ["--account", "12345"])
        #expect(
            badAccount.status == 2 && badAccount.stderr.contains("--account")
                && badAccount.stderr.split(separator: "\n").count == 1, "\(badAccount.stderr)")

        // --apply: the secrets' own ARNs say the account, for the parameter too.
        let applied = try await fixture.tool(migrate + ["--out", "applied", "--apply"], environment: fixture.operator_)
        #expect(applied.status == 0 && !applied.stderr.contains("warning"), "\(applied.stderr)")
        let resources = try statements("applied")
        #expect(resources.count == 2, "\(resources)")
        for resource in resources { #expect(resource.contains(":ap-southeast-1:123456789012:"), "\(resource)") }

        // A role ARN in the task definition says the account; the region still needs saying.
        definition["taskRoleArn"] = "arn:aws:iam::123456789012:role/shop-task"
        try JSONSerialization.data(withJSONObject: definition).write(
            to: URL(fileURLWithPath: "\(fixture.folder)/before.json"))
        let roleOnly = try await fixture.tool(migrate + ["--out", "role"])
        #expect(
            roleOnly.stderr.contains("warning") && roleOnly.stderr.contains(":*:123456789012:")
                && !roleOnly.stderr.contains("--account"), "\(roleOnly.stderr)")
    }
}
