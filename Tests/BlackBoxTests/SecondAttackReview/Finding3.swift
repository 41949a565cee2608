import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// A YAML file of 544 bytes whose aliases, nine levels of ten, name about 10⁹ nodes; `scan`
    /// under 1 GiB of address space stops at its node limit, says so in one note, and still reports
    /// the folder's other file (exit 1 for it; exit 2 for the note with --strict).
    @Test("3. scan stops a YAML alias bomb at its node limit, in one note, and scans the rest")
    func yamlAliasBombIsOneErrorLine() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var bomb = "services: {}\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...8 {
            bomb +=
                "x\(level): &x\(level) [" + Array(repeating: "*x\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        try bomb.write(toFile: "\(folder)/bomb.yml", atomically: true, encoding: .utf8)
        try "DB_PASSWORD=hunter2-but-longer\n".write(toFile: "\(folder)/app.env", atomically: true, encoding: .utf8)
        for (flags, status, level) in [([String](), 1, "note"), (["--strict"], 2, "error")] {
            let result = try await run(
                "/bin/sh",
                ["-c", "ulimit -v 1048576 && cd \"$0\" && exec \"$@\"", folder, BlackBox.binary, "scan"] + flags,
                environment: ["HOME": folder, "PATH": "/usr/bin:/bin"], timeout: 60)
            #expect(result.duration < 30, "\(result.duration) s")
            #expect(result.status == status, "status \(result.status): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(
                lines.first?.hasPrefix("secrets-injector: \(level): bomb.yml: line ") == true
                    && result.stderr.contains("alias"), "\(result.stderr)")
            #expect(result.stdout.hasPrefix("app.env:1: DB_PASSWORD: sensitive-name\n"), "\(result.stdout)")
        }
    }
}
