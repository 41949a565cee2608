import AWSCredentials
import FoundationEssentials
import InjectorBase
import InjectorRefresh
import InjectorSources
import Logging
import SecretsManager

/// A fleet of sidecars sharing one account's quotas, simulated. Every task runs the
/// production policy — ``SecretsManagerSource`` (batching, strategy resolution, permission
/// fallbacks, spreading after throttling) over a real ``AWSJSONClient`` (signing, retries
/// with jittered back-off), timed by ``RefreshPolicy`` (interval jitter, failure back-off) —
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
    /// One secret rotated with single-user semantics while the fleet runs.
    public var rotation: RotationScenario?
    /// Parameter Store parameters each task reads as well, and the account's throughput.
    public var parameters = 0
    public var parameterThroughput = ParameterThroughput.standard

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

    var duration: Double {
        durationSeconds
            ?? max(
                startWindowSeconds + 4 * intervalSeconds,
                rotation.map { $0.setSecretAt + 1.2 * intervalSeconds + 30 } ?? 0)
    }
    /// Steady state: once every task has started and run its first interval.
    var steadyFrom: Double { min(startWindowSeconds + intervalSeconds, duration / 2) }
}

/// A single-user rotation of one secret (`scripts/bench fleet --rotate SECRET --at SECONDS`): the
/// old password stops working at `setSecret`; `finishSecret` moves `AWSCURRENT` `finishDelaySeconds`
/// later (`testSecret` between, two seconds apart as `scripts/harness/rotate_postgres.py` runs them).
/// Every task's app is RotationTests' app: a connection retired after `connectionSeconds` (so the
/// first failed login comes within that after `setSecret`), then a login at each of its
/// `queriesPerSecond` queries while it fails; on a failed login it asks the sidecar for
/// `POST /refresh` and retries once (`appRefresh`), or only waits for the sidecar's rounds.
/// Under `exec` (`execRestart`), the app has no refresh code: it is restarted `settleSeconds` plus a
/// random share of `splaySeconds` after its task picks the new version up, and fails every login
/// until then.
public struct RotationScenario: Sendable {
    public var secret: String
    public var setSecretAt: Double
    public var finishDelaySeconds: Double = 4
    public var appRefresh = true
    public var minRefreshSeconds: Double = 5
    public var connectionSeconds: Double = 1
    public var queriesPerSecond: Double = 25
    /// `exec`'s restart: its settle time and splay.
    public var execRestart: (settleSeconds: Double, splaySeconds: Double)?

    public init(secret: String, setSecretAt: Double, appRefresh: Bool = true) {
        self.secret = secret
        self.setSecretAt = setSecretAt
        self.appRefresh = appRefresh
    }

    var finishSecretAt: Double { setSecretAt + finishDelaySeconds }
}

public struct FleetReport: Sendable, Encodable {
    public struct RotationFigures: Sendable, Encodable {
        public var secret: String
        public var setSecretAtSeconds: Double
        public var finishSecretAtSeconds: Double
        public var appRefresh: Bool
        /// Tasks that hold the new version at the end, and how long after `finishSecret` they got it.
        public var pickedUp: Int
        public var pickupP50Seconds: Double
        public var pickupP99Seconds: Double
        public var pickupMaxSeconds: Double
        /// Failed logins of each task's app (each failure and its retry).
        public var failedLoginsPerTaskMean: Double
        public var failedLoginsPerTaskP99: Double
        public var failedLoginsPerTaskMax: Double
        /// The most requests in one second from `setSecret` on, per operation, and that as a share
        /// of the operation's quota (0.5: half of it).
        public var peakPerSecond: [String: Int]
        public var peakShareOfQuota: [String: Double]
        /// `POST /refresh` requests the apps made, and how many of them reached Secrets Manager.
        public var refreshes: Int
        public var refreshChecks: Int
        /// Under `exec`: the apps restarted, the most restarts in one second, and how long after
        /// `finishSecret` they came.
        public var execSettleSeconds: Double?
        public var execSplaySeconds: Double?
        public var appRestarts: Int?
        public var appRestartsPeakPerSecond: Int?
        public var appRestartP50Seconds: Double?
        public var appRestartMaxSeconds: Double?
    }

    public struct OperationFigures: Sendable, Encodable {
        /// Requests per second over the steady state.
        public var meanPerSecond: Double
        /// The most requests in any one second of the whole run.
        public var peakPerSecond: Int
        public var quotaPerSecond: Double
        /// Requests answered `ThrottlingException`, over the whole run.
        public var throttled: Int
        /// The second of the run in which the last of them was answered.
        public var lastThrottledSecond: Int?
        /// Requests over the whole run.
        public var total: Int
    }

    public var tasks: Int
    public var secrets: Int
    public var parameters: Int
    public var parameterThroughput: String
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
    public var rotation: RotationFigures?
    /// What the steady state costs (``Pricing``), per operation and in `total`.
    public var bill: [String: BillLine]
    public var billBasis: String

    /// One operation's (or the total's) share of the bill, from the steady state's rate.
    public struct BillLine: Sendable, Encodable {
        /// Calls per task and hour.
        public var callsPerTaskHour: Double
        public var dollarsPer10000Calls: Double
        /// Dollars per 30-day month for the whole fleet.
        public var dollarsPerMonth: Double
    }
}

public enum Fleet {
    /// Runs the scenario to its end and reports what Secrets Manager saw.
    public static func simulate(_ scenario: FleetScenario) -> FleetReport {
        let simulation = Simulation()
        let names = (0..<scenario.secrets).map { scenario.discover ? "fleet/app/secret-\($0)" : "fleet/app/s\($0)" }
        let parameters = (0..<scenario.parameters).map { "/fleet/app/p\($0)" }
        let service = SimulatedSecretsManager(
            simulation: simulation, policy: scenario.policy, secrets: names, parameters: parameters,
            parameterThroughput: scenario.parameterThroughput,
            rotation: scenario.rotation.map {
                // createSecret two seconds before setSecret, as the driver runs the steps.
                (secret: $0.secret, createdAt: $0.setSecretAt - 2, finishedAt: $0.finishSecretAt)
            })
        let outcomes = Outcomes()
        let credentials = Credentials(
            accessKeyID: "ASIASIMULATED", secretAccessKey: "simulated", sessionToken: "simulated", source: "simulation")
        let start = SeededRandom(seed: scenario.seed)
        for index in 0..<scenario.tasks {
            let startAt = start.next() * scenario.startWindowSeconds
            let random = SeededRandom(seed: scenario.seed &* 1_000_003 &+ UInt64(index))
            let client = AWSJSONClient(
                configuration: .init(
                    service: .secretsManager,
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
            var source: any SecretSource = SecretsManagerSource(client: SecretsManagerClient(client), logger: quiet)
            if !parameters.isEmpty {
                let ssm = ParameterStoreClient(
                    client.client(
                        for: .parameterStore,
                        endpoint: try! Endpoint(url: "https://ssm.ap-southeast-1.amazonaws.com", origin: "simulation")))
                source = CombinedSource(secrets: source, parameters: ParameterStoreSource(client: ssm, logger: quiet))
            }
            let member = Member(
                simulation: simulation, scenario: scenario, names: names + parameters,
                source: source, random: random, outcomes: outcomes,
                held: Held(seed: scenario.seed &* 7_919 &+ UInt64(index)))
            simulation.spawn { await member.live(startingAt: startAt) }
            if let rotation = scenario.rotation {
                simulation.spawn { await member.app(rotation) }
            }
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
        var bill: [String: FleetReport.BillLine] = [:]
        var total = (callsPerTaskHour: 0.0, dollarsPerMonth: 0.0)
        func rounded(_ value: Double, _ places: Double) -> Double { (value * places).rounded() / places }
        for operation in Operation.allCases {
            let perSecond = service.requests[operation] ?? [:]
            let steady = perSecond.filter { Double($0.key) >= steadyFrom }.values.reduce(0, +)
            let rate = Double(steady) / steadySeconds
            let price = Pricing.per10000Calls(operation, parameterThroughput: scenario.parameterThroughput)
            let line = (
                callsPerTaskHour: rate * 3600 / Double(max(1, scenario.tasks)),
                dollarsPerMonth: rate * Pricing.monthSeconds * price / 10_000
            )
            total.callsPerTaskHour += line.callsPerTaskHour
            total.dollarsPerMonth += line.dollarsPerMonth
            bill[operation.rawValue] = .init(
                callsPerTaskHour: rounded(line.callsPerTaskHour, 1000), dollarsPer10000Calls: price,
                dollarsPerMonth: rounded(line.dollarsPerMonth, 100))
            operations[operation.rawValue] = .init(
                meanPerSecond: (Double(steady) / steadySeconds * 100).rounded() / 100,
                peakPerSecond: perSecond.values.max() ?? 0, quotaPerSecond: service.quota(of: operation),
                throttled: service.throttled[operation] ?? 0, lastThrottledSecond: service.lastThrottled[operation],
                total: perSecond.values.reduce(0, +))
        }
        bill["total"] = .init(
            callsPerTaskHour: rounded(total.callsPerTaskHour, 1000), dollarsPer10000Calls: 0,
            dollarsPerMonth: rounded(total.dollarsPerMonth, 100))
        let ready = outcomes.readySeconds.sorted()
        func percentile(_ fraction: Double) -> Double { (Self.percentile(ready, fraction) * 1000).rounded() / 1000 }
        var rotation: FleetReport.RotationFigures?
        if let scenario = scenario.rotation {
            func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
            func share(_ operation: Operation, _ peak: Int) -> Double {
                rounded(Double(peak) / service.quota(of: operation))
            }
            var peaks: [String: Int] = [:]
            var shares: [String: Double] = [:]
            for operation in Operation.allCases {
                let peak =
                    (service.requests[operation] ?? [:]).filter { Double($0.key) >= scenario.setSecretAt }.values.max()
                    ?? 0
                peaks[operation.rawValue] = peak
                shares[operation.rawValue] = share(operation, peak)
            }
            let pickups = outcomes.pickups.sorted()
            let failed = outcomes.failedLogins.map(Double.init).sorted()
            let restarts = outcomes.appRestarts.sorted()
            let restartsPerSecond = Dictionary(grouping: restarts) { Int($0) }.values.map(\.count)
            rotation = .init(
                secret: scenario.secret, setSecretAtSeconds: scenario.setSecretAt,
                finishSecretAtSeconds: scenario.finishSecretAt, appRefresh: scenario.appRefresh,
                pickedUp: pickups.count, pickupP50Seconds: rounded(Self.percentile(pickups, 0.5)),
                pickupP99Seconds: rounded(Self.percentile(pickups, 0.99)),
                pickupMaxSeconds: rounded(Self.percentile(pickups, 1)),
                failedLoginsPerTaskMean: rounded(failed.reduce(0, +) / Double(max(1, failed.count))),
                failedLoginsPerTaskP99: Self.percentile(failed, 0.99),
                failedLoginsPerTaskMax: Self.percentile(failed, 1),
                peakPerSecond: peaks, peakShareOfQuota: shares, refreshes: outcomes.refreshes,
                refreshChecks: outcomes.refreshChecks)
            if let exec = scenario.execRestart {
                rotation?.execSettleSeconds = exec.settleSeconds
                rotation?.execSplaySeconds = exec.splaySeconds
                rotation?.appRestarts = restarts.count
                rotation?.appRestartsPeakPerSecond = restartsPerSecond.max() ?? 0
                rotation?.appRestartP50Seconds = rounded(Self.percentile(restarts, 0.5) - scenario.finishSecretAt)
                rotation?.appRestartMaxSeconds = rounded(Self.percentile(restarts, 1) - scenario.finishSecretAt)
            }
        }
        return FleetReport(
            tasks: scenario.tasks, secrets: scenario.secrets, parameters: scenario.parameters,
            parameterThroughput: scenario.parameterThroughput.rawValue, intervalSeconds: scenario.intervalSeconds,
            startWindowSeconds: scenario.startWindowSeconds, durationSeconds: scenario.duration,
            steadyStateFromSeconds: steadyFrom, policy: scenario.policy.rawValue,
            strategy: outcomes.strategies.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? "none",
            operations: operations, ready: ready.count, readyP50Seconds: percentile(0.5),
            readyP99Seconds: percentile(0.99), readyMaxSeconds: percentile(1), restarts: outcomes.restarts,
            failedRounds: outcomes.failedRounds, rotation: rotation, bill: bill,
            billBasis:
                "steady state from \(Int(steadyFrom)) s, 30-day month, Parameter Store \(scenario.parameterThroughput.rawValue) throughput; prices: \(Pricing.source)"
        )
    }

    /// The value at `fraction` of sorted `values` (nearest rank); infinity when there is none.
    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        guard !values.isEmpty else { return .infinity }
        return values[min(values.count - 1, max(0, Int((Double(values.count) * fraction).rounded(.up)) - 1))]
    }
}

/// What the tasks saw; touched only on the simulation's thread.
final class Outcomes: @unchecked Sendable {
    var readySeconds: [Double] = []
    var restarts = 0
    var failedRounds = 0
    var strategies: [String: Int] = [:]
    /// Seconds from `finishSecret` to each task holding the rotated secret's new version.
    var pickups: [Double] = []
    /// Each task's app's failed logins during the rotation.
    var failedLogins: [Int] = []
    var refreshes = 0
    var refreshChecks = 0
    /// Under `exec`: when each task's app was restarted.
    var appRestarts: [Double] = []
}

/// What one task's sidecar holds: the version of each secret, and each secret's refresh window
/// (`LastChecks`: opened by a round's or a refresh's check, `minRefreshSeconds` plus a random
/// 0–50 % of it). Touched only on the simulation's thread; its own random numbers, so that a run
/// without a rotation draws the same jitter as before.
final class Held: @unchecked Sendable {
    var versions: [String: String] = [:]
    var windows: [String: (opened: Double, next: Double)] = [:]
    var pickedUpAt: Double?
    var pickedUp: Bool { pickedUpAt != nil }
    let random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    func checked(_ secret: String, at time: Double, minRefresh: Double) {
        if let window = windows[secret], window.opened >= time { return }
        windows[secret] = (time, time + minRefresh * (1 + 0.5 * random.next()))
    }
}

/// One task's sidecar: the first generation as `init` fetches it, then refresh rounds as
/// ``RefreshScheduler`` drives them (`RefreshScheduler.loop`), with the simulation's clock.
struct Member: Sendable {
    let simulation: Simulation
    let scenario: FleetScenario
    let names: [String]
    let source: any SecretSource
    let random: SeededRandom
    let outcomes: Outcomes
    let held: Held

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
        var machine = RefreshPolicy(
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
            var versions: [String: String] = [:]
            for (request, result) in results {
                guard case .success(let value) = result else { return nil }
                versions[request.id] = value.versionID
            }
            hold(versions)
            return requests
        } catch {
            return nil
        }
    }

    /// One round as `Refresher.round` decides it: probe by the strategy; with discovery, names come
    /// from the probe's listing or, when it listed nothing, from `ListSecrets` (`resolveSecrets`);
    /// then a changed version is fetched by its id (`Refresher.changes`).
    private func round(_ requests: inout [SecretRequest]) async -> RefreshPolicy.Event {
        do {
            let checkedAt = simulation.now
            let probe = try await source.probe(
                requests, strategy: scenario.strategy, discoveryPrefixes: scenario.discover ? [prefix] : [])
            outcomes.strategies["\(probe.strategy)", default: 0] += 1
            if scenario.discover {
                var listed = probe.listed[prefix]
                if listed == nil { listed = try await source.list(namePrefix: prefix) }
                requests = (listed ?? []).map { SecretRequest(id: $0) }
            }
            if let rotation = scenario.rotation {
                for request in requests {
                    held.checked(request.id, at: checkedAt, minRefresh: rotation.minRefreshSeconds)
                }
            }
            try await fetchChanges(probe)
            let failed = probe.probes.filter { if case .failure = $0.value { true } else { false } }.map(\.key.id)
            if !failed.isEmpty { outcomes.failedRounds += 1 }
            return .refreshed(.init(failedSecrets: failed.sorted()))
        } catch {
            outcomes.failedRounds += 1
            return .refreshFailed
        }
    }
}

extension Member {
    /// The versions a probe saw that differ from the held ones, fetched by id (`Refresher.changes`).
    func fetchChanges(_ probe: ProbeResult) async throws {
        var versions: [String: String] = [:]
        var changed: [SecretRequest] = []
        for (request, probe) in probe.probes {
            switch probe {
            case .value(let value): versions[request.id] = value.versionID
            case .version(let version, _, _) where version != held.versions[request.id]:
                changed.append(SecretRequest(id: request.id, versionID: version))
            default: break
            }
        }
        if !changed.isEmpty {
            for case (let request, .success(let value)) in try await source.fetch(changed) {
                versions[request.id] = value.versionID
            }
        }
        hold(versions)
    }

    /// Commits new versions; the rotated secret's new one is a pickup.
    func hold(_ versions: [String: String]) {
        held.versions.merge(versions) { $1 }
        if let rotation = scenario.rotation, !held.pickedUp,
            held.versions[rotation.secret] == SimulatedSecretsManager.rotatedVersion
        {
            held.pickedUpAt = simulation.now
            outcomes.pickups.append(simulation.now - rotation.finishSecretAt)
        }
    }

    /// `POST /refresh?secretId=` as `OnDemandChecks.refresh(secretID:)` answers it: nothing within the
    /// secret's window, else `DescribeSecret` (or `GetSecretValue`
    /// with the `get` strategy) and the changed version (`OnDemandChecks.check`). One app per task, so
    /// no two refreshes of a task overlap and the sidecar's coalescing has nothing to do here.
    func refresh(_ secret: String, minRefresh: Double) async {
        outcomes.refreshes += 1
        if let window = held.windows[secret], simulation.now < window.next { return }
        held.checked(secret, at: simulation.now, minRefresh: minRefresh)
        outcomes.refreshChecks += 1
        let strategy: RefreshStrategy = scenario.strategy == .get ? .get : .describe
        do {
            try await fetchChanges(try await source.probeEach([SecretRequest(id: secret)], strategy: strategy))
        } catch {
            outcomes.failedRounds += 1
        }
    }

    /// The task's app through the rotation: its first new connection after `setSecret` fails
    /// unless the sidecar already holds the new version; then a login at each query until one
    /// succeeds, with `POST /refresh` and one retry on each failure when `appRefresh`.
    func app(_ rotation: RotationScenario) async {
        await simulation.sleep(until: rotation.setSecretAt + held.random.next() * rotation.connectionSeconds)
        while held.versions.isEmpty { await simulation.sleep(1) }  // not started yet
        var failed = 0
        if let exec = rotation.execRestart {
            // No refresh code: every login fails until `exec` restarts the app with the new value.
            let first = simulation.now
            while !held.pickedUp, simulation.now < scenario.duration { await simulation.sleep(1) }
            guard let pickedUpAt = held.pickedUpAt else {
                outcomes.failedLogins.append(1 + Int((simulation.now - first) * rotation.queriesPerSecond))
                return
            }
            let restartAt = pickedUpAt + exec.settleSeconds + held.random.next() * exec.splaySeconds
            await simulation.sleep(until: restartAt)
            outcomes.appRestarts.append(restartAt)
            outcomes.failedLogins.append(1 + Int((restartAt - first) * rotation.queriesPerSecond))
            return
        }
        if rotation.appRefresh {
            while !held.pickedUp, simulation.now < scenario.duration {
                failed += 1
                await refresh(rotation.secret, minRefresh: rotation.minRefreshSeconds)
                if held.pickedUp { break }
                failed += 1  // the retry
                await simulation.sleep(1 / rotation.queriesPerSecond)
            }
        } else {
            // Nothing the app does reaches the sidecar: its failed logins, one at each query, are
            // counted from the time the round brings the new version (polled each second).
            let first = simulation.now
            while !held.pickedUp, simulation.now < scenario.duration { await simulation.sleep(1) }
            failed = 1 + Int(((held.pickedUpAt ?? simulation.now) - first) * rotation.queriesPerSecond)
        }
        outcomes.failedLogins.append(failed)
    }
}

struct FixedCredentials: CredentialProvider {
    let credentials: Credentials
    var name: String { "simulation" }
    func fetch() async throws(CredentialError) -> Credentials { credentials }
}
