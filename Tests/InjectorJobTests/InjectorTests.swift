import AWSCredentials
import Foundation
import HTTPTransport
import InjectorBase
import InjectorConfig
import InjectorOutputs
import InjectorSources
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorJob

@Suite struct InjectorRenderTests {
    func injector(_ config: Config, _ client: SecretsManagerClient) -> Injector {
        Injector(config: config, source: SecretsManagerSource(client: client), logger: Logger(label: "test"))
    }

    @Test func rendersFilesKeysTemplatesAndEnv() async throws {
        let (client, transport) = try fakeSecretsManager(pipelineSecrets)
        let config = try makeConfig(
            #"""
            {"outputDir": "/out", "defaults": {"mode": "0440"},
             "secrets": [{"id": "pipeline-pulse/prod/database", "file": "db/database.json", "keys": {"password": "db/password"}},
                         {"id": "pipeline-pulse/prod/jwt", "mode": "0400", "file": "jwt.json"}],
             "templates": [{"file": "app.env", "template": "DATABASE_URL=postgresql://{{ database.username }}:{{ database.password | urlencode }}@{{ database.host }}:{{ database.port }}/{{ database.database }}\n"}],
             "env": {"file": "secrets.env", "entries": [{"name": "JWT_SECRET", "valueFrom": "pipeline-pulse/prod/jwt:secret::"}, {"name": "ZOHO", "valueFrom": "pipeline-pulse/prod/zoho"}]}}
            """#)
        let files = try await injector(config, client).render()
        let byPath = Dictionary(uniqueKeysWithValues: files.map { ($0.path, $0) })
        #expect(Set(byPath.keys) == ["db/database.json", "db/password", "jwt.json", "app.env", "secrets.env"])
        #expect(byPath["db/database.json"]?.bytes == Array(pipelineSecrets["pipeline-pulse/prod/database"]!.utf8))
        #expect(byPath["db/password"]?.bytes == Array("p@ss w/rd".utf8))
        #expect(byPath["jwt.json"]?.mode == FileMode(0o400))
        #expect(
            String(decoding: byPath["app.env"]!.bytes, as: UTF8.self)
                == "DATABASE_URL=postgresql://pp_app:p%40ss%20w%2Frd@db:5432/pp\n")
        #expect(
            String(decoding: byPath["secrets.env"]!.bytes, as: UTF8.self)
                == #"JWT_SECRET='jwt-secret-value'\#nZOHO='{"client_id":"zid","client_secret":"zsecret"}'\#n"#
        )
        // One BatchGetSecretValue for the three current secrets.
        #expect(
            transport.requests.map { $0.headers.first { $0.name == "X-Amz-Target" }!.value } == [
                "secretsmanager.BatchGetSecretValue"
            ])
    }

    @Test func discoveryPagesThroughListSecrets() async throws {
        let (client, transport) = try fakeSecretsManager(pipelineSecrets, listPageSize: 1)
        let config = try makeConfig(
            #"{"outputDir": "/out", "secrets": [{"namePrefix": "pipeline-pulse/prod/"}], "templates": [{"file": "url", "template": "{{ database.host }}"}]}"#
        )
        let files = try await injector(config, client).render()
        #expect(Set(files.map(\.path)) == ["database", "jwt", "zoho", "currency", "url"])
        let targets = transport.requests.map { $0.headers.first { $0.name == "X-Amz-Target" }!.value }
        #expect(targets.filter { $0 == "secretsmanager.ListSecrets" }.count == 4)  // four pages of one; the last has no NextToken
    }

    @Test func discoveredAliasCollisionIsReported() async throws {
        let (client, _) = try fakeSecretsManager(["a/prod/db": "{}", "b/prod/db": "{}"])
        let config = try makeConfig(
            #"{"outputDir": "/out", "secrets": [{"id": "a/prod/db", "file": "a.json"}, {"namePrefix": "b/"}]}"#)
        let failure = await #expect(throws: InjectorFailure.self) { try await injector(config, client).render() }
        #expect(
            failure?.problems.map(\.message) == [
                "secrets[1].namePrefix: discovered secret b/prod/db has the alias \"db\" of a/prod/db (secrets[0]); give that one another alias"
            ])
        #expect(failure?.exitStatus == .usage)
    }

    @Test func binarySecretsAreWrittenDecoded() async throws {
        let bytes: [UInt8] = (0...255).map(UInt8.init)
        let (client, _) = try fakeSecretsManager([:], binary: ["app/keystore": bytes])
        let files = try await injector(
            try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "app/keystore", "file": "keystore.p12"}]}"#),
            client
        ).render()
        #expect(files.first?.bytes == bytes)
    }

    @Test func aSecretOf65536BytesIsWrittenWhole() async throws {
        let big = "{\"blob\":\"" + String(repeating: "x", count: 65_536 - 11) + "\"}"
        #expect(big.utf8.count == 65_536)
        let (client, _) = try fakeSecretsManager(["app/big": big])
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)", "secrets": [{"id": "app/big", "file": "big.json", "keys": {"blob": "blob"}}]}"#
        )
        _ = try await injector(config, client).run()
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/big.json")) == Data(big.utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/blob")).count == 65_536 - 11)
    }

    @Test func missingKeyMissingSecretAndOptionalSecret() async throws {
        let (client, _) = try fakeSecretsManager(pipelineSecrets)
        let config = try makeConfig(
            #"""
            {"outputDir": "/out",
             "secrets": [{"id": "pipeline-pulse/prod/database"}, {"id": "pipeline-pulse/prod/gone"}, {"id": "pipeline-pulse/prod/maybe", "required": false}],
             "templates": [{"file": "app.env", "template": "X={{ database.pasword }}"}],
             "env": {"file": "e.env", "entries": [{"name": "K", "valueFrom": "pipeline-pulse/prod/jwt:nokey::"}]}}
            """#)
        let failure = await #expect(throws: InjectorFailure.self) { try await injector(config, client).render() }
        #expect(
            failure?.problems.map(\.message) == [
                "ResourceNotFoundException: secret pipeline-pulse/prod/gone not found in region ap-southeast-1 (AWS: Secrets Manager can't find the specified secret.); check the secret's name and the region",
                "template app.env: secret \"database\" has no key \"database.pasword\"",
                "env K: secret \"pipeline-pulse/prod/jwt\" has no key \"pipeline-pulse/prod/jwt.nokey\"",
            ])
        #expect(failure?.exitStatus == .notFoundOrDenied)
        #expect(failure?.description.contains("p@ss") == false)
    }

    @Test func otherStagesUseGetSecretValue() async throws {
        let (client, transport) = try fakeSecretsManager(pipelineSecrets)
        let config = try makeConfig(
            #"{"outputDir": "/out", "secrets": [{"id": "pipeline-pulse/prod/jwt", "versionStage": "AWSPREVIOUS", "file": "previous"}, {"id": "pipeline-pulse/prod/zoho", "versionStage": "AWSCURRENT"}]}"#
        )
        _ = try await injector(config, client).render()
        let calls = transport.requests.map {
            ($0.headers.first { $0.name == "X-Amz-Target" }!.value, String(decoding: $0.body, as: UTF8.self))
        }
        #expect(calls.count == 2)
        #expect(calls[0].0 == "secretsmanager.BatchGetSecretValue" && calls[0].1.contains("zoho"))
        #expect(calls[1].0 == "secretsmanager.GetSecretValue" && calls[1].1.contains("AWSPREVIOUS"))
    }

    @Test func localSourceServesTheSameOutputs() async throws {
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secretsFile = "\(directory)/dev.json"
        try
            #"{"pipeline-pulse/dev/database": {"username": "u", "password": "p w"}, "pipeline-pulse/dev/raw": "plain text"}"#
            .write(toFile: secretsFile, atomically: true, encoding: .utf8)
        let config = try makeConfig(
            #"{"outputDir": "\#(directory)/out", "source": {"local": "\#(secretsFile)"}, "secrets": [{"namePrefix": "pipeline-pulse/dev/"}], "templates": [{"file": "url", "template": "{{ database.username }}:{{ database.password | urlencode }}"}]}"#
        )
        let injector = Injector(
            config: config, source: LocalFileSource(path: secretsFile), logger: Logger(label: "test"))
        let files = try await injector.render()
        #expect(
            Dictionary(uniqueKeysWithValues: files.map { ($0.path, String(decoding: $0.bytes, as: UTF8.self)) }) == [
                "database": #"{"username":"u","password":"p w"}"#, "raw": "plain text", "url": "u:p%20w",
            ])
    }
}
