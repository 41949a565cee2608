import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// Short passwords in plain sight: the `hashedSecret` of `scan`'s output and of its baseline is
    /// no unsalted hash a dictionary recovers them from (SHA-256, SHA-1, MD5 of each guess), while
    /// the baseline still keeps the same findings quiet on the next run; a baseline from before,
    /// with unsalted hashes, is refused in one line saying how to write it again.
    @Test("6. scan's hashedSecret is keyed by the baseline's random key: a dictionary of guesses recovers nothing")
    func hashedSecretResistsADictionary() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let passwords = ["Winter2025!", "Passw0rd123"]
        try "DB_PASSWORD=\(passwords[0])\nADMIN_PASSWORD=\(passwords[1])\n".write(
            toFile: "\(folder)/app.env", atomically: true, encoding: .utf8)

        let update = try await MigrationTests.tool(
            ["scan", "--baseline", ".secrets-baseline.json", "--update-baseline"], in: folder)
        #expect(update.status == 0, "\(update.stderr)")
        let json = try await MigrationTests.tool(["scan", "--format", "json"], in: folder)
        #expect(json.status == 1, "\(json.stderr)")
        func hashes(_ text: String) throws -> [String] {
            let findings =
                try (JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any])["findings"]
                as! [[String: Any]]
            return findings.map { $0["hashedSecret"] as! String }
        }
        let baselineText = try String(contentsOfFile: "\(folder)/.secrets-baseline.json", encoding: .utf8)
        let found = try hashes(baselineText) + hashes(json.stdout)
        #expect(found.count == 4)

        // A dictionary attack that holds the very passwords: every guess, hashed the unsalted ways.
        let guesses = ["password", "Password1", "hunter2", "Summer2024!"] + passwords
        let dictionary = try await run(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import hashlib, sys
                for word in sys.stdin.read().split("\\n"):
                    for name in ("sha256", "sha1", "md5", "sha512"):
                        print(hashlib.new(name, word.encode()).hexdigest())
                """,
            ], environment: ["PATH": "/usr/bin:/bin"], input: Data(guesses.joined(separator: "\n").utf8))
        let known = Set(dictionary.stdout.split(separator: "\n").map(String.init))
        #expect(known.count == guesses.count * 4)
        for hash in found { #expect(!known.contains(hash), "a dictionary recovered a password from \(hash)") }

        // The baseline still keeps the same findings quiet, and reports a new one.
        let quiet = try await MigrationTests.tool(["scan", "--baseline", ".secrets-baseline.json"], in: folder)
        #expect(quiet.status == 0, "\(quiet.stdout)\(quiet.stderr)")
        try "API_TOKEN=\(passwords[1])\n".write(toFile: "\(folder)/new.env", atomically: true, encoding: .utf8)
        let again = try await MigrationTests.tool(["scan", "--baseline", ".secrets-baseline.json"], in: folder)
        #expect(again.status == 1 && again.stdout.hasPrefix("new.env:1: API_TOKEN: sensitive-name\n"), "\(again)")

        // A baseline of unsalted hashes (from before) is refused, in one line saying what to run.
        try #"{"findings": [{"file": "app.env", "line": 1, "name": "DB_PASSWORD", "hashedSecret": "00"}]}"#.write(
            toFile: "\(folder)/old-baseline.json", atomically: true, encoding: .utf8)
        let old = try await MigrationTests.tool(["scan", "--baseline", "old-baseline.json"], in: folder)
        #expect(old.status == 2, "\(old)")
        #expect(
            old.stderr.split(separator: "\n").count == 1 && old.stderr.contains("--update-baseline"), "\(old.stderr)")
    }
}
