import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// Names that hold a line end, `::error …`, `::add-mask::`, ESC, DEL and C1: `scan`'s text
    /// output and `migrate`'s output and MIGRATION.md print them escaped, so that no forged line
    /// (a GitHub Actions workflow command) and no terminal escape reaches the reader.
    @Test("4. scan and migrate print names with control characters escaped: no forged line, no terminal escape")
    func controlCharactersInNamesAreEscaped() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let forged = "\\n::error file=app.py,line=1::forged\\n::add-mask::x\\u001b[2J\\u007f\\u009b31m"
        try """
        services:
          "api\(forged)":
            environment:
              "API_TOKEN\(forged)": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"

        """.write(toFile: "\(folder)/docker-compose.yml", atomically: true, encoding: .utf8)
        func expectClean(_ text: String, _ label: String) {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(!lines.contains { $0.hasPrefix("::") }, "\(label): \(text)")
            let controls = text.unicodeScalars.filter {
                ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value)
            }
            #expect(controls.isEmpty, "\(label): \(controls.map(\.value))")
        }
        let scan = try await MigrationTests.tool(["scan"], in: folder)
        #expect(scan.status == 1, "\(scan.stderr)")
        #expect(scan.stdout.split(separator: "\n").count == 2, "\(scan.stdout)")
        #expect(scan.stdout.contains("\\u000a::error file=app.py"), "\(scan.stdout)")
        expectClean(scan.stdout, "scan")

        // The family is the task definition's to name; a container named so is refused in one clean line.
        func definition(container: String) -> [String: Any] {
            [
                "family": "app\n::add-mask::family\u{1B}]0;title\u{07}",
                "containerDefinitions": [
                    [
                        "name": container, "image": "app:1", "essential": true,
                        "environment": [["name": "DB_PASSWORD", "value": "hunter2-but-longer"]],
                    ] as [String: Any]
                ],
            ]
        }
        try JSONSerialization.data(withJSONObject: definition(container: "app")).write(
            to: URL(fileURLWithPath: "\(folder)/td.json"))
        let migrate = try await MigrationTests.tool(
            ["migrate", "--task-definition", "td.json", "--prefix", "app/"], in: folder)
        #expect(migrate.status == 0, "\(migrate.stderr)")
        expectClean(migrate.stdout + migrate.stderr, "migrate")
        expectClean(try String(contentsOfFile: "\(folder)/migration/MIGRATION.md", encoding: .utf8), "MIGRATION.md")
        try JSONSerialization.data(withJSONObject: definition(container: "app\n::error::forged\u{1B}[2J\u{9B}"))
            .write(to: URL(fileURLWithPath: "\(folder)/forged.json"))
        let refused = try await MigrationTests.tool(
            ["migrate", "--task-definition", "forged.json", "--prefix", "app/", "--out", "forged"], in: folder)
        #expect(refused.status == 2 && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        expectClean(refused.stdout + refused.stderr, "migrate refusing a container name")
    }
}
