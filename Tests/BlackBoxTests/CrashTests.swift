import Foundation
import TestSupport
import Testing

/// SIGKILLs `secrets-injector init` at random moments while it rewrites a generation of many
/// files; after each kill a reader checks that every visible file is complete and that all of
/// them come from one generation.
@Suite struct GenerationCrashTests {
    static let fileCount = 250
    static let requiredKills = 200

    @Test func killedWritersNeverLeaveAPartialOrMixedSet() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: BlackBox.binary))
        let report = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try Self.crashLoop() }) }
        }
        #expect(report.kills >= Self.requiredKills, "only \(report.kills) kills landed during a run")
        #expect(report.problems.isEmpty, "\(report.problems.prefix(5))")
        #expect(report.generationsSeen > 1, "the loop must have committed new generations between kills")
    }

    struct Report {
        var kills = 0
        var problems: [String] = []
        var generationsSeen = 0
    }

    static func crashLoop() throws -> Report {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let secretsFile = "\(folder)/secrets.json"
        let output = "\(folder)/out"
        let config =
            #"{"source": {"local": "\#(secretsFile)"}, "outputDir": "\#(output)", "secrets": [{"namePrefix": "app/"}], "log": {"level": "error"}}"#
        let environment = ["SECRETS_INJECTOR_CONFIG": config]

        func writeSecrets(generation: Int) throws {
            var members: [String] = []
            for index in 0..<fileCount {
                let pad = String(repeating: "x", count: 1000 + index)
                members.append(
                    #""app/s\#(index)": {"generation": \#(generation), "index": \#(index), "pad": "\#(pad)"}"#)
            }
            try Data(("{" + members.joined(separator: ",") + "}").utf8).write(
                to: URL(fileURLWithPath: secretsFile), options: .atomic)
        }

        /// Every visible file complete, all from the generation `..data` names.
        func verify(_ report: inout Report, after iteration: Int) -> Int? {
            guard let generation = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(output)/..data") else {
                report.problems.append("\(iteration): no ..data")
                return nil
            }
            let visible = ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []).filter {
                !$0.hasPrefix(".")
            }
            if visible.count != fileCount { report.problems.append("\(iteration): \(visible.count) visible files") }
            var generations: Set<Int> = []
            for name in visible {
                guard let data = FileManager.default.contents(atPath: "\(output)/\(name)"),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let fileGeneration = object["generation"] as? Int, let index = object["index"] as? Int,
                    (object["pad"] as? String)?.count == 1000 + index, name == "s\(index)"
                else {
                    report.problems.append("\(iteration): \(name) in \(generation) is incomplete")
                    continue
                }
                generations.insert(fileGeneration)
            }
            if generations.count > 1 {
                report.problems.append("\(iteration): files from generations \(generations.sorted())")
            }
            return generations.first
        }

        func start() throws -> Process {
            try BlackBox.launch(["init"], environment: environment)
        }

        var report = Report()
        try writeSecrets(generation: 0)
        // The kill window: the fastest of three whole runs (other tests may be loading the machine),
        // then adapted so that most kills land while a run is still going.
        var window = Double.infinity
        for _ in 0..<3 {
            let process = try start()
            let began = Date()
            process.waitUntilExit()
            window = min(window, Date().timeIntervalSince(began))
            guard process.terminationStatus == 0 else {
                report.problems.append("a whole init failed with \(process.terminationStatus)")
                return report
            }
        }
        _ = verify(&report, after: 0)

        var random = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        var seen: Set<Int> = []
        var iteration = 0
        while report.kills < requiredKills + 10, iteration < 1000 {
            iteration += 1
            try writeSecrets(generation: iteration)
            let process = try start()
            usleep(useconds_t(Double(random.next() % 1000) / 1000 * window * 1_000_000))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                report.kills += 1
                window = min(window * 1.02, 1.0)
            } else {
                window = max(window * 0.9, 0.005)
            }
            process.waitUntilExit()
            if let generation = verify(&report, after: iteration) { seen.insert(generation) }
        }
        report.generationsSeen = seen.count

        // A run to completion cleans up whatever the kills left.
        let last = try start()
        last.waitUntilExit()
        if last.terminationStatus != 0 {
            report.problems.append("the final init failed with \(last.terminationStatus)")
        }
        _ = verify(&report, after: iteration + 1)
        let hidden = ((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []).filter {
            $0.hasPrefix("..")
        }
        if hidden.count != 2 { report.problems.append("leftovers after a clean run: \(hidden.sorted())") }
        return report
    }
}
