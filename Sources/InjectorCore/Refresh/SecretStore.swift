public import FoundationEssentials
import SecretsManager

/// The sidecar's shared state: the values of the last good generation, each secret's status,
/// and the answers the server gives — encoded once per version, not per request.
public actor SecretStore {
    /// One secret's status for `/health` (never its value).
    public struct Status: Sendable {
        public var id: String
        public var alias: String?
        /// A required secret that goes unchecked past `maxStaleSeconds` makes the sidecar unhealthy.
        public var required: Bool
        public var versionID: String?
        public var lastSuccess: Date?
        public var lastError: String?
        public var lastErrorCode: String?
    }

    private(set) var secrets: [ResolvedSecret] = []
    private var required: Set<SecretRequest> = []
    private var values: [SecretRequest: SecretValue] = [:]
    private var responses: [SecretRequest: [UInt8]] = [:]
    private var lastSuccess: [SecretRequest: Date] = [:]
    private var lastError: [SecretRequest: SecretsManagerError] = [:]
    public private(set) var generation: String?
    public private(set) var ready = false
    /// The strategy the last round really used (after any fallback for a denied probe).
    public private(set) var strategy: RefreshStrategy?

    public init() {}

    /// The cached value of each request (for re-rendering).
    var results: [SecretRequest: Result<SecretValue, SecretsManagerError>] {
        var results: [SecretRequest: Result<SecretValue, SecretsManagerError>] = [:]
        for (request, value) in values { results[request] = .success(value) }
        for (request, error) in lastError where values[request] == nil { results[request] = .failure(error) }
        return results
    }

    /// The cache with `outcomes`' new values laid over it (failures keep the cached value).
    func results(overlaying outcomes: [SecretRequest: Result<SecretValue, SecretsManagerError>]) -> [SecretRequest:
        Result<SecretValue, SecretsManagerError>]
    {
        var merged = results
        for (request, outcome) in outcomes {
            if case .success = outcome {
                merged[request] = outcome
            } else if merged[request] == nil {
                merged[request] = outcome
            }
        }
        return merged
    }

    func versionID(of request: SecretRequest) -> String? { values[request]?.versionID }

    /// Records a round's outcome for each request: a new value replaces the old one; an error is
    /// shown but never blanks the last value.
    func record(_ outcomes: [SecretRequest: Result<SecretValue, SecretsManagerError>], at now: Date) {
        for (request, outcome) in outcomes {
            switch outcome {
            case .success(let value):
                if values[request]?.versionID != value.versionID || responses[request] == nil {
                    responses[request] = AgentAnswer.encode(value)
                }
                values[request] = value
                lastSuccess[request] = now
                lastError[request] = nil
            case .failure(let error):
                lastError[request] = error
            }
        }
    }

    /// A round that could check nothing: every request's check failed with `error`.
    func record(failure error: any Error, for requests: [SecretRequest]) {
        let failure =
            error as? SecretsManagerError
            ?? SecretsManagerError(category: .service, detail: "\(error)")
        for request in requests { lastError[request] = failure }
    }

    func using(strategy: RefreshStrategy) { self.strategy = strategy }

    /// A request that was seen unchanged this round.
    func confirm(_ request: SecretRequest, at now: Date) {
        guard values[request] != nil else { return }
        lastSuccess[request] = now
        lastError[request] = nil
    }

    /// The secrets the outputs are made of (`required`: the requests they cannot do without), and
    /// the generation now on disk.
    func commit(secrets: [ResolvedSecret], required: Set<SecretRequest>, generation: String) {
        self.secrets = secrets
        self.required = required
        self.generation = generation
        ready = true
    }

    /// Whether `id` (a name, full ARN or partial ARN) is one of the configured secrets, and
    /// the request that serves it.
    public func request(forSecretID id: String, versionStage: String?, versionID: String?) -> SecretRequest? {
        let wantedName = SecretName(id).name
        let candidates = values.keys.filter { request in
            let value = values[request]!
            return request.id == id || value.name == id || value.arn == id || SecretName(request.id).name == wantedName
                || (id.hasPrefix("arn:") && value.arn.hasPrefix(id + "-"))
        }
        return candidates.first { candidate in
            if let versionID { return values[candidate]?.versionID == versionID }
            if let versionStage { return values[candidate]?.versionStages.contains(versionStage) == true }
            return candidate.isCurrent
        }
    }

    /// The agent-shaped JSON answer for a request, encoded when its version arrived.
    public func response(for request: SecretRequest) -> [UInt8]? { responses[request] }

    /// Every request's status, for `/health` and `/metrics`.
    public func statuses() -> [Status] {
        Set(values.keys).union(lastError.keys).sorted { $0.description < $1.description }.map { request in
            Status(
                id: request.description, alias: secrets.first { $0.request == request }?.alias,
                required: required.contains(request), versionID: values[request]?.versionID,
                lastSuccess: lastSuccess[request], lastError: lastError[request].map { "\($0)" },
                lastErrorCode: lastError[request].map { $0.code ?? "\($0.category)" })
        }
    }
}

/// The AWS Secrets Manager Agent's answer: shaped as `GetSecretValue`'s response.
enum AgentAnswer {
    static func encode(_ value: SecretValue) -> [UInt8] {
        var members: [JSONValue.Member] = [
            .init(key: "ARN", value: .string(value.arn)), .init(key: "Name", value: .string(value.name)),
            .init(key: "VersionId", value: .string(value.versionID)),
        ]
        if let string = value.secretString {
            members.append(.init(key: "SecretString", value: .string(string)))
        } else if let binary = value.secretBinary {
            members.append(.init(key: "SecretBinary", value: .string(Data(binary).base64EncodedString())))
        }
        members.append(.init(key: "VersionStages", value: .array(value.versionStages.map { .string($0) })))
        if let created = value.createdDate {
            members.append(.init(key: "CreatedDate", value: .number(String(created.timeIntervalSince1970))))
        }
        return Array(JSONValue.object(members).serialized.utf8)
    }
}
