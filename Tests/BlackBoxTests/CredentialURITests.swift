import Foundation
import TestSupport
import Testing

/// The credential-URI host check on the built binary, form by form, beside botocore's own
/// `ContainerMetadataFetcher` rules — inside a network namespace of its own (`unshare --net`), so
/// that nothing the binary tries can leave the machine.
@Suite struct CredentialURITests {
    /// Where we differ from botocore on purpose (docs/deploying.md, "AWS settings (environment)"): the reason for each.
    static let differences: [String: String] = [
        "http://[fd00:ec2:0::23]/creds": "addresses compare by value; botocore compares the text",
        "ftp://127.0.0.1/creds": "only http(s); botocore checks the host alone",
        "http://127.0.0.1:99999/creds": "libcurl cannot connect to that port; botocore checks the host alone",
        "http://[::1%25eth0]/creds": "a zone id is not an exact literal; Python's ip_address takes it",
    ]

    static let forms = [
        // Loopback and the agents' addresses, as exact literals.
        "http://127.0.0.1:8080/creds", "http://127.0.0.2/creds", "http://127.255.255.254/creds",
        "http://localhost/creds", "http://LOCALHOST:51679/creds", "http://[::1]/creds", "http://[::1]:8080/creds",
        "http://[0:0:0:0:0:0:0:1]/creds", "http://[::0:1]/creds", "http://169.254.170.2/v2/credentials/x",
        "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
        "http://[FD00:EC2::23]/v1/credentials", "HTTP://127.0.0.1/creds", "http://user:pass@127.0.0.1/creds",
        "http://127.0.0.1#@evil.example/creds", "https://credentials.example.com/creds", "https://127.0.0.1/creds",
        // Decimal, octal, hex, short and percent-encoded spellings libcurl would normalize.
        "http://127.0.0.01/creds", "http://0177.0.0.1/creds", "http://0x7f.0.0.1/creds", "http://127.1/creds",
        "http://2130706433/creds", "http://%31%32%37.0.0.1/creds", "http://127.0.0.+1/creds",
        "http://169.254.170.02/creds",
        // Other hosts, userinfo and fragment tricks, trailing dots, zones, mapped and unspecified addresses.
        "http://evil.example#@127.0.0.1/creds", "http://127.0.0.1%2f@evil.example/creds",
        "http://127.0.0.1@evil.example/creds", "http://localhost./creds", "http://127.0.0.1./creds",
        "http://[::1%25eth0]/creds", "http://[::ffff:127.0.0.1]/creds", "http://0.0.0.0/creds", "http://[::]/creds",
        "http://169.254.170.2.nip.io/creds", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/creds",
        "http:///creds", "ftp://127.0.0.1/creds", "http://127.0.0.1:99999/creds", "http://[fd00:ec2:0::23]/creds",
    ]

    static var canUnshare: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") && pythonHasModule("botocore")
    }

    @Test(.enabled(if: canUnshare, "needs root, unshare and botocore"))
    func eachFormIsJudgedAsBotocoreJudgesItButForTheDocumentedDifferences() async throws {
        #expect(Self.forms.count >= 30)
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let cases = "\(folder)/cases.json"
        try JSONSerialization.data(withJSONObject: Self.forms).write(to: URL(fileURLWithPath: cases))
        let result = try await run(
            "/usr/bin/unshare",
            [
                "--net", "python3",
                Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/uri_verdicts.py").path,
                BlackBox.binary, cases,
            ], environment: ProcessInfo.processInfo.environment, timeout: 300)
        try #require(result.status == 0, "\(result.stderr)")
        let verdicts = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: Any]])
        var table: [String] = []
        for form in Self.forms {
            let verdict = try #require(verdicts[form], "\(form)")
            let (ours, botocore) = (verdict["ours"] as? String ?? "?", verdict["botocore"] as? String ?? "?")
            table.append("\(form): ours \(ours), botocore \(botocore)")
            if let reason = Self.differences[form] {
                #expect(ours != botocore, "\(form) should differ (\(reason)) but both \(ours)")
            } else {
                #expect(ours == botocore, "\(form): ours \(ours), botocore \(botocore): \(verdict["stderr"] ?? "")")
            }
            if ours == "refused" {
                let stderr = verdict["stderr"] as? String ?? ""
                #expect(verdict["exit"] as? Int == 2 && stderr.split(separator: "\n").count == 1, "\(form): \(stderr)")
            }
        }
        print(table.joined(separator: "\n"))
    }
}
