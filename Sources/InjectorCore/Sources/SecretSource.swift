public import FoundationEssentials
public import Logging
public import SecretsManager
import Synchronization

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
    /// The operations the role was refused so far and that the source now works around (SPEC §6),
    /// for `/health` and `/metrics`.
    var deniedOperations: [String] { get }
    /// The replica region in use when the primary cannot answer; nil on the primary.
    var servingRegion: String? { get }
    /// Times the source moved to a replica region.
    var failovers: Int { get }
    /// The names of every secret whose name starts with `namePrefix`.
    func list(namePrefix: String) async throws -> [String]
    /// A value or an error for every request; throws only when nothing could be asked at all.
    func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, SecretsManagerError>]
    /// What each request's current version is, as cheaply as `strategy` and the role's permissions
    /// allow (SPEC §6); throws only when nothing could be asked at all.
    func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
}

extension SecretSource {
    /// One region only (``FailoverSource`` has several).
    public var servingRegion: String? { nil }
    public var failovers: Int { 0 }
}

/// One request's state as a refresh round saw it.
public enum Probe: Sendable {
    /// The version that answers the request now, its stages when known, and the secret's next
    /// rotation date.
    case version(String, stages: [String]?, nextRotation: Date?)
    /// The value itself (the `get` strategy, the local file).
    case value(SecretValue)
    case failure(SecretsManagerError)

    init(_ result: Result<SecretValue, SecretsManagerError>) {
        switch result {
        case .success(let value): self = .value(value)
        case .failure(let error): self = .failure(error)
        }
    }
}

public struct ProbeResult: Sendable {
    public var probes: [SecretRequest: Probe]
    /// Names under each discovery prefix, when the round listed them anyway (`list`).
    public var listed: [String: [String]]
    /// The strategy the round really used, after any fallback for a denied probe.
    public var strategy: RefreshStrategy

    public init(probes: [SecretRequest: Probe], listed: [String: [String]] = [:], strategy: RefreshStrategy) {
        self.probes = probes
        self.listed = listed
        self.strategy = strategy
    }
}

/// AWS Secrets Manager: current versions by `BatchGetSecretValue` (≤ 20 per call), others by
/// `GetSecretValue`, discovery by `ListSecrets`.
///
/// It works with the smallest policy that can read the secrets (SPEC §3: `GetSecretValue` on the
/// secrets' ARNs): a denied `BatchGetSecretValue` becomes concurrent `GetSecretValue` calls, and a
/// denied probe (`ListSecrets`, `DescribeSecret`) falls back to the next one the role allows, ending
/// with `GetSecretValue`. Each denial is remembered for the life of the process, so no later call
/// pays for it again, and warned about once, naming the permission that would save calls.
public struct SecretsManagerSource: SecretSource {
    public let client: SecretsManagerClient
    let logger: Logger
    let denials = Denials()
    /// Single reads and probes in flight at once when they cannot be batched.
    static let concurrency = 8

    public init(client: SecretsManagerClient, logger: Logger = Logger(label: "secrets-injector")) {
        self.client = client
        self.logger = logger
    }

    public var summary: String {
        "AWS Secrets Manager at \(client.configuration.endpoint) (region \(client.configuration.region))"
    }

    public var deniedOperations: [String] { denials.operations }

    public func list(namePrefix: String) async throws -> [String] {
        try await client.listSecrets(namePrefix: namePrefix).map(\.name)
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<
        SecretValue, SecretsManagerError
    >] {
        var results: [SecretRequest: Result<SecretValue, SecretsManagerError>] = [:]
        let current = requests.filter(\.isCurrent)
        var single = requests.filter { !$0.isCurrent }
        var spread = false
        if !current.isEmpty, denials.contains(.batchGetSecretValue) {
            single = current + single
        } else if !current.isEmpty {
            do {
                // A throttled batch is not retried: its quota (100/s for the account) is what a
                // fleet's deployment runs out of, and GetSecretValue's (10,000/s) is not.
                let batch = try await client.batchGetSecretValue(ids: current.map(\.id), retryThrottling: false)
                for request in current {
                    if let value = batch.values.first(where: { Self.matches(request.id, $0) }) {
                        if value.versionStages.isEmpty || value.versionStages.contains("AWSCURRENT") {
                            results[request] = .success(value)
                        } else {
                            // Not the current version (moto answers a default version that
                            // UpdateSecretVersionStage does not move): read it by its stage.
                            single.append(request)
                        }
                    } else if let error = batch.errors.first(where: { $0.secretID == request.id }) {
                        // A per-secret AccessDenied here is a real denial of that secret.
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
                switch error.category {
                case .accessDenied:
                    // BatchGetSecretValue has no resource-level permissions, so a policy scoped to the
                    // secrets' ARNs cannot grant it: read the same secrets one by one.
                    if denials.insert(.batchGetSecretValue) {
                        logger.warning(
                            "BatchGetSecretValue is denied to the task role; reading each secret with GetSecretValue instead. Grant secretsmanager:BatchGetSecretValue on * to read up to 20 secrets per call",
                            metadata: ["deniedOperation": "BatchGetSecretValue", "secrets": "\(current.count)"])
                    }
                case .throttled:
                    // Many tasks starting together: rather than fail, read one by one, spread out.
                    spread = true
                default:
                    throw error
                }
                single = current + single
            }
        }
        for (request, result) in await readEach(single, spread: spread) { results[request] = result }
        return results
    }

    /// `GetSecretValue` for each request, at most ``concurrency`` at a time; `spread` waits a
    /// random 20–250 ms before each call (after throttling).
    private func readEach(_ requests: [SecretRequest], spread: Bool) async -> [(
        SecretRequest, Result<SecretValue, SecretsManagerError>
    )] {
        await requests.concurrentMap(limit: Self.concurrency) { [client] request in
            if spread { try? await client.pause(.milliseconds(20 + Int(client.randomFraction() * 230))) }
            do throws(SecretsManagerError) {
                // The current version is asked for by its stage, explicitly: the answer is then
                // always the version that carries AWSCURRENT (moto otherwise answers its default
                // version, which UpdateSecretVersionStage does not move).
                let value = try await client.getSecretValue(
                    id: request.id, versionStage: request.isCurrent ? "AWSCURRENT" : request.versionStage,
                    versionID: request.versionID)
                return (request, .success(value))
            } catch {
                var error = error
                error.versionStage = request.versionStage
                return (request, .failure(error))
            }
        }
    }

    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        var strategy = strategy.resolved(discovers: !discoveryPrefixes.isEmpty)
        if strategy == .list {
            if !denials.contains(.listSecrets) {
                do {
                    return try await probeByListing(requests, discoveryPrefixes: discoveryPrefixes)
                } catch {
                    guard error.category == .accessDenied else { throw error }
                    if denials.insert(.listSecrets) {
                        logger.warning(
                            "ListSecrets is denied to the task role; checking versions with DescribeSecret per secret instead. Grant secretsmanager:ListSecrets on * to check up to 100 secrets per call",
                            metadata: ["deniedOperation": "ListSecrets"])
                    }
                }
            }
            strategy = .describe
        }
        if strategy == .describe { return try await probeByDescribing(requests) }
        return ProbeResult(probes: try await fetch(requests).mapValues(Probe.init), strategy: .get)
    }

    /// One ListSecrets (100 a page) for every secret: the discovery prefixes and the folders of the
    /// named secrets, OR'ed in one filter when there are at most ten of them.
    private func probeByListing(_ requests: [SecretRequest], discoveryPrefixes: [String])
        async throws(SecretsManagerError) -> ProbeResult
    {
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
                probes[request] = .version(versionID, stages: nil, nextRotation: nil)
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
        return ProbeResult(probes: probes, listed: listed, strategy: .list)
    }

    /// `DescribeSecret` per secret (never touches KMS), ``concurrency`` at a time. A secret whose
    /// DescribeSecret is denied is read with `GetSecretValue` instead, in this round and every later one.
    private func probeByDescribing(_ requests: [SecretRequest]) async throws -> ProbeResult {
        var probes: [SecretRequest: Probe] = [:]
        var described: [SecretRequest] = []
        var read: [SecretRequest] = []
        for request in requests {
            if let versionID = request.versionID {
                probes[request] = .version(versionID, stages: nil, nextRotation: nil)
            } else if denials.containsDescribe(of: request.id) {
                read.append(request)
            } else {
                described.append(request)
            }
        }
        let answers = await described.concurrentMap(limit: Self.concurrency) { [client] request in
            // The call is awaited on its own before the tuple is built: a `try await` inside the
            // tuple made the release build (Swift 6.3, -O) lose the child task's result, so that
            // the first DescribeSecret round of the sidecar crashed (found by bench/fleet).
            do throws(SecretsManagerError) {
                let description = try await client.describeSecret(id: request.id)
                return (request, Result<SecretDescription, SecretsManagerError>.success(description))
            } catch {
                return (request, .failure(error))
            }
        }
        var denied: [String] = []
        for (request, answer) in answers {
            switch answer {
            case .success(let description):
                probes[request] = Self.probe(
                    request, versions: description.versionIDsToStages, nextRotation: description.nextRotationDate)
            case .failure(let error) where error.category == .accessDenied:
                denied.append(request.id)
                read.append(request)
            case .failure(let error):
                probes[request] = .failure(error)
            }
        }
        if !denied.isEmpty, denials.insertDescribe(of: denied) {
            logger.warning(
                "DescribeSecret is denied to the task role; checking these secrets with GetSecretValue each round instead (reads the value, uses KMS). Grant secretsmanager:DescribeSecret on \(denied.map(resourcePattern).joined(separator: ", ")) to make refreshing cheaper",
                metadata: ["deniedOperation": "DescribeSecret", "secrets": "\(denied.count)"])
        }
        for (request, result) in try await fetch(read) { probes[request] = Probe(result) }
        return ProbeResult(probes: probes, strategy: described.count > denied.count ? .describe : .get)
    }

    /// The IAM resource pattern that covers a secret: its ARN, or the ARN of its name with any suffix.
    private func resourcePattern(_ id: String) -> String {
        id.hasPrefix("arn:") ? id : "arn:aws:secretsmanager:\(client.configuration.region):*:secret:\(id)-*"
    }

    /// The version carrying the request's stage (`AWSCURRENT` unless set), or a not-found failure.
    /// Should several carry it (AWS never does; moto can, after a `PutSecretValue` that follows an
    /// `UpdateSecretVersionStage`), the smallest id is taken, so that rounds never flap between them.
    static func probe(_ request: SecretRequest, versions: [String: [String]], nextRotation: Date?) -> Probe {
        let stage = request.versionStage ?? "AWSCURRENT"
        guard let version = versions.filter({ $0.value.contains(stage) }).keys.min() else {
            var error = SecretsManagerError(
                category: .notFound, code: "ResourceNotFoundException", awsMessage: "no version has the stage \(stage)",
                secretID: request.id)
            error.versionStage = stage
            return .failure(error)
        }
        return .version(version, stages: versions[version], nextRotation: nextRotation)
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

/// What the role was refused, remembered for the life of the process: whole operations
/// (`BatchGetSecretValue` and `ListSecrets` have no resource-level permissions), and `DescribeSecret`
/// per secret (it has). Each `insert` says whether this is the first denial of its kind, to warn once.
final class Denials: Sendable {
    enum Operation: String, Sendable, CaseIterable {
        case batchGetSecretValue = "BatchGetSecretValue"
        case listSecrets = "ListSecrets"
    }

    private struct State {
        var operations: Set<Operation> = []
        var describe: Set<String> = []
    }
    private let state = Mutex(State())

    func contains(_ operation: Operation) -> Bool { state.withLock { $0.operations.contains(operation) } }
    func containsDescribe(of id: String) -> Bool { state.withLock { $0.describe.contains(id) } }

    func insert(_ operation: Operation) -> Bool { state.withLock { $0.operations.insert(operation).inserted } }

    /// True when these are the first secrets whose DescribeSecret was denied.
    func insertDescribe(of ids: [String]) -> Bool {
        state.withLock { state in
            let first = state.describe.isEmpty
            state.describe.formUnion(ids)
            return first
        }
    }

    var operations: [String] {
        state.withLock { state in
            Operation.allCases.filter(state.operations.contains).map(\.rawValue)
                + (state.describe.isEmpty ? [] : ["DescribeSecret"])
        }.sorted()
    }
}

extension Array where Element: Sendable {
    /// `transform` over every element, at most `limit` at a time, the results in the elements' order.
    func concurrentMap<Output: Sendable>(
        limit: Int, _ transform: @escaping @Sendable (Element) async -> Output
    ) async -> [Output] {
        await withTaskGroup(of: (Int, Output).self) { group in
            var outputs = [Output?](repeating: nil, count: count)
            var next = 0
            while next < Swift.min(limit, count) {
                let index = next
                group.addTask { (index, await transform(self[index])) }
                next += 1
            }
            while let (index, output) = await group.next() {
                outputs[index] = output
                if next < count {
                    let index = next
                    group.addTask { (index, await transform(self[index])) }
                    next += 1
                }
            }
            return outputs.map { $0! }
        }
    }
}

/// Values from a JSON file of `{ "name": value }` (a string, or any JSON written compactly),
/// re-read on every fetch: development without AWS (SPEC §4 `source.local`).
public struct LocalFileSource: SecretSource {
    public let path: String

    public init(path: String) { self.path = path }

    public var summary: String { "local file \(path)" }

    public var deniedOperations: [String] { [] }

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
        ProbeResult(probes: try await fetch(requests).mapValues(Probe.init), strategy: .get)
    }

    /// A version id that changes with the content (FNV-1a, 64 bits).
    static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
