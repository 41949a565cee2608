public import InjectorBase
public import Logging
public import SecretsManager
import Synchronization

/// Parameter Store parameters, read with `GetParameters`: ten names a call, decrypted.
/// A parameter's value is its `Value` (a `StringList` as its comma-separated text) and its version
/// id its `Version`, so a round that reads it sees a new version as a new id. A name Parameter
/// Store lists in `InvalidParameters` is `ParameterNotFound`, as a missing secret is
/// `ResourceNotFoundException`: the same exit code, the same `required` rule.
///
/// Requests are the configured ids (``SecretName/parameter``). A parameter asked for with a
/// selector is asked in a call of its own: AWS says in `Selector` which answer is whose, but the
/// test peer (moto) does not, and a name asked twice in one call would be ambiguous there. A
/// parameter ARN in another region is asked in that region, as ECS reads it, with a client made
/// for it once (`clientForRegion`).
public struct ParameterStoreSource: SecretSource {
    let client: ParameterStoreClient
    let logger: Logger
    private let regional: RegionalClients

    /// `clientForRegion` makes the client for another region (its endpoint and signing region);
    /// nil reads the task's region only.
    public init(
        client: ParameterStoreClient, logger: Logger,
        clientForRegion: (@Sendable (String) throws -> ParameterStoreClient)? = nil
    ) {
        self.client = client
        self.logger = logger
        self.regional = RegionalClients(primary: client, make: clientForRegion)
    }

    public var summary: String { "Parameter Store in \(client.configuration.region)" }
    public var deniedOperations: [String] { [] }

    public func list(namePrefix: String) async throws -> [String] { [] }

    /// `GetParametersByPath`, recursive: the names only (their values are read with `GetParameters`
    /// as every parameter's are, by the round that follows).
    public func listParameters(path: String) async throws -> [String] {
        try await client.parameterNames(underPath: path).sorted()
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        var results: [SecretRequest: Result<SecretValue, AWSCallError>] = [:]
        var plain: [(SecretRequest, ParameterReference)] = []
        var selected: [(SecretRequest, ParameterReference)] = []
        for request in requests {
            guard let reference = SecretName(request.id).parameter else {
                results[request] = .failure(
                    AWSCallError(
                        service: .parameterStore, category: .invalidRequest, code: "ValidationException",
                        awsMessage: "not a Parameter Store reference", operation: "GetParameters",
                        resourceID: request.id, region: client.configuration.region))
                continue
            }
            if reference.selector == nil {
                plain.append((request, reference))
            } else {
                selected.append((request, reference))
            }
        }
        // Calls of at most ten names, each to the region its names are in.
        var calls: [[(SecretRequest, ParameterReference)]] = []
        let regions = Dictionary(grouping: plain) { $0.1.region ?? client.configuration.region }
        for key in regions.keys.sorted() {
            let group = regions[key]!
            calls += stride(from: 0, to: group.count, by: ParameterStoreClient.parametersLimit).map {
                Array(group[$0..<min($0 + ParameterStoreClient.parametersLimit, group.count)])
            }
        }
        calls += selected.map { [$0] }
        var lastError: AWSCallError?
        for call in calls {
            do throws(ParameterStoreError) {
                let client = try regional.client(for: call[0].1.region ?? client.configuration.region)
                let answer = try await client.getParameters(names: call.map(\.1.requestName))
                for (request, reference) in call {
                    results[request] = value(for: request, reference, in: answer, alone: call.count == 1)
                }
            } catch {
                lastError = error.underlying
                for (request, _) in call {
                    var error = error.underlying
                    error.resourceID = request.id
                    results[request] = .failure(error)
                }
            }
        }
        if !requests.isEmpty, results.values.allSatisfy({ if case .failure = $0 { true } else { false } }),
            let lastError, lastError.category == .network || lastError.category == .credentials
        {
            throw lastError
        }
        return results
    }

    /// The answer for one request: by name (an ARN's answer by its ARN too) and selector.
    private func value(
        for request: SecretRequest, _ reference: ParameterReference, in answer: ParametersResult, alone: Bool
    ) -> Result<SecretValue, AWSCallError> {
        let candidates = answer.parameters.filter { parameter in
            (parameter.name == reference.name || (reference.arn != nil && parameter.arn == reference.arn))
                && (parameter.selector == nil || parameter.selector == reference.selector)
        }
        guard let parameter = alone ? candidates.first : candidates.first(where: { $0.selector == reference.selector })
        else {
            return .failure(
                AWSCallError(
                    service: .parameterStore, category: .notFound, code: "ParameterNotFound",
                    awsMessage: answer.invalid.contains(reference.requestName)
                        ? "Parameter Store lists it in InvalidParameters (it does not exist, or this version or label does not)"
                        : "not in the GetParameters answer",
                    operation: "GetParameters", resourceID: request.id,
                    region: reference.region ?? client.configuration.region))
        }
        return .success(
            SecretValue(
                arn: parameter.arn ?? reference.arn ?? reference.name, name: request.id,
                versionID: String(parameter.version), secretString: parameter.value, versionStages: [],
                createdDate: parameter.lastModifiedDate))
    }

    /// Every strategy reads the values: `GetParameters` answers the version with the value, at the
    /// same price, and there is no cheaper call that says only the version for ten names.
    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        ProbeResult(probes: try await fetch(requests).mapValues(Probe.init), strategy: .get)
    }
}

/// Secrets Manager and Parameter Store together: each request goes to the source its
/// id names (``SecretName/parameter``), and their answers come back as one. Listings, failover
/// and the strategy are Secrets Manager's.
public struct CombinedSource: SecretSource {
    public let secrets: any SecretSource
    public let parameters: any SecretSource

    public init(secrets: any SecretSource, parameters: any SecretSource) {
        self.secrets = secrets
        self.parameters = parameters
    }

    public var summary: String { "\(secrets.summary), and \(parameters.summary)" }
    public var deniedOperations: [String] { secrets.deniedOperations + parameters.deniedOperations }
    public var servingRegion: String? { secrets.servingRegion }
    public var failovers: Int { secrets.failovers }

    public func list(namePrefix: String) async throws -> [String] { try await secrets.list(namePrefix: namePrefix) }

    public func listParameters(path: String) async throws -> [String] {
        try await parameters.listParameters(path: path)
    }

    private func split(_ requests: [SecretRequest]) -> (secrets: [SecretRequest], parameters: [SecretRequest]) {
        var split: (secrets: [SecretRequest], parameters: [SecretRequest]) = ([], [])
        for request in requests {
            if SecretName(request.id).parameter != nil {
                split.parameters.append(request)
            } else {
                split.secrets.append(request)
            }
        }
        return split
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        let (secretRequests, parameterRequests) = split(requests)
        async let fromParameters = parameterRequests.isEmpty ? [:] : parameters.fetch(parameterRequests)
        let fromSecrets = secretRequests.isEmpty ? [:] : try await secrets.fetch(secretRequests)
        return fromSecrets.merging(try await fromParameters) { $1 }
    }

    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        let (secretRequests, parameterRequests) = split(requests)
        async let fromParameters =
            parameterRequests.isEmpty
            ? ProbeResult(probes: [:], strategy: .get)
            : parameters.probe(parameterRequests, strategy: strategy, discoveryPrefixes: [])
        var result =
            secretRequests.isEmpty && discoveryPrefixes.isEmpty
            ? ProbeResult(probes: [:], strategy: .get)
            : try await secrets.probe(secretRequests, strategy: strategy, discoveryPrefixes: discoveryPrefixes)
        result.probes.merge(try await fromParameters.probes) { $1 }
        return result
    }

    public func probeEach(_ requests: [SecretRequest], strategy: RefreshStrategy) async throws -> ProbeResult {
        let (secretRequests, parameterRequests) = split(requests)
        var result =
            secretRequests.isEmpty
            ? ProbeResult(probes: [:], strategy: strategy)
            : try await secrets.probeEach(secretRequests, strategy: strategy)
        if !parameterRequests.isEmpty {
            result.probes.merge(try await parameters.probeEach(parameterRequests, strategy: strategy).probes) { $1 }
        }
        return result
    }
}

/// The Parameter Store client of each region asked so far: the task's, and one made on first use
/// for each other region a parameter ARN names.
final class RegionalClients: Sendable {
    private let primary: ParameterStoreClient
    private let make: (@Sendable (String) throws -> ParameterStoreClient)?
    private let made = Mutex<[String: ParameterStoreClient]>([:])

    init(primary: ParameterStoreClient, make: (@Sendable (String) throws -> ParameterStoreClient)?) {
        self.primary = primary
        self.make = make
    }

    func client(for region: String) throws(ParameterStoreError) -> ParameterStoreClient {
        if region == primary.configuration.region { return primary }
        if let client = made.withLock({ $0[region] }) { return client }
        guard let make else {
            throw ParameterStoreError(
                .configuration(
                    "a parameter in \(region) cannot be read: Parameter Store is read in \(primary.configuration.region) only"
                ))
        }
        let client: ParameterStoreClient
        do {
            client = try make(region)
        } catch {
            throw ParameterStoreError(
                AWSCallError(error) ?? .configuration("Parameter Store in \(region): \(error)"))
        }
        made.withLock { $0[region] = client }
        return client
    }
}
