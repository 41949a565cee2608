import AWSCredentials
import Foundation
import InjectorBase
import SecretsManager
import TestSupport
import Testing

@testable import InjectorSources

@Suite struct SecretLookupTests {
    let value = SecretValue(
        arn: "arn:x", name: "pipeline-pulse/prod/database", versionID: "v1",
        secretString: #"{"username":"pp_app","password":"s3cr3t-value","port":5432,"tags":{"a":1}}"#)

    @Test func wholeValueByteForByte() throws {
        #expect(try SecretLookup(secretID: "db").select(from: value) == Array(value.secretString!.utf8))
        let binary = SecretValue(arn: "arn:x", name: "b", versionID: "v", secretBinary: [0, 255, 10])
        #expect(try SecretLookup(secretID: "b").select(from: binary) == [0, 255, 10])
    }

    @Test func oneKey() throws {
        #expect(try SecretLookup(secretID: "db", jsonKey: "password").select(from: value) == Array("s3cr3t-value".utf8))
        #expect(try SecretLookup(secretID: "db", jsonKey: "port").select(from: value) == Array("5432".utf8))
        #expect(try SecretLookup(secretID: "db", jsonKey: "tags").select(from: value) == Array(#"{"a":1}"#.utf8))
    }

    @Test func errorsNameKeysButNeverValues() {
        let cases: [(SecretValue, String)] = [
            (value, "nope"),
            (SecretValue(arn: "a", name: "n", versionID: "v", secretString: "s3cr3t-value not json"), "k"),
            (SecretValue(arn: "a", name: "n", versionID: "v", secretString: #"["s3cr3t-value"]"#), "k"),
            (SecretValue(arn: "a", name: "n", versionID: "v", secretBinary: Array("s3cr3t-value".utf8)), "k"),
        ]
        for (value, key) in cases {
            let error = #expect(throws: SecretLookupError.self) {
                try SecretLookup(secretID: "db", jsonKey: key).select(from: value)
            }
            #expect(error?.exitStatus == .notFoundOrDenied)
            #expect(error?.message.contains("s3cr3t") == false)
        }
    }

    @Test func exitStatuses() {
        #expect(ExitStatus.of(AWSCallError(service: .secretsManager, category: .notFound)) == .notFoundOrDenied)
        #expect(ExitStatus.of(AWSCallError(service: .secretsManager, category: .accessDenied)) == .notFoundOrDenied)
        #expect(ExitStatus.of(AWSCallError(service: .secretsManager, category: .network)) == .unavailable)
        #expect(ExitStatus.of(AWSCallError(service: .secretsManager, category: .throttled)) == .unavailable)
        #expect(ExitStatus.of(AWSCallError.configuration("x")) == .usage)
        // Each service's own error means what the call failure it wraps means.
        #expect(
            ExitStatus.of(SecretsManagerError(AWSCallError(service: .secretsManager, category: .notFound)))
                == .notFoundOrDenied)
        #expect(
            ExitStatus.of(ParameterStoreError(AWSCallError(service: .parameterStore, category: .network)))
                == .unavailable)
        #expect(ExitStatus.of(CredentialError(.configuration, "x")) == .usage)
        #expect(ExitStatus.of(CredentialError(.unavailable, "x")) == .unavailable)
        #expect(ExitStatus.of(CancellationError()) == .failure)
    }
}
