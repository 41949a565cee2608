public import AWSCredentials
import FoundationEssentials
public import InjectorAgent
import InjectorBase
import InjectorConfig
public import InjectorJob
import InjectorOutputs
public import InjectorRefresh
import InjectorSources
public import InjectorTelemetry
public import Logging
import SecretsManager

/// Keeps the outputs in step with Secrets Manager while the sidecar runs: the first generation
/// (exactly what `init` does), then refresh rounds. A round asks whether versions changed (by the
/// configured strategy), fetches only what changed, re-renders from the cache and commits one
/// generation for all changes, then tells the application once. A failed or partial round never
/// removes or blanks an output. The checks clients ask for between rounds (``OnDemandChecks``)
/// commit through the same path.
public actor Refresher {
    public let injector: Injector
    public let store: SecretStore
    public let metrics: SidecarMetrics
    public let notifier: ChangeNotifier
    let clock: any WallClock
    let logger: Logger
    /// Every check's time and result, rounds' and ``OnDemandChecks``': what `POST /refresh` answers
    /// from within a secret's window.
    let lastChecks: LastChecks
    /// The app `exec` supervises, told each generation's values.
    let app: (any SupervisedApp)?
    /// The secrets the outputs are made of now, configured and discovered.
    private(set) var secrets: [ResolvedSecret] = []

    /// `random`: numbers in 0..<1 for the spread of ``LastChecks``' windows; tests pass fixed ones.
    public init(
        injector: Injector, store: SecretStore, metrics: SidecarMetrics, clock: any WallClock = SystemWallClock(),
        logger: Logger, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        app: (any SupervisedApp)? = nil
    ) {
        self.injector = injector
        self.app = app
        self.store = store
        self.metrics = metrics
        self.notifier = ChangeNotifier(
            settings: injector.config.onChange, outputDir: injector.config.outputDir, logger: logger, metrics: metrics)
        self.clock = clock
        self.logger = logger
        self.lastChecks = LastChecks(
            minRefresh: TimeInterval(injector.config.refresh.minRefreshSeconds), random: random)
    }

    var discoveryPrefixes: [String] {
        injector.config.secrets.compactMap { if case .namePrefix(let prefix) = $0.selector { prefix } else { nil } }
    }

    /// The first generation, as `init`: every required secret or nothing. (The `.ready` marker
    /// follows once the server listens: ``SidecarServer``.)
    public func start() async throws {
        var problems: [Problem] = []
        let secrets = try await injector.resolveSecrets(&problems)
        let requests = injector.requests(for: secrets)
        let results: [SecretRequest: Result<SecretValue, AWSCallError>]
        do {
            results = try await injector.fetch(requests)
        } catch {
            throw InjectorFailure(problems: problems + [Problem(message: "\(error)", exitStatus: ExitStatus.of(error))])
        }
        let files = try injector.renderFiles(secrets: secrets, results: results, problems: problems)
        // The app's environment first: a value it cannot take ends the start before anything is written.
        try app?.valuesCommitted(injector: injector, files: files, results: results)
        let (generation, _) = try await commit(files)
        await store.record(results, at: clock.now())
        await commit(secrets: secrets, generation: generation)
        await store.using(
            strategy: injector.config.refresh.strategy.resolved(discovers: !discoveryPrefixes.isEmpty))
        metrics.committed()
    }

    /// The secrets now on disk, told to the store with their aliases and what is required.
    private func commit(secrets: [ResolvedSecret], generation: String) async {
        self.secrets = secrets
        var aliases: [SecretRequest: String] = [:]
        for secret in secrets where aliases[secret.request] == nil { aliases[secret.request] = secret.alias }
        await store.commit(aliases: aliases, required: required(secrets), generation: generation)
    }

    /// The requests of the secrets on disk now: those `POST /refresh` may check.
    var configuredRequests: [SecretRequest] { injector.requests(for: secrets) }

    /// The requests the outputs cannot do without: required secrets' and every env entry's.
    private func required(_ secrets: [ResolvedSecret]) -> Set<SecretRequest> {
        Set(secrets.filter(\.required).map(\.request) + injector.config.env.flatMap(\.entries).map(\.request))
    }

    /// One refresh round. Throws when nothing could be checked at all; per-secret failures are
    /// recorded, shown in `/health`, and those of required secrets listed in the report (either
    /// way the state machine backs off).
    public func refresh() async throws -> RefreshPolicy.RoundReport {
        let started = ContinuousClock.now
        let failovers = injector.source.failovers
        do {
            let report = try await round()
            metrics.refreshed(failed: !report.failedSecrets.isEmpty)
            injector.emf?.fetched(
                succeeded: report.checked - report.failedChecks, failed: report.failedChecks,
                seconds: seconds(since: started), failovers: injector.source.failovers - failovers)
            await emitSecretAges()
            return report
        } catch {
            metrics.refreshed(failed: true)
            injector.emf?.fetched(
                succeeded: 0, failed: injector.requests(for: secrets).count,
                seconds: seconds(since: started), failovers: injector.source.failovers - failovers)
            await emitSecretAges()
            throw error
        }
    }

    /// The version of each secret ``warnIfNotRotationShaped(_:)`` looked at last (each version is
    /// read once, not every round), and the secrets it warned about (once each).
    private var shapeChecked: [SecretRequest: String] = [:]
    private var warnedShape: Set<SecretRequest> = []

    /// A database credential (`username` and `password`) that AWS's rotation functions cannot rotate
    /// as it is, on a secret whose rotation is on (`DescribeSecret` gives a next rotation date only
    /// then): they read `engine`, `host` and `dbname` too, and without `dbname` test the
    /// new password against the `postgres` database. Once per secret; the value is never logged.
    private func warnIfNotRotationShaped(_ request: SecretRequest) async {
        guard !warnedShape.contains(request), let value = await store.value(of: request),
            shapeChecked[request] != value.versionID
        else { return }
        shapeChecked[request] = value.versionID
        guard let object = try? JSONValue.parse(value.bytes) else { return }
        let keys = Set(object.keys)
        let missing = ["engine", "host", "dbname"].filter { !keys.contains($0) }
        guard keys.contains("username"), keys.contains("password"), !missing.isEmpty else { return }
        warnedShape.insert(request)
        logger.warning(
            "rotation is on for a database credential that AWS's rotation functions cannot read as it is",
            metadata: [
                "secret": "\(request.id)", "missingKeys": "\(missing.joined(separator: ","))",
                "fix": "add engine, host and dbname to the secret (docs/rotation.md)",
            ])
    }

    /// `SecretAge` for each secret: seconds since its last successful check.
    private func emitSecretAges() async {
        guard let emf = injector.emf else { return }
        let now = clock.now()
        for status in await store.statuses() {
            guard let success = status.lastSuccess else { continue }
            emf.emit(
                [EMFWriter.Metric("SecretAge", "Seconds", max(0, now.timeIntervalSince(success)).rounded())],
                secretName: status.id, at: now)
        }
    }

    private func round() async throws -> RefreshPolicy.RoundReport {
        let now = clock.now()
        let known = self.secrets
        let probe: ProbeResult
        do {
            probe = try await injector.source.probe(
                injector.requests(for: known), strategy: injector.config.refresh.strategy,
                discoveryPrefixes: discoveryPrefixes)
        } catch {
            // Nothing could be checked: each secret's check failed, as /health shows per secret.
            await store.record(failure: error, for: injector.requests(for: known))
            throw error
        }
        await store.using(strategy: probe.strategy)
        var problems: [Problem] = []
        let secrets = try await injector.resolveSecrets(&problems, listed: probe.listed)
        for problem in problems { logger.error("discovery problem", metadata: ["error": "\(problem.message)"]) }

        var report = RefreshPolicy.RoundReport()
        let outcomes = try await changes(injector.requests(for: secrets), probe: probe, at: now, report: &report)

        let required = required(secrets)
        report.checked = injector.requests(for: secrets).count
        report.failedChecks = outcomes.values.filter { if case .failure = $0 { true } else { false } }.count
        for (request, outcome) in outcomes {
            guard case .failure(let error) = outcome else { continue }
            if required.contains(request) { report.failedSecrets.append(request.description) }
            logFailure(error, of: request)
        }
        report.failedSecrets.sort()
        let changed = try await publish(
            outcomes, secrets: secrets,
            membershipChanged: Set(secrets.map(\.request)) != Set(known.map(\.request)), at: now)
        lastChecks.record(injector.requests(for: secrets), outcomes: outcomes, changed: changed, at: now)
        return report
    }

    /// ``changes(_:probe:at:report:)`` for a check that is not a round (no rotation dates to keep).
    func changes(_ requests: [SecretRequest], probe: ProbeResult, at now: Date) async throws
        -> [SecretRequest: Result<SecretValue, AWSCallError>]
    {
        var report = RefreshPolicy.RoundReport()
        return try await changes(requests, probe: probe, at: now, report: &report)
    }

    /// After `probe`: the outcome of every request whose version changed (fetched by the version id
    /// the probe saw, so a rotation between the probe and the fetch cannot mix them up; moto, after
    /// UpdateSecretVersionStage, also keeps answering GetSecretValue without a version with the old
    /// one), failed, or read whole by the probe. A request whose version is the store's is only
    /// confirmed. Rotation dates go into `report`.
    private func changes(
        _ requests: [SecretRequest], probe: ProbeResult, at now: Date, report: inout RefreshPolicy.RoundReport
    ) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        var outcomes: [SecretRequest: Result<SecretValue, AWSCallError>] = [:]
        var toFetch: [SecretRequest] = []
        var byVersion: [SecretRequest: SecretRequest] = [:]
        for request in requests {
            switch probe.probes[request] {
            case .value(let value): outcomes[request] = .success(value)
            case .version(let version, let stages, let rotation):
                if await store.versionID(of: request) == version {
                    await store.confirm(request, stages: stages, at: now)
                } else {
                    byVersion[SecretRequest(id: request.id, versionID: version)] = request
                }
                if let rotation {
                    await warnIfNotRotationShaped(request)
                    if rotation <= now {
                        report.rotationOverdue = true
                    } else {
                        report.nextRotation = min(report.nextRotation ?? rotation, rotation)
                    }
                }
            case .failure(let error): outcomes[request] = .failure(error)
            case nil: toFetch.append(request)
            }
        }
        if !toFetch.isEmpty || !byVersion.isEmpty {
            for (request, outcome) in try await injector.source.fetch(toFetch + Array(byVersion.keys)) {
                outcomes[byVersion[request] ?? request] = outcome
            }
        }
        return outcomes
    }

    /// An on-demand check's outcomes (``OnDemandChecks``): committed and told as a round's are, and
    /// recorded in ``lastChecks``.
    func settle(
        _ requests: [SecretRequest], outcomes: [SecretRequest: Result<SecretValue, AWSCallError>], at now: Date
    ) async {
        for case (let request, .failure(let error)) in outcomes { logFailure(error, of: request) }
        let changed = try? await publish(outcomes, secrets: secrets, membershipChanged: false, at: now)
        lastChecks.record(requests, outcomes: outcomes, changed: changed, at: now)
    }

    private func logFailure(_ error: AWSCallError, of request: SecretRequest) {
        logger.error(
            "refresh failed for a secret; its last value stays",
            metadata: [
                "secret": "\(request.id)", "errorCode": "\(error.code ?? "\(error.category)")", "error": "\(error)",
            ])
    }

    /// Records a check's outcomes; when a value changed (or the set of secrets did), renders from
    /// the cache with them laid over it, commits one generation, then tells the application. The
    /// socket's answers switch when the generation is committed, not before.
    @discardableResult
    private func publish(
        _ outcomes: [SecretRequest: Result<SecretValue, AWSCallError>], secrets: [ResolvedSecret],
        membershipChanged: Bool, at now: Date
    ) async throws -> Set<SecretRequest> {
        var changed: [String] = []
        var changedRequests: Set<SecretRequest> = []
        for case (let request, .success(let value)) in outcomes
        where await store.versionID(of: request) != value.versionID {
            changed.append(secrets.first { $0.request == request }?.alias ?? request.id)
            changedRequests.insert(request)
            logger.info("new version", metadata: ["secret": "\(value.name)", "versionId": "\(value.versionID)"])
        }
        guard !changed.isEmpty || membershipChanged else {
            await store.record(outcomes, at: now)
            return []
        }
        let files: [OutputFile]
        let results = await store.results(overlaying: outcomes)
        do {
            files = try injector.renderFiles(secrets: secrets, results: results)
        } catch {
            for problem in error.problems {
                logger.error(
                    "cannot render the new generation; the last one stays", metadata: ["error": "\(problem.message)"])
            }
            await store.record(outcomes.filter { if case .failure = $0.value { true } else { false } }, at: now)
            throw error
        }
        let (generation, committed) = try await commit(files)
        await store.record(outcomes, at: now)
        await commit(secrets: secrets, generation: generation)
        if let app {
            // Told even when no file changed: the app's variables need no file.
            do throws(InjectorFailure) {
                try app.valuesCommitted(injector: injector, files: files, results: results)
            } catch {
                for problem in error.problems {
                    logger.error("the app keeps its environment", metadata: ["error": "\(problem.message)"])
                }
            }
        }
        guard committed else { return changedRequests }  // same content under a new version: nothing to tell
        metrics.committed()
        notifier.notify(generation: generation, changed: changed.sorted())
        return changedRequests
    }

    private func commit(_ files: [OutputFile]) async throws -> (generation: String, committed: Bool) {
        do {
            let outcome = try injector.writer.commit(files)
            await store.recordWrite(failure: nil)
            switch outcome {
            case .committed(let generation):
                logger.info(
                    "committed a new generation", metadata: ["generation": "\(generation)", "files": "\(files.count)"])
                return (generation, true)
            case .unchanged(let generation):
                logger.info("outputs unchanged", metadata: ["generation": "\(generation)"])
                return (generation, false)
            }
        } catch {
            await store.recordWrite(failure: "\(error)")
            throw InjectorFailure(problems: [Problem(message: "\(error)", exitStatus: .cannotWrite)])
        }
    }
}
