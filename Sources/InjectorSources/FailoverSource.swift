public import InjectorBase
public import Logging
public import SecretsManager
import Synchronization

/// Secrets Manager in a primary region and replica regions (`failover`): the same
/// secret names, read from the next region when the one in use cannot answer after its retries —
/// connection failures, timeouts, 5xx, throttling. `AccessDenied`, `ResourceNotFound` and the
/// other answers are answers: no failover.
///
/// The region in use starts as the primary. A fetch or probe that the primary cannot answer moves
/// to the first replica that can (`Failover` counts it, the log names the region); while on a
/// replica, every probe asks the primary first and returns to it once it answers. Version ids
/// differ between regions: the refresher then fetches by the new id and compares content, so the
/// application hears of a switch only when the bytes differ.
public final class FailoverSource: SecretSource {
    public struct Region: Sendable {
        public var name: String
        public var source: SecretsManagerSource

        public init(name: String, source: SecretsManagerSource) {
            self.name = name
            self.source = source
        }
    }

    public let regions: [Region]
    let logger: Logger
    private let serving = Mutex(0)
    private let switches = Atomic(0)

    /// `regions`: the primary first, then the replicas in order.
    public init(regions: [Region], logger: Logger) {
        precondition(!regions.isEmpty)
        self.regions = regions
        self.logger = logger
    }

    public var summary: String {
        regions[0].source.summary + "; failover to " + regions.dropFirst().map(\.name).joined(separator: ", then ")
    }

    private var current: Int { serving.withLock { $0 } }

    public var deniedOperations: [String] { regions[current].source.deniedOperations }

    public var servingRegion: String? {
        let index = current
        return index == 0 ? nil : regions[index].name
    }

    public var failovers: Int { switches.load(ordering: .relaxed) }

    /// A failure no other region can do better with is an answer; these are outages.
    static func isOutage(_ error: any Error) -> Bool {
        guard let error = AWSCallError(error) else { return false }
        switch error.category {
        case .network, .throttled, .service: return true
        default: return false
        }
    }

    /// The region in use, then the others in their configured order.
    private func order(from start: Int) -> [Int] { [start] + regions.indices.filter { $0 != start } }

    private func use(_ index: Int, reason: String) {
        let previous = serving.withLock { serving in
            defer { serving = index }
            return serving
        }
        guard previous != index else { return }
        if index == 0 {
            logger.notice("the primary region answers again; back on it", metadata: ["region": "\(regions[0].name)"])
        } else {
            switches.add(1, ordering: .relaxed)
            logger.warning(
                "the \(previous == 0 ? "primary" : "replica") region cannot answer; reading from a replica region",
                metadata: [
                    "region": "\(regions[index].name)", "unavailable": "\(regions[previous].name)",
                    "error": "\(reason)",
                ])
        }
    }

    public func list(namePrefix: String) async throws -> [String] {
        var lastError: (any Error)?
        for index in order(from: current) {
            do {
                let names = try await regions[index].source.list(namePrefix: namePrefix)
                use(index, reason: lastError.map { "\($0)" } ?? "")
                return names
            } catch  where Self.isOutage(error) {
                lastError = error
            }
        }
        throw lastError!
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        var results: [SecretRequest: Result<SecretValue, AWSCallError>] = [:]
        var remaining = requests
        var lastError: (any Error)?
        for index in order(from: current) where !remaining.isEmpty {
            let answered: [SecretRequest: Result<SecretValue, AWSCallError>]
            do {
                answered = try await regions[index].source.fetch(remaining)
            } catch  where Self.isOutage(error) {
                lastError = error
                continue
            }
            var unanswered: [SecretRequest] = []
            var served: [String] = []
            for request in remaining {
                results[request] = answered[request]
                if case .failure(let error)? = answered[request], Self.isOutage(error) {
                    unanswered.append(request)
                    lastError = error
                } else {
                    served.append(request.id)
                }
            }
            if !served.isEmpty {
                use(index, reason: lastError.map { "\($0)" } ?? "")
                if index != 0 {
                    logger.warning(
                        "read from a replica region",
                        metadata: ["region": "\(regions[index].name)", "secrets": "\(served.joined(separator: ","))"])
                }
            }
            remaining = unanswered
        }
        if results.isEmpty, let lastError { throw lastError }
        return results
    }

    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        try await probeAcross { try await $0.probe(requests, strategy: strategy, discoveryPrefixes: discoveryPrefixes) }
    }

    public func probeEach(_ requests: [SecretRequest], strategy: RefreshStrategy) async throws -> ProbeResult {
        try await probeAcross { try await $0.probeEach(requests, strategy: strategy) }
    }

    /// `probe` in the serving region, the primary first when on a replica, the next region on an outage.
    private func probeAcross(_ probe: (any SecretSource) async throws -> ProbeResult) async throws -> ProbeResult {
        let start = current
        var lastError: (any Error)?
        // On a replica, the primary is asked first every round.
        for index in start == 0 ? order(from: 0) : [0] + order(from: start).filter({ $0 != 0 }) {
            do {
                let result = try await probe(regions[index].source)
                if Self.isOutage(result) {
                    let failures: [any Error] = result.probes.values.compactMap {
                        if case .failure(let error) = $0 { error } else { nil }
                    }
                    lastError = failures.first
                    continue
                }
                use(index, reason: lastError.map { "\($0)" } ?? "")
                return result
            } catch  where Self.isOutage(error) {
                lastError = error
            }
        }
        throw lastError!
    }

    /// A probe that could check nothing because the region is out: every request failed so.
    static func isOutage(_ result: ProbeResult) -> Bool {
        !result.probes.isEmpty
            && result.probes.values.allSatisfy { if case .failure(let error) = $0 { isOutage(error) } else { false } }
    }
}
