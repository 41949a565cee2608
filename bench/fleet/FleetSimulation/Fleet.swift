import AWSCredentials
import FoundationEssentials
import InjectorBase
import InjectorRefresh
import InjectorSources
import Logging
import SecretsManager

/// A fleet of sidecars sharing one account's quotas, simulated (issue 11). Every task runs the
/// production policy — ``SecretsManagerSource`` (batching, strategy resolution, permission
/// fallbacks, spreading after throttling) over a real ``SecretsManagerClient`` (signing, retries
/// with jittered back-off), timed by ``RefreshStateMachine`` (interval jitter, failure back-off) —
/// against ``SimulatedSecretsManager``, in simulated time. Only the network and the files are not
/// real: no output is rendered or written.
public struct FleetScenario: Sendable {
    public var tasks: Int
    public var secrets: Int
    public var intervalSeconds: Double
    /// Tasks start at uniformly spread times within this window (a deployment).
    public var startWindowSeconds: Double
    /// Simulated time; by default the start window and four intervals.
    public var durationSeconds: Double?
    public var strategy: RefreshStrategy
    public var policy: Policy
    /// Secrets found by one name prefix rather than named one by one.
    public var discover: Bool
    public var seed: UInt64
    /// An init that fails makes ECS stop the task and start a new one: modelled as the same task
    /// starting again after this long.
    public var restartSeconds: Double = 30

    public init(
        tasks: Int, secrets: Int = 4, intervalSeconds: Double = 300, startWindowSeconds: Double = 60,
        durationSeconds: Double? = nil, strategy: RefreshStrategy = .auto, policy: Policy = .recommended,
        discover: Bool = false, seed: UInt64 = 1
    ) {
        self.tasks = tasks
        self.secrets = secrets
        self.intervalSeconds = intervalSeconds
        self.startWindowSeconds = startWindowSeconds
        self.durationSeconds = durationSeconds
        self.strategy = strategy
        self.policy = policy
        self.discover = discover
        self.seed = seed
    }

    var duration: Double { durationSeconds ?? startWindowSeconds + 4 * intervalSeconds }
    /// Steady state: once every task has started and run its first interval.
    var steadyFrom: Double { min(startWindowSeconds + intervalSeconds, duration / 2) }
}

public struct FleetReport: Sendable, Encodable {
    public struct OperationFigures: Sendable, Encodable {
        /// Requests per second over the steady state.
        public var meanPerSecond: Double
        /// The most requests in any one second of the whole run.
        public var peakPerSecond: Int
        public var quotaPerSecond: Double
        /// Requests answered `ThrottlingException`, over the whole run.
        public var throttled: Int
        /// Requests over the whole run.
        public var total: Int
    }

    public var tasks: Int
    public var secrets: Int
    public var intervalSeconds: Double
    public var startWindowSeconds: Double
    public var durationSeconds: Double
    public var steadyStateFromSeconds: Double
    public var policy: String
    /// The strategy the rounds really used (after any permission fallback), by the most rounds.
    public var strategy: String
    public var operations: [String: OperationFigures]
    public var ready: Int
    public var readyP50Seconds: Double
    public var readyP99Seconds: Double
    public var readyMaxSeconds: Double
    /// Inits that failed and were started again.
    public var restarts: Int
    public var failedRounds: Int
}

public enum Fleet {
    /// Runs the scenario to its end and reports what Secrets Manager saw.
    public static func simulate(_ scenario: FleetScenario) -> FleetReport {
        let simulation = Simulation()
        let names = (0..<scenario.secrets).map { scenario.discover ? "fleet/app/secret-\($0)" : "fleet/app/s\($0)" }
        let service = SimulatedSecretsManager(simulation: simulation, policy: scenario.policy, secrets: names)
        let outcomes = Outcomes()
        let credentials = Credentials(
            accessKeyID: "ASIASIMULATED", secretAccessKey: "simulated", sessionToken: "simulated", source: "simulation")
        let start = SeededRandom(seed: scenario.seed)
        for index in 0..<scenario.tasks {
            let startAt = start.next() * scenario.startWindowSeconds
            let random = SeededRandom(seed: scenario.seed &* 1_000_003 &+ UInt64(index))
            let client = SecretsManagerClient(
                configuration: .init(
                    endpoint: try! Endpoint(
                        url: "https://secretsmanager.ap-southeast-1.amazonaws.com", origin: "simulation"),
                    region: "ap-southeast-1"),
                credentials: RefreshingCredentials(
                    provider: FixedCredentials(credentials: credentials), clock: simulation.clock, logger: quiet,
                    cached: credentials),
                transport: service, clock: simulation.clock,
                sleep: {
                    await simulation.sleep(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18)
                },
                random: random.next, logger: quiet)
            let member = Member(
                simulation: simulation, scenario: scenario, names: names,
                source: SecretsManagerSource(client: client, logger: quiet), random: random, outcomes: outcomes)
            simulation.spawn { await member.live(startingAt: startAt) }
        }
        simulation.run(until: scenario.duration)
        precondition(simulation.escapedJobs == 0, "work ran outside the simulation's executor")
        return report(scenario, service: service, outcomes: outcomes)
    }

    static let quiet = Logger(label: "fleet") { _ in SwiftLogNoOpLogHandler() }

    static func report(_ scenario: FleetScenario, service: SimulatedSecretsManager, outcomes: Outcomes)
        -> FleetReport
    {
        let steadyFrom = scenario.steadyFrom
        let steadySeconds = scenario.duration - steadyFrom
        var operations: [String: FleetReport.OperationFigures] = [:]
        for operation in Operation.allCases {
            let perSecond = service.requests[operation] ?? [:]
            let steady = perSecond.filter { Double($0.key) >= steadyFrom }.values.reduce(0, +)
            operations[operation.rawValue] = .init(
                meanPerSecond: (Double(steady) / steadySeconds * 100).rounded() / 100,
                peakPerSecond: perSecond.values.max() ?? 0, quotaPerSecond: operation.quotaPerSecond,
                throttled: service.throttled[operation] ?? 0, total: perSecond.values.reduce(0, +))
        }
        let ready = outcomes.readySeconds.sorted()
        func percentile(_ fraction: Double) -> Double {
            guard !ready.isEmpty else { return .infinity }
            let value = ready[min(ready.count - 1, Int((Double(ready.count) * fraction).rounded(.up)) - 1)]
            return (value * 1000).rounded() / 1000
        }
        return FleetReport(
            tasks: scenario.tasks, secrets: scenario.secrets, intervalSeconds: scenario.intervalSeconds,
            startWindowSeconds: scenario.startWindowSeconds, durationSeconds: scenario.duration,
            steadyStateFromSeconds: steadyFrom, policy: scenario.policy.rawValue,
            strategy: outcomes.strategies.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? "none",
            operations: operations, ready: ready.count, readyP50Seconds: percentile(0.5),
            readyP99Seconds: percentile(0.99), readyMaxSeconds: percentile(1), restarts: outcomes.restarts,
            failedRounds: outcomes.failedRounds)
    }
}

/// What the tasks saw; touched only on the simulation's thread.
final class Outcomes: @unchecked Sendable {
    var readySeconds: [Double] = []
    var restarts = 0
    var failedRounds = 0
    var strategies: [String: Int] = [:]
}

/// One task's sidecar: the first generation as `init` fetches it, then refresh rounds as
/// ``RefreshLoop`` drives them (`RefreshLoop.loop`), with the simulation's clock.
struct Member: Sendable {
    let simulation: Simulation
    let scenario: FleetScenario
    let names: [String]
    let source: SecretsManagerSource
    let random: SeededRandom
    let outcomes: Outcomes

    var prefix: String { "fleet/app/" }

    func live(startingAt startAt: Double) async {
        await simulation.sleep(until: startAt)
        var requests: [SecretRequest] = []
        // The first generation (Refresher.start): every secret, or the task stops and ECS starts
        // it again.
        while true {
            if let fetched = await firstGeneration() {
                requests = fetched
                break
            }
            outcomes.restarts += 1
            await simulation.sleep(scenario.restartSeconds)
        }
        outcomes.readySeconds.append(simulation.now - startAt)
        var machine = RefreshStateMachine(
            settings: .init(interval: scenario.intervalSeconds), random: { random.next() })
        var action = machine.handle(.started, now: now)
        while simulation.now < scenario.duration {
            switch action {
            case .refresh:
                action = machine.handle(await round(&requests), now: now)
            case .sleep(let until):
                await simulation.sleep(until: until.timeIntervalSince(simulation.epoch))
                action = machine.handle(.timerFired, now: now)
            case .wait:
                await simulation.sleep(1)
                action = machine.handle(.timerFired, now: now)
            }
        }
    }

    private var now: Date { simulation.clock.now() }

    private func firstGeneration() async -> [SecretRequest]? {
        do {
            let ids = scenario.discover ? try await source.list(namePrefix: prefix) : names
            guard !ids.isEmpty else { return nil }
            let requests = ids.map { SecretRequest(id: $0) }
            let results = try await source.fetch(requests)
            guard results.values.allSatisfy({ if case .success = $0 { true } else { false } }) else { return nil }
            return requests
        } catch {
            return nil
        }
    }

    /// One round as `Refresher.round` decides it: probe by the strategy; with discovery, names come
    /// from the probe's listing or, when it listed nothing, from `ListSecrets` (`resolveSecrets`).
    /// Versions never change here, so nothing is fetched after the probe.
    private func round(_ requests: inout [SecretRequest]) async -> RefreshStateMachine.Event {
        do {
            let probe = try await source.probe(
                requests, strategy: scenario.strategy, discoveryPrefixes: scenario.discover ? [prefix] : [])
            outcomes.strategies["\(probe.strategy)", default: 0] += 1
            if scenario.discover {
                var listed = probe.listed[prefix]
                if listed == nil { listed = try await source.list(namePrefix: prefix) }
                requests = (listed ?? []).map { SecretRequest(id: $0) }
            }
            let failed = probe.probes.filter { if case .failure = $0.value { true } else { false } }.map(\.key.id)
            if !failed.isEmpty { outcomes.failedRounds += 1 }
            return .refreshed(.init(failedSecrets: failed.sorted()))
        } catch {
            outcomes.failedRounds += 1
            return .refreshFailed
        }
    }
}

struct FixedCredentials: CredentialProvider {
    let credentials: Credentials
    var name: String { "simulation" }
    func fetch() async throws(CredentialError) -> Credentials { credentials }
}
