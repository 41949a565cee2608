import Foundation
import TestSupport
import Testing

/// Every seed and every crash `scripts/fuzz` ever found (`Tests/Fuzz/corpus`, `Tests/Fuzz/crashes`)
/// replayed through the fuzz targets' own code, built plainly: a crash fixed stays fixed.
@Suite struct FuzzCorpusTests {
    static let binary = URL(fileURLWithPath: BlackBox.binary).deletingLastPathComponent()
        .appendingPathComponent("secrets-injector-fuzz").path
    static let targets = ["config", "template", "agent", "json", "credentials", "uri", "files", "scan", "yaml", "iam"]

    @Test(arguments: targets)
    func everySeedAndEveryCrashFoundReplaysCleanly(target: String) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build secrets-injector-fuzz first")
        let fuzz = Repository.root.appendingPathComponent("Tests/Fuzz")
        var inputs = try FileManager.default.contentsOfDirectory(
            atPath: fuzz.appendingPathComponent("corpus/\(target)").path
        )
        .map { fuzz.appendingPathComponent("corpus/\(target)/\($0)").path }
        #expect(!inputs.isEmpty, "a seed corpus for \(target)")
        inputs +=
            ((try? FileManager.default.contentsOfDirectory(atPath: fuzz.appendingPathComponent("crashes").path)) ?? [])
            .filter { $0.hasPrefix("\(target)-") }.map { fuzz.appendingPathComponent("crashes/\($0)").path }
        let result = try await run(Self.binary, [target] + inputs, environment: [:], timeout: 120)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.hasPrefix("replayed \(inputs.count) inputs through \(target)"))
    }
}
