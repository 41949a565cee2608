import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// A database URL's query string can hold a secret (`sslpassword`): it moves into the secret
    /// with the rest, and the template still rebuilds the URL byte for byte.
    @Test(
        "2. a database URL's query string moves into the secret, never into injector.json or the task definition",
        .enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func aURLsQueryStringMovesIntoTheSecret() async throws {
        let fixture = try await MigrateFixture.start()
        defer { fixture.stop() }
        let sslPassword = "Ssl-Pa55-7f3c9e"
        let url =
            "postgresql://shop:Sh0p-Pa55word@db.example.com:5432/shop?sslmode=verify-full&sslpassword=\(sslPassword)"
        try fixture.taskDefinition("before.json", environment: [("DATABASE_URL", url), ("LOG_LEVEL", "info")])
        let migrated = try await fixture.tool(
            ["migrate", "--task-definition", "before.json", "--prefix", "shop/prod/", "--apply"],
            environment: fixture.operator_)
        try #require(migrated.status == 0, "\(migrated.stderr)")
        let out = "\(fixture.folder)/migration"
        for file in ["injector.json", "task-definition.json", "MIGRATION.md", "task-role-policy.json"] {
            let text = try String(contentsOfFile: "\(out)/\(file)", encoding: .utf8)
            #expect(!text.contains(sslPassword), "\(file) holds the query's secret")
            #expect(!text.contains("Sh0p-Pa55word"), "\(file) holds the password")
        }
        #expect(!migrated.stdout.contains(sslPassword) && !migrated.stderr.contains(sslPassword))
        let secret = try await fixture.secretValue("shop/prod/database")
        #expect(secret.contains(sslPassword), "the secret holds the query")

        // The app still gets its URL back byte for byte.
        let output = "\(fixture.folder)/run-secrets"
        let initialized = try await fixture.initialize(config: "\(out)/injector.json", output: output)
        try #require(initialized.status == 0, "\(initialized.stderr)")
        #expect(
            try String(contentsOfFile: "\(output)/database.env", encoding: .utf8) == "DATABASE_URL=\"\(url)\"\n")
    }
}
