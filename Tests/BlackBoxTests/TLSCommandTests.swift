import Foundation
import TestSupport
import Testing

/// `init` over HTTPS, as every real task reads Secrets Manager: the harness's TLS forwarder in
/// front of moto, with a certificate from a throwaway authority. On the shipped build
/// (`scripts/test` runs this suite on it) this is the libcurl scripts/build-release makes.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
struct TLSCommandTests {
    let peers: PeerProcess
    let output: String

    init() async throws {
        peers = try await BlackBox.sharedPeers.value
        output = try BlackBox.temporaryFolder() + "/out"
    }

    func initialize(_ extra: [String: String]) async throws -> CommandResult {
        try await BlackBox.initExample(
            peers, output: output,
            ["AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("tlsEndpoint")].merging(extra) { $1 })
    }

    @Test func readsTheSecretsOverHTTPSTrustingTheAuthorityInAWSCABundle() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try await initialize(["AWS_CA_BUNDLE": peers.string("tlsCABundle")])
        try #require(result.status == 0, "\(result.stderr)")
        let secrets = try #require(peers.ready["secrets"] as? [String: String])
        let written = try String(contentsOfFile: "\(output)/database.json", encoding: .utf8)
        let expected = try JSONSerialization.jsonObject(with: Data(secrets["pipeline-pulse/prod/database"]!.utf8))
        let got = try JSONSerialization.jsonObject(with: Data(written.utf8))
        #expect((got as? NSDictionary) == (expected as? NSDictionary))
    }

    /// Verification is on: the system's store does not hold the test authority, so the
    /// certificate is refused, in one line that names the fix, and nothing is written.
    @Test func refusesACertificateFromAnAuthorityItDoesNotTrust() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try await initialize([:])
        #expect(result.status == 4)
        let error = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("{") }
        #expect(error.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains("SSL certificate problem"), "\(result.stderr)")
        #expect(result.stderr.contains("check AWS_CA_BUNDLE"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(output)/database.json"))
        try BlackBox.expectNoSecret(of: peers.ready["secrets"] as? [String: String] ?? [:], in: result.stderr)
    }
}
