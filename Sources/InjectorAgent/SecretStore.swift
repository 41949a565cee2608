import FoundationEssentials
public import InjectorBase
import SecretsManager
import Synchronization

/// The sidecar's shared state: the values of the last good generation, each secret's status,
/// and the answers the server gives — encoded once per version, not per request.
public actor SecretStore {
    /// The alias each request is known by in the outputs, for `/health`.
    private var aliases: [SecretRequest: String] = [:]
    private var required: Set<SecretRequest> = []
    /// Each request's last good value and its answer, encoded once per version and stages.
    private var entries: [SecretRequest: AgentEntry] = [:]
    private var lastSuccess: [SecretRequest: Date] = [:]
    private var lastError: [SecretRequest: AWSCallError] = [:]
    public private(set) var generation: String?
    public private(set) var ready = false
    /// The strategy the last round really used (after any fallback for a denied probe).
    public private(set) var strategy: RefreshStrategy?

    public init() {}

    /// The cached value of each request (for re-rendering).
    package var results: [SecretRequest: Result<SecretValue, AWSCallError>] {
        var results: [SecretRequest: Result<SecretValue, AWSCallError>] = [:]
        for (request, entry) in entries { results[request] = .success(entry.value) }
        for (request, error) in lastError where entries[request] == nil { results[request] = .failure(error) }
        return results
    }

    /// The cache with `outcomes`' new values laid over it (failures keep the cached value).
    package func results(overlaying outcomes: [SecretRequest: Result<SecretValue, AWSCallError>])
        -> [SecretRequest:
        Result<SecretValue, AWSCallError>]
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

    package func versionID(of request: SecretRequest) -> String? { entries[request]?.value.versionID }

    package func value(of request: SecretRequest) -> SecretValue? { entries[request]?.value }

    /// Records a round's outcome for each request: a new value replaces the old one; an error is
    /// shown but never blanks the last value.
    package func record(_ outcomes: [SecretRequest: Result<SecretValue, AWSCallError>], at now: Date) {
        for (request, outcome) in outcomes {
            switch outcome {
            case .success(let value):
                // The same version with the same stages keeps its encoded answer.
                if entries[request]?.value.versionID != value.versionID
                    || entries[request]?.value.versionStages != value.versionStages
                {
                    entries[request] = AgentEntry(request: request, value: value, replacing: entries[request])
                }
                lastSuccess[request] = now
                lastError[request] = nil
            case .failure(let error):
                lastError[request] = error
            }
        }
        publish()
    }

    /// A round that could check nothing: every request's check failed with `error`.
    package func record(failure error: any Error, for requests: [SecretRequest]) {
        let failure =
            AWSCallError(error) ?? AWSCallError(service: nil, category: .service, detail: "\(error)")
        for request in requests { lastError[request] = failure }
        publish()
    }

    package func using(strategy: RefreshStrategy) { self.strategy = strategy }

    /// Why the last generation could not be written (nil once one is), for `/health`.
    public private(set) var writeFailure: String?

    package func recordWrite(failure: String?) { writeFailure = failure }

    /// A request whose version was seen unchanged this round; `stages`, when the round saw them,
    /// keep its answer's `VersionStages` fresh.
    package func confirm(_ request: SecretRequest, stages: [String]?, at now: Date) {
        guard var value = entries[request]?.value else { return }
        var changed = lastError.removeValue(forKey: request) != nil
        if let stages, Set(stages) != Set(value.versionStages) {
            value.versionStages = stages
            entries[request] = AgentEntry(request: request, value: value, replacing: entries[request])
            changed = true
        }
        lastSuccess[request] = now
        // Called for every unchanged secret of every round: the snapshot is rebuilt only when an
        // answer changes.
        if changed { publish() }
    }

    /// The requests the outputs are made of, by alias (`required`: those they cannot do without),
    /// and the generation now on disk.
    package func commit(aliases: [SecretRequest: String], required: Set<SecretRequest>, generation: String) {
        self.aliases = aliases
        self.required = required
        self.generation = generation
        ready = true
    }

    /// The snapshot the server answers from: published whenever an answer changes, read by the
    /// event loop without waiting for this actor.
    private nonisolated let published = Mutex(AgentSnapshot())

    /// The answer to an Agent request, from the last committed values (see ``AgentSnapshot``).
    package nonisolated func answer(_ query: SecretQuery, refreshed: Bool = false) -> AgentResponse {
        published.withLock { $0 }.answer(query, refreshed: refreshed)
    }

    /// The configured request that answers `query`, if one does (the secret `refreshNow` refreshes).
    package nonisolated func request(answering query: SecretQuery) -> SecretRequest? {
        published.withLock { $0 }.request(answering: query)
    }

    private func publish() {
        let snapshot = AgentSnapshot(entries: entries.values, lastErrors: lastError)
        published.withLock { $0 = snapshot }
    }

    /// The Agent-shaped answer of a request, encoded when its version arrived.
    public func response(for request: SecretRequest) -> [UInt8]? { entries[request]?.body }

    /// Every request's status, for `/health` and `/metrics`.
    public func statuses() -> [SecretStatus] {
        Set(entries.keys).union(lastError.keys).sorted { $0.description < $1.description }.map { request in
            SecretStatus(
                id: request.description, alias: aliases[request],
                required: required.contains(request), versionID: entries[request]?.value.versionID,
                lastSuccess: lastSuccess[request], lastError: lastError[request].map { "\($0)" },
                lastErrorCode: lastError[request].map { $0.code ?? "\($0.category)" })
        }
    }
}
