public import FoundationEssentials
public import InjectorBase
public import SecretsManager

/// Where values come from: AWS Secrets Manager, or a local file for development.
public protocol SecretSource: Sendable {
    /// A short description for `check` and logs.
    var summary: String { get }
    /// The operations the role was refused so far and that the source now works around,
    /// for `/health` and `/metrics`.
    var deniedOperations: [String] { get }
    /// The replica region in use when the primary cannot answer; nil on the primary.
    var servingRegion: String? { get }
    /// Times the source moved to a replica region.
    var failovers: Int { get }
    /// The names of every secret whose name starts with `namePrefix`.
    func list(namePrefix: String) async throws -> [String]
    /// The names of every Parameter Store parameter under `path`, recursively.
    func listParameters(path: String) async throws -> [String]
    /// A value or an error for every request; throws only when nothing could be asked at all.
    func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>]
    /// What each request's current version is, as cheaply as `strategy` and the role's permissions
    /// allow; throws only when nothing could be asked at all.
    func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    /// A probe of a few secrets that every task of a fleet may ask at the same moment (`POST
    /// /refresh`): per secret only, never a listing or a batch, whose quotas are 100 a second for
    /// the whole account.
    func probeEach(_ requests: [SecretRequest], strategy: RefreshStrategy) async throws -> ProbeResult
}

extension SecretSource {
    /// A source without Parameter Store has no parameters.
    public func listParameters(path: String) async throws -> [String] { [] }

    /// A source without listings or batches probes each secret as it always does.
    public func probeEach(_ requests: [SecretRequest], strategy: RefreshStrategy) async throws -> ProbeResult {
        try await probe(requests, strategy: strategy, discoveryPrefixes: [])
    }

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
    case failure(AWSCallError)

    package init(_ result: Result<SecretValue, AWSCallError>) {
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
