import Foundation
import TestSupport
import Testing

/// Both executables end through one entry: every error is one line on standard error,
/// `secrets-injector: error: …`, with the documented exit code. Needs no peers: usage errors, and a
/// local source.
@Suite struct ErrorLineCommandTests {
    static let tools = URL(fileURLWithPath: BlackBox.binary).deletingLastPathComponent()
        .appendingPathComponent("secrets-injector-tools").path

    static func expectOneErrorLine(_ result: CommandResult, _ label: String) {
        #expect(result.stderr.hasPrefix("secrets-injector: error: "), "\(label): \(result.stderr)")
        #expect(
            result.stderr.split(separator: "\n", omittingEmptySubsequences: false).count == 2,
            "\(label): \(result.stderr)")
        #expect(result.stderr.hasSuffix("\n"), "\(label)")
    }

    /// A usage error is one line and exit 2, whichever executable parses it: the daemon, the tools
    /// through the daemon, and the tools run directly.
    @Test func usageErrorsAreOneLineAndExit2() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.tools))
        let cases: [(String, [String])] = [
            (BlackBox.binary, ["get"]), (BlackBox.binary, ["nosuchcommand"]),
            (BlackBox.binary, ["get", "a", "--bogus"]),
            (BlackBox.binary, ["review", "--format", "xml"]), (BlackBox.binary, ["migrate"]),
            (BlackBox.binary, ["migrate", "verify"]), (BlackBox.binary, ["scan", "--format", "xml"]),
            (Self.tools, ["migrate"]), (Self.tools, ["migrate", "--task-definition", "t.json"]),
            (Self.tools, ["scan", "--update-baseline"]), (Self.tools, ["nosuchcommand"]),
        ]
        for (executable, arguments) in cases {
            let result = try await run(executable, arguments, environment: ["PATH": "/usr/bin:/bin"])
            #expect(result.status == 2, "\(executable) \(arguments)")
            Self.expectOneErrorLine(result, "\(executable) \(arguments)")
        }
    }

    /// The daemon alone, as the product image carries it (the tools neither beside it nor on
    /// PATH): `scan`, `migrate` and the access reviews say in one line, exit 2, where the tools are.
    @Test func withoutTheToolsTheErrorSaysWhereTheyAre() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let alone = "\(folder)/secrets-injector"
        try FileManager.default.copyItem(atPath: BlackBox.binary, toPath: alone)
        for arguments in [["scan", "."], ["migrate", "plan"], ["review", "access"]] {
            let result = try await run(alone, arguments, environment: ["PATH": folder])
            #expect(result.status == 2, "\(arguments): \(result)")
            Self.expectOneErrorLine(result, "\(arguments)")
            #expect(result.stderr.contains("is in secrets-injector-tools"), "\(result.stderr)")
            #expect(result.stderr.contains("docker build --target tools"), "the image that has them: \(result.stderr)")
            #expect(result.stderr.contains("scripts/build-release"), "the command that builds them: \(result.stderr)")
        }
    }

    /// A message of several lines (here a configured key with a line end in it) is one line with
    /// its line ends as spaces, from `init` in the daemon and from `migrate verify` in the tools
    /// alike: the tools once escaped the line end instead, the daemon flattened it.
    @Test func aMessageOfSeveralLinesIsOneLineFromBothExecutables() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try #"{"x": "{\"k\": \"v\"}"}"#.write(toFile: "\(folder)/values.json", atomically: true, encoding: .utf8)
        try """
        {"source": {"local": "\(folder)/values.json"}, "outputDir": "\(folder)/out",
         "secrets": [{"id": "x", "keys": {"k\\nz": "f"}}]}
        """.write(toFile: "\(folder)/injector.json", atomically: true, encoding: .utf8)
        try
            #"{"containerDefinitions": [{"name": "app", "image": "app", "environment": [{"name": "A", "value": "1"}]}]}"#
            .write(toFile: "\(folder)/task.json", atomically: true, encoding: .utf8)
        let expected = "secrets-injector: error: secrets[0].keys.k z: secret \"x\" has no key \"x.k z\"\n"
        let initialize = try await run(
            BlackBox.binary, ["init", "--config", "\(folder)/injector.json"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(initialize.status == 3 && initialize.stderr == expected, "\(initialize)")
        for executable in [BlackBox.binary, Self.tools] {
            let verify = try await run(
                executable,
                [
                    "migrate", "verify", "--task-definition", "\(folder)/task.json", "--config",
                    "\(folder)/injector.json",
                ],
                environment: ["PATH": "/usr/bin:/bin"])
            #expect(verify.status == 3 && verify.stderr == expected, "\(executable): \(verify)")
        }
    }
}
