public import AWSCredentials
public import HTTPTransport
public import InjectorBase
public import InjectorConfig
public import InjectorOutputs
public import InjectorSources
public import InjectorTelemetry
public import Logging
public import SecretsManager

/// The product's main job: fetch the configured secrets, render every output, commit
/// one generation. What `init` runs, what `run` starts with, and what the tests call.
public struct Injector: Sendable {
    public let config: Config
    public let source: any SecretSource
    public let writer: GenerationWriter
    public let logger: Logger
    /// CloudWatch metrics (`metrics.cloudwatch`), when configured.
    public var emf: EMFWriter?

    public init(config: Config, source: any SecretSource, logger: Logger, emf: EMFWriter? = nil) {
        self.config = config
        self.source = source
        self.writer = GenerationWriter(directory: config.outputDir, outputGroup: config.socketGroup)
        self.logger = logger
        self.emf = emf
    }

    /// Wires the configured source: the local file, or Secrets Manager through the credential
    /// chain, region and endpoint of `environment`.
    public static func build(
        config: Config, environment: [String: String], transport: any HTTPTransport,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> Injector {
        // One request to the ECS task metadata, whether the region, the ServiceName or both need it.
        let metadata = TaskMetadata(environment: environment, transport: transport)
        var emf: EMFWriter?
        if let cloudWatch = config.cloudWatch {
            emf = EMFWriter(
                namespace: cloudWatch.namespace,
                serviceName: await EMFWriter.serviceName(configured: cloudWatch.serviceName, metadata: metadata))
        }
        switch config.source {
        case .local(let path):
            return Injector(config: config, source: LocalFileSource(path: path), logger: logger, emf: emf)
        case .secretsManager:
            let clients = try await clients(
                config: config, environment: environment, transport: transport, metadata: metadata, clock: clock,
                logger: logger)
            return Injector(config: config, clients: clients, logger: logger, emf: emf)
        }
    }

    /// Every AWS client `config` names, built once through ``AWSSetup``: its region, endpoint,
    /// failover regions and Parameter Store, its endpoint rule, and the variables a
    /// `credential_process` must not see.
    public static func clients(
        config: Config, environment: [String: String], transport: any HTTPTransport, metadata: TaskMetadata? = nil,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> AWSClients {
        try await AWSSetup.clients(
            environment: environment, transport: transport, configuredRegion: config.region,
            configuredEndpoint: config.endpoint, failover: config.failover,
            parameterStore: config.usesParameterStore, allowInsecureEndpoint: config.allowInsecureEndpoint,
            withheld: config.server.ssrfEnvVariables, metadata: metadata, clock: clock, logger: logger)
    }

    /// The sources over `clients`: Secrets Manager (with its failover regions), and Parameter Store
    /// beside it when the configuration reads parameters.
    public init(config: Config, clients: AWSClients, logger: Logger, emf: EMFWriter? = nil) {
        let sources = clients.secretsManager.map { SecretsManagerSource(client: $0, logger: logger) }
        var source: any SecretSource =
            sources.count == 1
            ? sources[0]
            : FailoverSource(
                regions: zip(clients.secretsManager, sources).map { .init(name: $0.configuration.region, source: $1) },
                logger: logger)
        if let parameterStore = clients.parameterStore {
            source = CombinedSource(
                secrets: source,
                parameters: ParameterStoreSource(
                    client: parameterStore, logger: logger, clientForRegion: clients.parameterStoreIn))
        }
        self.init(config: config, source: source, logger: logger, emf: emf)
    }

    /// Fetches and renders, then commits one generation. On any problem nothing is committed and
    /// the earlier generation stays.
    public func run() async throws -> GenerationWriter.Outcome {
        try commit(try await render())
    }

    /// Commits `files` as one generation, and logs it; a failure is ``ExitStatus/cannotWrite``.
    public func commit(_ files: [OutputFile]) throws -> GenerationWriter.Outcome {
        let outcome: GenerationWriter.Outcome
        do {
            outcome = try writer.commit(files)
        } catch {
            throw InjectorFailure(problems: [Problem(message: "\(error)", exitStatus: .cannotWrite)])
        }
        switch outcome {
        case .committed(let generation):
            logger.info(
                "committed a new generation", metadata: ["generation": "\(generation)", "files": "\(files.count)"])
        case .unchanged(let generation):
            logger.info("outputs unchanged", metadata: ["generation": "\(generation)", "files": "\(files.count)"])
        }
        return outcome
    }

    /// Every output's bytes, or every problem found.
    public func render() async throws -> [OutputFile] { try await renderWithResults().files }

    /// Every output's bytes and the fetched values they came from (`exec` takes the environment's
    /// from them), or every problem found.
    public func renderWithResults() async throws -> (
        files: [OutputFile], results: [SecretRequest: Result<SecretValue, AWSCallError>]
    ) {
        var problems: [Problem] = []
        let secrets = try await resolveSecrets(&problems)
        let results: [SecretRequest: Result<SecretValue, AWSCallError>]
        do {
            results = try await fetch(requests(for: secrets))
        } catch {
            throw InjectorFailure(problems: problems + [Problem(message: "\(error)", exitStatus: ExitStatus.of(error))])
        }
        return (try renderFiles(secrets: secrets, results: results, problems: problems), results)
    }

    /// The first generation's fetch (`init`, and `run`'s start), counted in CloudWatch: one
    /// `FetchSuccess`/`FetchFailure`/`RefreshLatency` line.
    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        let started = ContinuousClock.now
        let failovers = source.failovers
        do {
            let results = try await source.fetch(requests)
            let failed = results.values.filter { if case .failure = $0 { true } else { false } }.count
            emf?.fetched(
                succeeded: results.count - failed, failed: failed, seconds: seconds(since: started),
                failovers: source.failovers - failovers)
            return results
        } catch {
            emf?.fetched(
                succeeded: 0, failed: requests.count, seconds: seconds(since: started),
                failovers: source.failovers - failovers)
            throw error
        }
    }

    /// Every value the outputs need: the secrets' own and the env entries'.
    public func requests(for secrets: [ResolvedSecret]) -> [SecretRequest] {
        var requests = secrets.map(\.request)
        for entry in config.env.flatMap(\.entries) where !requests.contains(entry.request) {
            requests.append(entry.request)
        }
        return requests
    }
}

extension EnvEntry {
    /// The value this entry needs.
    public var request: SecretRequest {
        SecretRequest(id: valueFrom.secret.id, versionStage: valueFrom.versionStage, versionID: valueFrom.versionID)
    }
}
