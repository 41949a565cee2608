import AWSCredentials
import Foundation
import HTTPTransport
import InjectorBase
import InjectorConfig
import InjectorSources
import Logging
import SecretsManager
import Synchronization

/// The fake's secrets, changeable while a test runs.
public final class FakeSecrets: @unchecked Sendable {
    public let values: Mutex<[String: String]>
    public let binary: [String: [UInt8]]
    /// The operations the caller's role allows (`nil`: all); others answer AccessDeniedException.
    /// As on AWS, BatchGetSecretValue also needs GetSecretValue for each secret it returns.
    public let allowed = Mutex<Set<String>?>(nil)
    /// Error codes some secrets answer with (name → `DecryptionFailure`, …).
    public let failures = Mutex<[String: String]>([:])
    /// Secrets whose rotation is on: `DescribeSecret` gives them a next rotation date, as AWS does.
    public let rotating = Mutex<Set<String>>([])
    /// Operations answered `ThrottlingException`, each for this many more calls.
    public let throttled = Mutex<[String: Int]>([:])
    public init(_ values: [String: String], binary: [String: [UInt8]] = [:]) {
        self.values = Mutex(values)
        self.binary = binary
    }
}

/// A fake Secrets Manager keyed on `X-Amz-Target`, holding `secrets` (name → value); version ids
/// follow the content.
public func fakeSecretsManager(_ secrets: [String: String], binary: [String: [UInt8]] = [:], listPageSize: Int? = 2)
    throws
    -> (SecretsManagerClient, FakeTransport)
{
    try fakeSecretsManager(from: FakeSecrets(secrets, binary: binary), listPageSize: listPageSize)
}

public func fakeSecretsManager(from store: FakeSecrets, listPageSize: Int? = nil) throws -> (
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
        let throttle = store.throttled.withLock { throttled in
            guard let left = throttled[operation], left > 0 else { return false }
            throttled[operation] = left - 1
            return true
        }
        if throttle { return .json(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#) }
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
            var description: [String: Any] = [
                "ARN": "arn:\(id)", "Name": id, "VersionIdsToStages": [version(id): ["AWSCURRENT"]],
            ]
            if store.rotating.withLock({ $0.contains(id) }) {
                description["RotationEnabled"] = true
                description["NextRotationDate"] = Date().timeIntervalSince1970 + 86_400 * 30
            }
            return try json(description)
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

/// Secrets Manager as the injector reads it (with the permission fallbacks), over the fake holding
/// `secrets`; the client counts the calls.
public func fakeSource(_ secrets: FakeSecrets, log: LogLines = LogLines()) throws -> (
    SecretsManagerSource, SecretsManagerClient
) {
    let (client, _) = try fakeSecretsManager(from: secrets)
    return (SecretsManagerSource(client: client, logger: log.logger), client)
}

/// A client with static keys over `transport`, retrying without sleeping.
public func testClient(_ transport: FakeTransport) throws -> SecretsManagerClient {
    let provider = try EnvironmentCredentialProvider(environment: [
        "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
    ])!
    return SecretsManagerClient(
        AWSJSONClient(
            configuration: .init(
                service: .secretsManager, endpoint: try Endpoint(url: "http://127.0.0.1:1", origin: "test"),
                region: "ap-southeast-1"),
            credentials: RefreshingCredentials(provider: provider), transport: transport, sleep: { _ in }))
}

public func makeConfig(_ json: String) throws -> Config { try Config(document: try JSONValue.parse(json)) }

public func temporaryDirectory() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("injector-\(UUID().uuidString)").path
    return path
}

public let pipelineSecrets = [
    "pipeline-pulse/prod/database":
        #"{"username":"pp_app","password":"p@ss w/rd","host":"db","port":5432,"database":"pp"}"#,
    "pipeline-pulse/prod/jwt": #"{"secret":"jwt-secret-value","algorithm":"HS256","expire_minutes":30}"#,
    "pipeline-pulse/prod/zoho": #"{"client_id":"zid","client_secret":"zsecret"}"#,
    "pipeline-pulse/prod/currency": #"{"api_key":"ckey","base_url":"https://c"}"#,
    "other/app/key": #"{"k":"v"}"#,
]

/// Log lines, kept for the tests to read.
public final class LogLines: Sendable {
    public let lines = Mutex<[(level: Logger.Level, message: String)]>([])
    public init() {}
    public var logger: Logger { Logger(label: "test") { _ in LogLinesHandler(lines: self) } }
    public func count(_ level: Logger.Level, containing text: String) -> Int {
        lines.withLock { $0.filter { $0.level == level && $0.message.contains(text) }.count }
    }
}

public struct LogLinesHandler: LogHandler {
    let lines: LogLines
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    public func log(event: LogEvent) {
        lines.lines.withLock { $0.append((event.level, "\(event.message)")) }
    }
}

/// The four Pipeline Pulse secrets, each a small JSON object.
public let pipelinePulseFour = [
    "pipeline-pulse/prod/database": #"{"password":"one"}"#, "pipeline-pulse/prod/zoho": #"{"id":"z"}"#,
    "pipeline-pulse/prod/currency": #"{"key":"c"}"#, "pipeline-pulse/prod/jwt": #"{"secret":"j"}"#,
]
