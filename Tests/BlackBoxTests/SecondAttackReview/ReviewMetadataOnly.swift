import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// Found in reading: `review` discovered a `parameterPath` with `WithDecryption: true`, so a
    /// review, which never shows a value, needed `kms:Decrypt` on the parameters' key. Against a
    /// Parameter Store that refuses decryption to the caller (`Fixtures/fake_secretsmanager.py
    /// nokms`), the review must still list the path.
    @Test("review reads parameter metadata only")
    func reviewReadsParameterMetadataOnly() async throws {
        let store = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/fake_secretsmanager.py"),
            arguments: ["nokms"])
        defer { store.stop() }
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let endpoint = "http://127.0.0.1:\(store.string("port"))"
        let result = try await run(
            BlackBox.binary, ["review", "--format", "json"],
            environment: [
                "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "review-test-secret-key",
                "AWS_REGION": "ap-southeast-1", "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_MAX_ATTEMPTS": "1",
                "SECRETS_INJECTOR_CONFIG":
                    #"{"outputDir": "\#(folder)/out", "secrets": [{"parameterPath": "/pipeline-pulse/prod/"}]}"#,
            ],
            timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("kms:Decrypt"), "\(result.stderr)")
        #expect(!(result.stdout + result.stderr).contains("ciphertext-not-a-value"))
    }
}
