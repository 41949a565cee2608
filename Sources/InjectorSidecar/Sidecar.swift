public import HTTPTransport
import InjectorAgent
import InjectorBase
public import InjectorConfig
import InjectorHTTP
import InjectorJob
import InjectorSources
import InjectorTelemetry
public import Logging
import SecretsManager
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// `secrets-injector run`: the first generation exactly as `init`, then the refresher
/// and the server as services of one `ServiceGroup`, which owns SIGTERM and SIGINT.
///
/// With an `app` (`exec`), the app is one more service, started once the first generation is
/// committed; every signal is the app's (SIGHUP too: no refresh on it), and the group stops when
/// the app's service returns. The orphan reaper is the app's supervisor then.
public enum Sidecar {
    public static func run(
        config: Config, environment: [String: String], transport: any HTTPTransport, logger: Logger,
        app: (any SupervisedApp)? = nil
    ) async throws {
        // The TCP port's token first: without one, nothing is fetched (exit 2).
        let token = try SSRFToken.from(config: config, environment: environment, logger: logger)
        // A marker an earlier run left means nothing until this one serves.
        let readyMarker = config.outputDir + "/.ready"
        unlink(readyMarker)
        let injector = try await Injector.build(
            config: config, environment: environment, transport: transport, logger: logger)
        let store = SecretStore()
        let metrics = SidecarMetrics()
        let refresher = Refresher(injector: injector, store: store, metrics: metrics, logger: logger, app: app)
        try await refresher.start()

        // SIGHUP (ignored since the process started) is trapped before the server can write `.ready`.
        let hangups = app == nil ? await UnixSignalsSequence(trapping: .sighup) : nil
        let loop = RefreshScheduler(refresher: refresher, settings: config.refresh, logger: logger, hangups: hangups)
        let checks = OnDemandChecks(refresher: refresher)
        let clients =
            (injector.source as? SecretsManagerSource).map { [$0.client] }
            ?? (injector.source as? FailoverSource)?.regions.map(\.source.client) ?? []
        let source = injector.source
        let responder = AgentResponder(
            api: AgentAPI(settings: config.server.api), store: store, health: { await loop.health(store: store) },
            metricsText: {
                MetricsText.render(
                    metrics: metrics, health: await loop.health(store: store),
                    apiCalls: clients.reduce(into: [:]) { calls, client in
                        calls.merge(client.apiCalls, uniquingKeysWith: +)
                    },
                    failovers: source.failovers)
            },
            refreshNow: { await checks.refreshNow($0) }, refresh: { await checks.refresh(secretID: $0) },
            token: { token?.current() })
        let server = SidecarServer(
            settings: config.server, socketGroup: config.socketGroup, responder: responder, metrics: metrics,
            logger: logger,
            emf: injector.emf, readyMarker: readyMarker)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: loop), .init(service: server)]
        if let token { services.append(.init(service: token)) }
        if let app {
            services.append(
                .init(
                    service: app, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup))
        } else {
            services.append(.init(service: OrphanReaper(logger: logger)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services, gracefulShutdownSignals: app == nil ? [.sigterm, .sigint] : [], logger: logger))
        logger.info(
            "ready",
            metadata: [
                "socket": "\(config.server.socketPath)",
                "strategy": "\(config.refresh.strategy.resolved(discovers: config.discovers).rawValue)",
            ])
        try await group.run()
        refresher.notifier.stop()
        logger.info("stopped")
    }
}
