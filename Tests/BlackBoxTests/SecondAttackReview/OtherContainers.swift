import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// Found in reading: with `--container`, the other containers' secrets stayed in the new task
    /// definition without a word.
    @Test("migrate --container says which other containers keep secrets in plain text")
    func otherContainersSecretsAreNamed() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let definition: [String: Any] = [
            "family": "shop", "taskRoleArn": "arn:aws:iam::123456789012:role/shop-task",
            "containerDefinitions": [
                [
                    "name": "app", "image": "a",
                    "environment": [["name": "API_TOKEN", "value": "tok-7Hq2Lw9xVb4Nc6Zr"]],
                ],
                [
                    "name": "worker", "image": "w",
                    "environment": [
                        ["name": "SMTP_PASSWORD", "value": "smtp-Pa55-9f8e7d"], ["name": "LOG_LEVEL", "value": "info"],
                    ],
                ],
            ],
        ]
        try JSONSerialization.data(withJSONObject: definition).write(to: URL(fileURLWithPath: "\(folder)/td.json"))
        let result = try await run(
            "/bin/sh",
            [
                "-c", "cd \"$0\" && exec \"$@\"", folder, BlackBox.binary, "migrate", "--task-definition", "td.json",
                "--prefix", "shop/", "--container", "app", "--region", "ap-southeast-1", "--image",
                "registry.example/secrets-injector:1",
            ],
            environment: ["HOME": folder, "PATH": "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stderr)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("warning") }
        #expect(
            warnings.count == 1 && warnings[0].contains("worker") && warnings[0].contains("SMTP_PASSWORD")
                && !warnings[0].contains("LOG_LEVEL"), "\(result.stderr)")
        let guide = try String(contentsOfFile: "\(folder)/migration/MIGRATION.md", encoding: .utf8)
        #expect(guide.contains("`worker`") && guide.contains("`SMTP_PASSWORD`"))
        #expect(!result.stderr.contains("smtp-Pa55") && !guide.contains("smtp-Pa55"))
    }
}
