public import SecretsManager

/// One value to fetch: a secret by name or ARN, optionally a stage or a version.
public struct SecretRequest: Sendable, Hashable, CustomStringConvertible {
    public var id: String
    public var versionStage: String?
    public var versionID: String?

    public init(id: String, versionStage: String? = nil, versionID: String? = nil) {
        self.id = id
        self.versionStage = versionStage == "AWSCURRENT" && versionID == nil ? nil : versionStage
        self.versionID = versionID
    }

    /// The current version, which `BatchGetSecretValue` can fetch.
    var isCurrent: Bool { versionStage == nil && versionID == nil }

    public var description: String {
        var text = id
        if let versionStage { text += " (stage \(versionStage))" }
        if let versionID { text += " (version \(versionID))" }
        return text
    }
}

/// Where values come from: AWS Secrets Manager, or a local file for development.
public protocol SecretSource: Sendable {
    /// A short description for `check` and logs.
    var summary: String { get }
    /// The names of every secret whose name starts with `namePrefix`.
    func list(namePrefix: String) async throws -> [String]
    /// A value or an error for every request; throws only when nothing could be asked at all.
    func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, SecretsManagerError>]
}

/// AWS Secrets Manager: current versions by `BatchGetSecretValue` (≤ 20 per call), others by
/// `GetSecretValue`, discovery by `ListSecrets`.
public struct SecretsManagerSource: SecretSource {
    public let client: SecretsManagerClient

    public init(client: SecretsManagerClient) { self.client = client }

    public var summary: String {
        "AWS Secrets Manager at \(client.configuration.endpoint) (region \(client.configuration.region))"
    }

    public func list(namePrefix: String) async throws -> [String] {
        try await client.listSecrets(namePrefix: namePrefix).map(\.name)
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<
        SecretValue, SecretsManagerError
    >] {
        var results: [SecretRequest: Result<SecretValue, SecretsManagerError>] = [:]
        let current = requests.filter(\.isCurrent)
        if !current.isEmpty {
            let batch = try await client.batchGetSecretValue(ids: current.map(\.id))
            for request in current {
                if let value = batch.values.first(where: { Self.matches(request.id, $0) }) {
                    results[request] = .success(value)
                } else if let error = batch.errors.first(where: { $0.secretID == request.id }) {
                    results[request] = .failure(error)
                } else {
                    results[request] = .failure(
                        SecretsManagerError(
                            category: .notFound, code: "ResourceNotFoundException", operation: "BatchGetSecretValue",
                            secretID: request.id,
                            region: client.configuration.region, endpoint: client.configuration.endpoint.url))
                }
            }
        }
        for request in requests where !request.isCurrent {
            do {
                results[request] = .success(
                    try await client.getSecretValue(
                        id: request.id, versionStage: request.versionStage, versionID: request.versionID))
            } catch {
                results[request] = .failure(error)
            }
        }
        return results
    }

    /// A value answers an id given as its name, its full ARN, or an ARN without the random suffix.
    static func matches(_ id: String, _ value: SecretValue) -> Bool {
        id == value.name || id == value.arn
            || (id.hasPrefix("arn:") && value.arn.hasPrefix(id + "-") && value.arn.count == id.count + 7)
    }
}

/// Values from a JSON file of `{ "name": value }` (a string, or any JSON written compactly),
/// re-read on every fetch: development without AWS (SPEC §4 `source.local`).
public struct LocalFileSource: SecretSource {
    public let path: String

    public init(path: String) { self.path = path }

    public var summary: String { "local file \(path)" }

    func load() throws -> [String: [UInt8]] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(try readWholeFile(path))
        } catch let error as JSONParseError {
            throw SecretsManagerError.configuration("source.local \(path): not valid JSON (\(error))")
        } catch {
            throw SecretsManagerError.configuration("source.local: \(error)")
        }
        guard case .object(let members) = document else {
            throw SecretsManagerError.configuration(
                "source.local \(path): must be a JSON object of {\"secret name\": value}")
        }
        var values: [String: [UInt8]] = [:]
        for member in members { values[member.key] = Array(member.value.text.utf8) }
        return values
    }

    public func list(namePrefix: String) async throws -> [String] {
        try load().keys.filter { $0.hasPrefix(namePrefix) }.sorted()
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<
        SecretValue, SecretsManagerError
    >] {
        let values = try load()
        var results: [SecretRequest: Result<SecretValue, SecretsManagerError>] = [:]
        for request in requests {
            let name = SecretName(request.id).name
            if let bytes = values[name], request.isCurrent {
                let text = String(decoding: bytes, as: UTF8.self)
                results[request] = .success(
                    SecretValue(
                        arn: "local:\(name)", name: name, versionID: "local-" + Self.fingerprint(bytes),
                        secretString: text, versionStages: ["AWSCURRENT"]))
            } else {
                var error = SecretsManagerError(
                    category: .notFound, code: "ResourceNotFoundException", secretID: request.id,
                    region: "local file \(path)")
                error.versionStage = request.versionStage
                error.versionID = request.versionID
                results[request] = .failure(error)
            }
        }
        return results
    }

    /// A version id that changes with the content (FNV-1a, 64 bits).
    static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
