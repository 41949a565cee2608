public import AWSCredentials
import FoundationEssentials
public import InjectorAgent
import InjectorBase
import InjectorConfig
public import InjectorInit
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
/// removes or blanks an output.
public actor Refresher {
    public let injector: Injector
    public let store: SecretStore
    public let metrics: SidecarMetrics
    public let notifier: ChangeNotifier
    let clock: any WallClock
    let logger: Logger
    /// Numbers in 0..<1 for the refresh window's spread; tests pass fixed ones.
    let random: @Sendable () -> Double
    /// The secrets the outputs are made of now, configured and discovered.
    private(set) var secrets: [ResolvedSecret] = []
    /// When each secret's last check (by a round, `refreshNow` or `POST /refresh`) began, when
    /// `POST /refresh` may check it again, and what that check found. A check opens a window of
    /// `refresh.minRefreshSeconds` plus a random 0–50 % of it (issue 20): a thousand app processes
    /// that fail to log in at once make one call, not a thousand; and a fleet whose apps all failed
    /// within the same second (a single-user rotation's `setSecret`) spreads its next checks, and
    /// the new version's `GetSecretValue`, over seconds instead of one (`scripts/bench fleet
    /// --rotate`).
    private var windows: [SecretRequest: (opened: Date, next: Date)] = [:]
    private var lastResult: [SecretRequest: CheckResult] = [:]
    /// When each secret was last checked for `refreshNow`: its own spacing, since a `refreshNow` of a
    /// version the rounds do not keep (`versionId`) must still reach Secrets Manager (issue 17).
    private var refreshedNow: [SecretRequest: Date] = [:]
    /// The `POST /refresh` checks under way: a request for the same secret waits for it.
    private var inFlight: [SecretRequest: Task<Void, Never>] = [:]

    enum CheckResult {
        case changed, unchanged
        case failed(any Error)
        case notWritten
    }

    var minRefresh: TimeInterval { TimeInterval(injector.config.refresh.minRefreshSeconds) }

    public init(
        injector: Injector, store: SecretStore, metrics: SidecarMetrics, clock: any WallClock = SystemWallClock(),
        logger: Logger, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.random = random
        self.injector = injector
        self.store = store
        self.metrics = metrics
        self.notifier = ChangeNotifier(
            settings: injector.config.onChange, outputDir: injector.config.outputDir, logger: logger, metrics: metrics)
        self.clock = clock
        self.logger = logger
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
        let results: [SecretRequest: Result<SecretValue, SecretsManagerError>]
        do {
            results = try await injector.fetch(requests)
        } catch {
            throw InjectorFailure(problems: problems + [Problem(message: "\(error)", exitStatus: ExitStatus.of(error))])
        }
        let files = try injector.renderFiles(secrets: secrets, results: results, problems: problems)
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

    /// The requests the outputs cannot do without: required secrets' and every env entry's.
    private func required(_ secrets: [ResolvedSecret]) -> Set<SecretRequest> {
        Set(secrets.filter(\.required).map(\.request) + injector.config.env.flatMap(\.entries).map(\.request))
    }

    /// One refresh round. Throws when nothing could be checked at all; per-secret failures are
    /// recorded, shown in `/health`, and those of required secrets listed in the report (either
    /// way the state machine backs off).
    public func refresh() async throws -> RefreshStateMachine.RoundReport {
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
    /// then): they read `engine`, `host` and `dbname` too (SPEC §11), and without `dbname` test the
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
                "fix": "add engine, host and dbname to the secret (README: Rotation)",
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

    private func round() async throws -> RefreshStateMachine.RoundReport {
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

        var report = RefreshStateMachine.RoundReport()
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
        remember(injector.requests(for: secrets), outcomes: outcomes, changed: changed, at: now)
        return report
    }

    /// After `probe`: the outcome of every request whose version changed (fetched by the version id
    /// the probe saw, so a rotation between the probe and the fetch cannot mix them up; moto, after
    /// UpdateSecretVersionStage, also keeps answering GetSecretValue without a version with the old
    /// one), failed, or read whole by the probe. A request whose version is the store's is only
    /// confirmed. Rotation dates go into `report`.
    private func changes(
        _ requests: [SecretRequest], probe: ProbeResult, at now: Date, report: inout RefreshStateMachine.RoundReport
    ) async throws -> [SecretRequest: Result<SecretValue, SecretsManagerError>] {
        var outcomes: [SecretRequest: Result<SecretValue, SecretsManagerError>] = [:]
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

    /// `refreshNow` (the Agent's API): a check of the one secret `query` names, now, unless it was
    /// checked for `refreshNow` within the last 5 s; a new version is committed and told like a
    /// round's. A query no configured secret answers refreshes nothing (nil: the store answers).
    ///
    /// A query for one version (`versionId`) is answered as the Agent answers it, from what Secrets
    /// Manager says of that version now: its stages after a rotation moved them, or Secrets
    /// Manager's own refusal (a stage the version does not carry is its 400).
    public func refreshNow(_ query: SecretQuery) async -> AgentResponse? {
        guard let request = store.request(answering: query) else { return nil }
        let now = clock.now()
        if let last = refreshedNow[request], now.timeIntervalSince(last) < minRefresh { return nil }
        refreshedNow[request] = now
        let exact = query.versionID.map {
            SecretRequest(id: request.id, versionStage: query.versionStage, versionID: $0)
        }
        let asked = [request] + (exact.map { $0 == request ? [] : [$0] } ?? [])
        var outcomes: [SecretRequest: Result<SecretValue, SecretsManagerError>]
        do {
            outcomes = try await injector.source.fetch(asked)
        } catch {
            await store.record(failure: error, for: [request])
            logger.error("refreshNow failed", metadata: ["secret": "\(request.id)", "error": "\(error)"])
            return nil
        }
        var answer: AgentResponse?
        if let exact, exact != request, let outcome = outcomes.removeValue(forKey: exact) {
            switch outcome {
            case .success(let value): answer = AgentEntry(request: exact, value: value).response
            case .failure(let error): answer = .failure(error)
            }
        }
        for case (let request, .failure(let error)) in outcomes { logFailure(error, of: request) }
        let changed = try? await publish(outcomes, secrets: secrets, membershipChanged: false, at: now)
        remember([request], outcomes: outcomes, changed: changed, at: now)
        return answer
    }

    /// `POST /refresh` (issue 20): a check now of one configured secret (`secretID`) or of all, then
    /// the answer after the commit: the configured ids that changed, or `unchanged`, never a value.
    /// A secret checked within `refresh.minRefreshSeconds` is not checked again: its last result is
    /// the answer, with `"cached": true`; a check under way is waited for.
    public func refresh(secretID: String?) async -> AgentResponse {
        let configured = injector.requests(for: secrets)
        let requests: [SecretRequest]
        if let secretID {
            guard let request = store.request(answering: SecretQuery(secretID: secretID)),
                configured.contains(request)
            else {
                return .json(404, Array(#"{"error":"not configured","secretId":\#(JSONValue.quoted(secretID))}"#.utf8))
            }
            requests = [request]
        } else {
            requests = configured
        }
        let now = clock.now()
        var due: [SecretRequest] = []
        var underWay: [Task<Void, Never>] = []
        for request in requests {
            if let task = inFlight[request] {
                underWay.append(task)
            } else if let window = windows[request], now < window.next {
                continue
            } else {
                due.append(request)
            }
        }
        if !due.isEmpty {
            let task = Task { await self.check(due, at: now) }
            for request in due {
                checked(request, at: now)
                inFlight[request] = task
            }
            await task.value
            for request in due { inFlight[request] = nil }
        }
        for task in underWay { await task.value }
        return Self.answer(requests.map { ($0, lastResult[$0] ?? .unchanged) }, cached: due.isEmpty)
    }

    /// Opens `request`'s window (``windows``) for a check that began at `now`, unless that check or
    /// a later one opened it already.
    private func checked(_ request: SecretRequest, at now: Date) {
        if let window = windows[request], window.opened >= now { return }
        windows[request] = (now, now.addingTimeInterval(minRefresh * (1 + 0.5 * random())))
    }

    /// One `POST /refresh` check, committed and told as a round's is: `DescribeSecret` for each
    /// secret (`GetSecretValue` with the `get` strategy, or where it is denied), then the changed
    /// versions by id (`SecretSource.probeEach`). Never `ListSecrets` or `BatchGetSecretValue`:
    /// their quotas are 100 a second for the whole account, and a fleet's apps ask at the same
    /// moment when a rotation breaks their logins (`scripts/bench fleet --rotate`).
    private func check(_ requests: [SecretRequest], at now: Date) async {
        let outcomes: [SecretRequest: Result<SecretValue, SecretsManagerError>]
        do {
            let strategy: RefreshStrategy = injector.config.refresh.strategy == .get ? .get : .describe
            let probe = try await injector.source.probeEach(requests, strategy: strategy)
            var report = RefreshStateMachine.RoundReport()
            outcomes = try await changes(requests, probe: probe, at: now, report: &report)
        } catch {
            await store.record(failure: error, for: requests)
            logger.error("refresh failed", metadata: ["secrets": "\(requests.count)", "error": "\(error)"])
            for request in requests { lastResult[request] = .failed(error) }
            return
        }
        for case (let request, .failure(let error)) in outcomes { logFailure(error, of: request) }
        let changed = try? await publish(outcomes, secrets: secrets, membershipChanged: false, at: now)
        remember(requests, outcomes: outcomes, changed: changed, at: now)
    }

    /// What a check of `requests` found (`changed` nil: the new generation could not be written).
    private func remember(
        _ requests: [SecretRequest], outcomes: [SecretRequest: Result<SecretValue, SecretsManagerError>],
        changed: Set<SecretRequest>?, at now: Date
    ) {
        for request in requests {
            checked(request, at: now)
            if case .failure(let error)? = outcomes[request] {
                lastResult[request] = .failed(error)
            } else if let changed {
                lastResult[request] = changed.contains(request) ? .changed : .unchanged
            } else {
                lastResult[request] = .notWritten
            }
        }
    }

    /// `{"result": "changed", "changed": [ids], "cached": false}` or `{"result": "unchanged", …}`;
    /// a secret whose check failed: the Agent's error answer when it was the only one asked, else
    /// listed with its error code; a new generation that could not be written: 500.
    static func answer(_ results: [(SecretRequest, CheckResult)], cached: Bool) -> AgentResponse {
        var changed: [JSONValue] = []
        var failed: [JSONValue] = []
        for (request, result) in results {
            switch result {
            case .changed: changed.append(.string(request.id))
            case .unchanged: continue
            case .failed(let error):
                let serviceError = error as? SecretsManagerError
                if results.count == 1, let serviceError { return .failure(serviceError) }
                let code = serviceError.map { $0.code ?? "\($0.category)" } ?? "\(error)"
                failed.append(.fields(["secretId": .string(request.id), "error": .string(code)]))
            case .notWritten:
                return .json(
                    500, Array(#"{"error":"the new generation could not be written; the last one stays"}"#.utf8))
            }
        }
        var members: [JSONValue.Member] = [
            .init(key: "result", value: .string(changed.isEmpty ? "unchanged" : "changed"))
        ]
        if !changed.isEmpty { members.append(.init(key: "changed", value: .array(changed))) }
        if !failed.isEmpty { members.append(.init(key: "failed", value: .array(failed))) }
        members.append(.init(key: "cached", value: .bool(cached)))
        return .json(200, Array(JSONValue.object(members).serialized.utf8))
    }

    private func logFailure(_ error: SecretsManagerError, of request: SecretRequest) {
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
        _ outcomes: [SecretRequest: Result<SecretValue, SecretsManagerError>], secrets: [ResolvedSecret],
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
        do {
            files = try injector.renderFiles(secrets: secrets, results: await store.results(overlaying: outcomes))
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
