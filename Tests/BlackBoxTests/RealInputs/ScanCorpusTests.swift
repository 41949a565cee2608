import Foundation
import TestSupport
import Testing

/// `scan` on real public files labelled by hand (`Fixtures/scan-corpus`, its README): recall and
/// precision recomputed on every run, beside detect-secrets' findings on the same files.
@Suite struct ScanCorpusTests {
    static let corpus = Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/scan-corpus").path

    struct Label: Decodable {
        var file: String
        var line: Int
        var name: String
        var secret: Bool
    }

    /// `(recall, precision)` of `findings` (file, line, name or nil) against the secret labels.
    static func score(_ findings: [(file: String, line: Int, name: String?)], _ labels: [Label]) -> (Double, Double) {
        let secrets = labels.filter(\.secret)
        func matches(_ finding: (file: String, line: Int, name: String?), _ label: Label) -> Bool {
            finding.file == label.file && finding.line == label.line && (finding.name.map { $0 == label.name } ?? true)
        }
        let found = secrets.filter { label in findings.contains { matches($0, label) } }.count
        let right = findings.filter { finding in secrets.contains { matches(finding, $0) } }.count
        return (Double(found) / Double(secrets.count), findings.isEmpty ? 0 : Double(right) / Double(findings.count))
    }

    @Test func scanOnTheCorpus() async throws {
        let labels = try JSONDecoder().decode(
            [Label].self, from: Data(contentsOf: URL(fileURLWithPath: "\(Self.corpus)/labels.json")))
        // Each file named, as a CI step names what it scans: their names carry a number and the
        // repository before the real name, which a folder walk would not recognise.
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus)
            .filter { $0.first?.isNumber == true }.sorted()
        #expect(files.count >= 50)
        let result = try await run(
            "/bin/sh",
            ["-c", "cd \"$0\" && exec \"$@\"", Self.corpus, BlackBox.binary, "scan", "--format", "json"] + files,
            environment: ["PATH": "/usr/bin:/bin", "HOME": Self.corpus])
        #expect(result.status == 1, "\(result.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let findings = (report["findings"] as! [[String: Any]]).map {
            (
                file: ($0["file"] as! String).split(separator: "/").last.map(String.init) ?? "",
                line: $0["line"] as! Int,
                name: $0["name"] as? String
            )
        }
        let ours = Self.score(findings, labels)
        let theirs =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(Self.corpus)/detect-secrets-findings.json")))
            as! [[String: Any]]
        let detectSecrets = Self.score(
            theirs.map { (file: $0["file"] as! String, line: $0["line"] as! Int, name: nil) }, labels)
        print(
            "scan corpus: scan recall \(ours.0) precision \(ours.1); detect-secrets recall \(detectSecrets.0) precision \(detectSecrets.1)"
        )
        #expect(ours.0 >= 0.9, "scan's recall \(ours.0)")
        #expect(ours.1 >= 0.9, "scan's precision \(ours.1)")
        #expect(ours.0 > detectSecrets.0)
    }
}
