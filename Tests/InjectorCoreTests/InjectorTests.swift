import AWSCredentials
import Foundation
import HTTPTransport
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorCore

/// The fake's secrets, changeable while a test runs.
final class FakeSecrets: @unchecked Sendable {
    let values: Mutex<[String: String]>
    let binary: [String: [UInt8]]
    /// The operations the caller's role allows (`nil`: all); others answer AccessDeniedException.
    /// As on AWS, BatchGetSecretValue also needs GetSecretValue for each secret it returns.
    let allowed = Mutex<Set<String>?>(nil)
    /// Error codes some secrets answer with (name → `DecryptionFailure`, …).
    let failures = Mutex<[String: String]>([:])
    init(_ values: [String: String], binary: [String: [UInt8]] = [:]) {
        self.values = Mutex(values)
        self.binary = binary
    }
}

/// A fake Secrets Manager keyed on `X-Amz-Target`, holding `secrets` (name → value); version ids
/// follow the content.
func fakeSecretsManager(_ secrets: [String: String], binary: [String: [UInt8]] = [:], listPageSize: Int? = 2) throws
    -> (SecretsManagerClient, FakeTransport)
{
    try fakeSecretsManager(from: FakeSecrets(secrets, binary: binary), listPageSize: listPageSize)
}

func fakeSecretsManager(from store: FakeSecrets, listPageSize: Int? = nil) throws -> (
    SecretsManagerClient, FakeTransport
) {
    let transport = FakeTransport { request, _ in
        let target = request.headers.first { $0.name == "X-Amz-Target" }?.value ?? ""
        let body = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] ?? [:]
        let secrets = store.values.withLock { $0 }
        let binary = store.binary
        func version(_ name: String) -> String {
            "v-" + LocalFileSource.fingerprint(binary[name] ?? Array((secrets[name] ?? "").utf8))
        }
        func entry(_ name: String) -> [String: Any] {
            var value: [String: Any] = [
                "ARN": "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:\(name)-AbCdEf", "Name": name,
                "VersionId": version(name),
                "VersionStages": ["AWSCURRENT"],
            ]
            if let bytes = binary[name] {
                value["SecretBinary"] = Data(bytes).base64EncodedString()
            } else {
                value["SecretString"] = secrets[name]
            }
            return value
        }
        func json(_ object: Any) throws -> HTTPResponse {
            HTTPResponse(status: 200, body: Array(try JSONSerialization.data(withJSONObject: object)))
        }
        let notFound = HTTPResponse.json(
            400, #"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#
        )
        let names = (Array(secrets.keys) + Array(binary.keys)).sorted()
        let operation = String(target.dropFirst("secretsmanager.".count))
        let allowed = store.allowed.withLock { $0 }
        let failures = store.failures.withLock { $0 }
        if let allowed, !allowed.contains(operation) {
            return .json(
                400,
                #"{"__type":"AccessDeniedException","message":"not authorized to perform: secretsmanager:\#(operation)"}"#
            )
        }
        func failure(_ id: String) -> HTTPResponse? {
            failures[id].map { .json(400, #"{"__type":"\#($0)","message":"failed"}"#) }
        }
        let mayGet = allowed?.contains("GetSecretValue") ?? true
        switch target {
        case "secretsmanager.BatchGetSecretValue":
            let ids = body["SecretIdList"] as? [String] ?? []
            func code(_ id: String) -> String? {
                !names.contains(id)
                    ? "ResourceNotFoundException" : failures[id] ?? (mayGet ? nil : "AccessDeniedException")
            }
            return try json([
                "SecretValues": ids.filter { code($0) == nil }.map(entry),
                "Errors": ids.compactMap { id in
                    code(id).map {
                        [
                            "SecretId": id, "ErrorCode": $0,
                            "Message": $0 == "ResourceNotFoundException"
                                ? "Secrets Manager can't find the specified secret." : "failed for \(id)",
                        ]
                    }
                },
            ])
        case "secretsmanager.GetSecretValue":
            let id = body["SecretId"] as? String ?? ""
            guard names.contains(id) else { return notFound }
            return try failure(id) ?? json(entry(id))
        case "secretsmanager.DescribeSecret":
            let id = body["SecretId"] as? String ?? ""
            guard names.contains(id) else { return notFound }
            if failures[id] == "ResourceNotFoundException" { return notFound }
            return try json(["ARN": "arn:\(id)", "Name": id, "VersionIdsToStages": [version(id): ["AWSCURRENT"]]])
        case "secretsmanager.ListSecrets":
            let prefixes = (body["Filters"] as? [[String: Any]])?.first?["Values"] as? [String]
            let matching = names.filter { name in prefixes.map { $0.contains { name.hasPrefix($0) } } ?? true }
            let pageSize = listPageSize ?? (body["MaxResults"] as? Int ?? 100)
            let start = Int(body["NextToken"] as? String ?? "0") ?? 0
            let page = Array(matching.dropFirst(start).prefix(pageSize))
            var response: [String: Any] = [
                "SecretList": page.map {
                    ["ARN": "arn:\($0)", "Name": $0, "SecretVersionsToStages": [version($0): ["AWSCURRENT"]]]
                }
            ]
            if start + pageSize < matching.count { response["NextToken"] = String(start + pageSize) }
            return try json(response)
        default:
            return .json(400, #"{"__type":"InvalidRequestException","message":"unexpected"}"#)
        }
    }
    return (try testClient(transport), transport)
}

/// A client with static keys over `transport`, retrying without sleeping.
func testClient(_ transport: FakeTransport) throws -> SecretsManagerClient {
    let provider = try EnvironmentCredentialProvider(environment: [
        "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
    ])!
    return SecretsManagerClient(
        configuration: .init(
            endpoint: try Endpoint(url: "http://127.0.0.1:1", origin: "test"), region: "ap-southeast-1"),
        credentials: RefreshingCredentials(provider: provider), transport: transport, sleep: { _ in })
}

func makeConfig(_ json: String) throws -> Config { try Config(document: try JSONValue.parse(json)) }

func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("injector-\(UUID().uuidString)").path
    return path
}

let pipelineSecrets = [
    "pipeline-pulse/prod/database":
        #"{"username":"pp_app","password":"p@ss w/rd","host":"db","port":5432,"database":"pp"}"#,
    "pipeline-pulse/prod/jwt": #"{"secret":"jwt-secret-value","algorithm":"HS256","expire_minutes":30}"#,
    "pipeline-pulse/prod/zoho": #"{"client_id":"zid","client_secret":"zsecret"}"#,
    "pipeline-pulse/prod/currency": #"{"api_key":"ckey","base_url":"https://c"}"#,
    "other/app/key": #"{"k":"v"}"#,
]

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

/// Discovered names against the paths already taken (issue 17), both ways round.
@Suite struct ClaimedPathsTests {
    @Test func aNameCollidesWithAPathAFolderOrAFileAboveIt() {
        var claimed = ClaimedPaths()
        claimed.insert("db/password", by: "the configuration")
        claimed.insert("injector.sock", by: "the socket (server.socketPath)")
        claimed.insert("p/a", by: "secret p/a")
        #expect(claimed.collision("db")?.contains("\"db/password\" of the configuration") == true)
        #expect(claimed.collision("db/password")?.contains("already the path of the configuration") == true)
        #expect(claimed.collision("db/password/x")?.contains("\"db/password\"") == true)
        #expect(claimed.collision("injector.sock")?.contains("the socket") == true)
        #expect(claimed.collision("p/a/b")?.contains("\"p/a\" of secret p/a") == true)
        #expect(claimed.collision("p/b") == nil)
        #expect(claimed.collision("dbx") == nil)
        #expect(claimed.collision("p") != nil, "p is the folder of p/a")
    }
}
