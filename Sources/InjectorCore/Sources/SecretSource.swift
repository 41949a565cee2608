public import FoundationEssentials
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
    /// What each request's current version is, as cheaply as `strategy` allows (SPEC §6); throws
    /// only when nothing could be asked at all.
    func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
}

/// One request's state as a refresh round saw it.
public enum Probe: Sendable {
    /// The version that answers the request now, and the secret's next rotation date.
    case version(String, nextRotation: Date?)
    /// The value itself (the `get` strategy, the local file).
    case value(SecretValue)
    case failure(SecretsManagerError)
}

public struct ProbeResult: Sendable {
    public var probes: [SecretRequest: Probe]
    /// Names under each discovery prefix, when the round listed them anyway (`list`).
    public var listed: [String: [String]]

    public init(probes: [SecretRequest: Probe], listed: [String: [String]] = [:]) {
        self.probes = probes
        self.listed = listed
    }
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
        var single = requests.filter { !$0.isCurrent }
        var throttled = false
        if !current.isEmpty {
            do {
                let batch = try await client.batchGetSecretValue(ids: current.map(\.id))
                for request in current {
                    if let value = batch.values.first(where: { Self.matches(request.id, $0) }) {
                        results[request] = .success(value)
                    } else if let error = batch.errors.first(where: { $0.secretID == request.id }) {
                        results[request] = .failure(error)
                    } else {
                        results[request] = .failure(
                            SecretsManagerError(
                                category: .notFound, code: "ResourceNotFoundException",
                                operation: "BatchGetSecretValue", secretID: request.id,
                                region: client.configuration.region, endpoint: client.configuration.endpoint.url))
                    }
                }
            } catch {
                guard error.category == .throttled else { throw error }
                // Many tasks starting together: rather than fail, read one by one, spread out.
                throttled = true
                single = current + single
            }
        }
        for (index, request) in single.enumerated() {
            if throttled, index > 0 { try? await Task.sleep(for: .milliseconds(Int.random(in: 20...250))) }
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

    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        switch strategy.resolved(discovers: !discoveryPrefixes.isEmpty) {
        case .get, .auto:
            return ProbeResult(
                probes: try await fetch(requests).mapValues { result in
                    switch result {
                    case .success(let value): .value(value)
                    case .failure(let error): .failure(error)
                    }
                })
        case .describe:
            var probes: [SecretRequest: Probe] = [:]
            for request in requests {
                if let versionID = request.versionID {
                    probes[request] = .version(versionID, nextRotation: nil)
                    continue
                }
                do {
                    let description = try await client.describeSecret(id: request.id)
                    probes[request] = Self.probe(
                        request, versions: description.versionIDsToStages, nextRotation: description.nextRotationDate)
                } catch {
                    probes[request] = .failure(error)
                }
            }
            return ProbeResult(probes: probes)
        case .list:
            // One ListSecrets (100 a page) for every secret: the discovery prefixes and the folders
            // of the named secrets, OR'ed in one filter when there are at most ten of them.
            let names = requests.map { SecretName($0.id).name }
            var prefixes = discoveryPrefixes
            for name in names {
                let folder = name.lastIndex(of: "/").map { String(name[...$0]) } ?? name
                if !prefixes.contains(where: { folder.hasPrefix($0) }) { prefixes.append(folder) }
            }
            let entries = try await client.listSecrets(namePrefixes: prefixes.count <= 10 ? prefixes : [])
            var probes: [SecretRequest: Probe] = [:]
            for request in requests {
                if let versionID = request.versionID {
                    probes[request] = .version(versionID, nextRotation: nil)
                } else if let entry = entries.first(where: {
                    $0.name == SecretName(request.id).name || Self.matches(request.id, arn: $0.arn)
                }) {
                    probes[request] = Self.probe(
                        request, versions: entry.versionIDsToStages, nextRotation: entry.nextRotationDate)
                } else {
                    probes[request] = .failure(
                        SecretsManagerError(
                            category: .notFound, code: "ResourceNotFoundException",
                            awsMessage:
                                "not in ListSecrets (deleted, or not yet visible: ListSecrets is eventually consistent)",
                            operation: "ListSecrets", secretID: request.id, region: client.configuration.region,
                            endpoint: client.configuration.endpoint.url))
                }
            }
            var listed: [String: [String]] = [:]
            for prefix in discoveryPrefixes {
                listed[prefix] = entries.map(\.name).filter { $0.hasPrefix(prefix) }.sorted()
            }
            return ProbeResult(probes: probes, listed: listed)
        }
    }

    /// The version carrying the request's stage (`AWSCURRENT` unless set), or a not-found failure.
    static func probe(_ request: SecretRequest, versions: [String: [String]], nextRotation: Date?) -> Probe {
        let stage = request.versionStage ?? "AWSCURRENT"
        guard let version = versions.first(where: { $0.value.contains(stage) })?.key else {
            var error = SecretsManagerError(
                category: .notFound, code: "ResourceNotFoundException", awsMessage: "no version has the stage \(stage)",
                secretID: request.id)
            error.versionStage = stage
            return .failure(error)
        }
        return .version(version, nextRotation: nextRotation)
    }

    static func matches(_ id: String, arn: String) -> Bool {
        id == arn || (id.hasPrefix("arn:") && arn.hasPrefix(id + "-") && arn.count == id.count + 7)
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

    /// The file is read whole anyway: every strategy gets the values themselves.
    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        ProbeResult(
            probes: try await fetch(requests).mapValues { result in
                switch result {
                case .success(let value): .value(value)
                case .failure(let error): .failure(error)
                }
            })
    }

    /// A version id that changes with the content (FNV-1a, 64 bits).
    static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
