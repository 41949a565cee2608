import Foundation
import TestSupport
import Testing

/// The `env` file against the readers of dotenv files (docs/outputs.md, "dotenv files and their readers"):
/// a corpus of hostile values, each written by `init` into a file of its own and all of them into
/// one, read by python-dotenv (both settings), Docker Compose v1, Docker Compose v2's rules, sh and
/// bash. docs/outputs.md's table is this test's output.
@Suite struct DotenvReaderTests {
    static let punctuation = Array("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").map { "a\($0)b" }
    static let corpus: [String] =
        punctuation + [
            "$HOME", "${HOME}", "pre${HOME}post", "$(touch ran-dollar)", "`touch ran-backtick`", "ends with \\",
            "two \\\\ backslashes", "line one\nline two", "it's $HOME", "it's `touch ran-quoted`", "a\\'b",
            "a\\\\b$HOME", "p@$$w0rd'\"\\`x", "tab\there", "  spaced  ", "#not a comment", "",
        ]

    static var canRead: Bool {
        pythonHasModule("dotenv") && pythonHasModule("yaml")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/docker-compose")
    }

    /// `init` writes `entries` (name → value) as the env file; returns its text.
    static func envFile(_ values: [String: String], folder: String) async throws -> String {
        let source = "\(folder)/dev.json"
        try JSONSerialization.data(
            withJSONObject: Dictionary(uniqueKeysWithValues: values.map { ("app/\($0.key)", $0.value) })
        )
        .write(to: URL(fileURLWithPath: source))
        let entries = values.keys.sorted().map { #"{"name": "\#($0)", "valueFrom": "app/\#($0)"}"# }
        let config =
            #"{"source": {"local": "\#(source)"}, "outputDir": "\#(folder)/out", "secrets": [], "env": {"file": "secrets.env", "entries": [\#(entries.joined(separator: ","))]}, "log": {"level": "error"}}"#
        let result = try await run(BlackBox.binary, ["init"], environment: ["SECRETS_INJECTOR_CONFIG": config])
        try #require(result.status == 0, "\(result.stderr)")
        return try String(contentsOfFile: "\(folder)/out/secrets.env", encoding: .utf8)
    }

    @Test(.enabled(if: canRead, "needs python-dotenv, PyYAML and docker-compose"))
    func everyReaderGetsWhatTheDocsSay() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var files: [String: String] = [:]
        for (index, value) in Self.corpus.enumerated() {
            let caseFolder = "\(folder)/case\(index)"
            try FileManager.default.createDirectory(atPath: caseFolder, withIntermediateDirectories: true)
            let text = try await Self.envFile(["V": value], folder: caseFolder)
            try text.write(toFile: "\(folder)/case\(index).env", atomically: true, encoding: .utf8)
            files["\(index)"] = "\(folder)/case\(index).env"
        }
        let all = Dictionary(uniqueKeysWithValues: Self.corpus.enumerated().map { ("V\($0.offset)", $0.element) })
        try FileManager.default.createDirectory(atPath: "\(folder)/all", withIntermediateDirectories: true)
        try await Self.envFile(all, folder: "\(folder)/all").write(
            toFile: "\(folder)/all.env", atomically: true, encoding: .utf8)
        files["all"] = "\(folder)/all.env"
        try JSONSerialization.data(withJSONObject: ["files": files]).write(
            to: URL(fileURLWithPath: "\(folder)/cases.json"))
        let result = try await run(
            "/usr/bin/env",
            [
                "python3",
                Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/dotenv_readers.py").path,
                "\(folder)/cases.json",
            ], environment: ProcessInfo.processInfo.environment.merging(["HOME": "/home/reader"]) { $1 }, timeout: 600)
        try #require(result.status == 0, "\(result.stderr)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: Any]])

        func outcome(_ got: Any?, _ expected: [String: String]) -> String {
            if let text = got as? String { return text.hasPrefix("error: refused") ? "refuses the file" : text }
            guard let got = got as? [String: String] else { return "?" }
            let differing = expected.keys.sorted().filter { got[$0] != expected[$0] }
            if differing.isEmpty { return "exact" }
            return differing.map { Self.code(got[$0] ?? "(missing)") }.joined(separator: ", ")
        }
        let readers = [
            "python-dotenv interpolate=False", "python-dotenv default", "Compose v1", "Compose v2", "sh", "bash",
        ]
        var rows: [(outcome: String, values: [String])] = []
        for (index, value) in Self.corpus.enumerated() {
            let got = try #require(report["\(index)"])
            #expect(got["ran a command"] as? Bool == false, "\(Self.show(value)): a reader ran a command")
            let cells = readers.map { outcome(got[$0], ["V": value]) }
            // What we promise (docs/outputs.md): python-dotenv without interpolation always; Compose v2 unless the
            // value has both a backslash escape and a $; sh exactly or not at all.
            #expect(cells[0] == "exact", "\(Self.show(value)): python-dotenv got \(cells[0])")
            let backslashEscape = value.hasSuffix("\\") || value.contains("\\\\") || value.contains("\\'")
            if !(backslashEscape && value.contains("$")) {
                #expect(cells[3] == "exact", "\(Self.show(value)): Compose v2 got \(cells[3])")
            }
            for shell in [cells[4], cells[5]] {
                #expect(shell == "exact" || shell == "refuses the file", "\(Self.show(value)): sh got \(shell)")
            }
            if !value.contains("'"), !backslashEscape { #expect(cells[4] == "exact") }
            let row = cells.joined(separator: " | ")
            if let existing = rows.firstIndex(where: { $0.outcome == row }) {
                rows[existing].values.append(value)
            } else {
                rows.append((row, [value]))
            }
        }
        // All values in one file: sh refuses it as a whole before running or expanding anything.
        let combined = try #require(report["all"])
        #expect(combined["ran a command"] as? Bool == false)
        #expect(outcome(combined["sh"], all) == "refuses the file")
        #expect(outcome(combined["bash"], all) == "refuses the file")
        #expect(outcome(combined["python-dotenv interpolate=False"], all) == "exact")

        var table = [
            "| values | " + readers.joined(separator: " | ") + " |",
            "|---" + String(repeating: "|---", count: readers.count) + "|",
        ]
        for row in rows {
            table.append("| " + row.values.map(Self.code).joined(separator: " ") + " | " + row.outcome + " |")
        }
        let generated = table.joined(separator: "\n")
        let page = try String(contentsOf: Repository.root.appendingPathComponent("docs/outputs.md"), encoding: .utf8)
        #expect(page.contains(generated), "docs/outputs.md's table is out of date; this run gives:\n\(generated)")
    }

    /// A value as Markdown code (a double-backtick span when it holds a backtick).
    static func code(_ value: String) -> String {
        value.contains("`") ? "`` \(show(value)) ``" : "`\(show(value))`"
    }

    /// A value as one line of Markdown code: line breaks and tabs shown as escapes, `|` escaped.
    static func show(_ value: String) -> String {
        if value.isEmpty { return "(empty)" }
        return value.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\t", with: "\\t")
            .replacingOccurrences(of: "|", with: "\\|")
    }
}
