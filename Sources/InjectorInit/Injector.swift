public import AWSCredentials
public import HTTPTransport
public import InjectorBase
public import InjectorConfig
public import InjectorOutputs
public import InjectorSources
public import InjectorTelemetry
public import Logging
public import SecretsManager

/// One reason a run could not produce its outputs, with the exit status it maps to.
public struct Problem: Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var exitStatus: ExitStatus
    public var description: String { message }

    public init(message: String, exitStatus: ExitStatus) {
        self.message = message
        self.exitStatus = exitStatus
    }
}

/// Every problem of a run; nothing was committed.
public struct InjectorFailure: Error, Sendable, CustomStringConvertible, ExitStatusProviding {
    public var problems: [Problem]

    public init(problems: [Problem]) { self.problems = problems }

    /// Configuration beats everything (fix it first); then transient failures (a retry may
    /// work); then not found or denied.
    public var exitStatus: ExitStatus {
        let statuses = Set(problems.map(\.exitStatus))
        for status in [ExitStatus.usage, .unavailable, .notFoundOrDenied, .cannotWrite] where statuses.contains(status)
        { return status }
        return .failure
    }

    public var description: String { problems.map(\.message).joined(separator: "\n") }
}

/// A secret as the run resolved it: configured or discovered, with its alias and files.
public struct ResolvedSecret: Sendable {
    public var request: SecretRequest
    public var alias: String
    public var file: FileSpec?
    public var keys: [(key: String, file: FileSpec)]
    public var required: Bool
    /// Where it comes from in the configuration, for messages: `secrets[0]`.
    public var origin: String
}

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
        let files = try await render()
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
    public func render() async throws -> [OutputFile] {
        var problems: [Problem] = []
        let secrets = try await resolveSecrets(&problems)
        let results: [SecretRequest: Result<SecretValue, AWSCallError>]
        do {
            results = try await fetch(requests(for: secrets))
        } catch {
            throw InjectorFailure(problems: problems + [Problem(message: "\(error)", exitStatus: ExitStatus.of(error))])
        }
        return try renderFiles(secrets: secrets, results: results, problems: problems)
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

    /// The outputs from fetched values (or their errors). Pure: the sidecar re-renders from its cache.
    public func renderFiles(
        secrets: [ResolvedSecret], results: [SecretRequest: Result<SecretValue, AWSCallError>],
        problems: [Problem] = []
    ) throws(InjectorFailure) -> [OutputFile] {
        var problems = problems

        var contents: [String: SecretContent] = [:]
        var unavailable: Set<String> = []
        var files: [OutputFile] = []
        for secret in secrets {
            switch results[secret.request] {
            case .success(let value):
                let content = SecretContent(bytes: value.bytes, isBinary: value.secretString == nil)
                contents[secret.alias] = content
                logger.debug("fetched", metadata: ["secret": "\(value.name)", "versionId": "\(value.versionID)"])
                if let file = secret.file {
                    files.append(OutputFile(path: file.path, bytes: content.bytes, mode: file.mode, owner: file.owner))
                }
                for entry in secret.keys {
                    do {
                        let bytes = try content.value(at: [entry.key], alias: secret.alias)
                        files.append(
                            OutputFile(
                                path: entry.file.path, bytes: bytes, mode: entry.file.mode, owner: entry.file.owner))
                    } catch {
                        problems.append(
                            Problem(
                                message: error.message(output: "\(secret.origin).keys.\(entry.key)"),
                                exitStatus: .notFoundOrDenied))
                    }
                }
            case .failure(let error):
                unavailable.insert(secret.alias)
                if secret.required {
                    problems.append(Problem(message: "\(error)", exitStatus: ExitStatus.of(error)))
                } else {
                    logger.warning(
                        "optional secret not available",
                        metadata: ["secret": "\(secret.request.id)", "error": "\(error)"])
                }
            case nil:
                problems.append(
                    Problem(message: "\(secret.request): no answer from \(source.summary)", exitStatus: .unavailable))
            }
        }

        for template in config.templates {
            do {
                let bytes = try template.template.render { contents[$0] }
                files.append(
                    OutputFile(
                        path: template.file.path, bytes: bytes, mode: template.file.mode, owner: template.file.owner))
            } catch {
                if case .unknownAlias(let alias) = error, unavailable.contains(alias) { continue }  // its secret's failure is reported already
                problems.append(
                    Problem(
                        message: error.message(output: "template \(template.file.path)"), exitStatus: .notFoundOrDenied)
                )
            }
        }

        for env in config.env {
            var values: [(name: String, value: [UInt8])] = []
            for entry in env.entries {
                let request = entry.request
                switch results[request] {
                case .success(let value):
                    let content = SecretContent(bytes: value.bytes, isBinary: value.secretString == nil)
                    do {
                        let bytes = try content.value(
                            at: entry.valueFrom.jsonKey.map { [$0] } ?? [], alias: entry.valueFrom.secret.name)
                        values.append((entry.name, bytes))
                    } catch {
                        problems.append(
                            Problem(message: error.message(output: "env \(entry.name)"), exitStatus: .notFoundOrDenied))
                    }
                case .failure(let error):
                    if !problems.contains(where: { $0.message == "\(error)" }) {
                        problems.append(Problem(message: "\(error)", exitStatus: ExitStatus.of(error)))
                    }
                case nil:
                    problems.append(
                        Problem(message: "env \(entry.name): no answer for \(request)", exitStatus: .unavailable))
                }
            }
            files.append(
                OutputFile(
                    path: env.file.path, bytes: DotenvQuoting.dotenvFile(values), mode: env.file.mode,
                    owner: env.file.owner))
        }

        guard problems.isEmpty else { throw InjectorFailure(problems: problems) }
        return files
    }

    /// The configured secrets plus those discovered by `namePrefix`, each with its alias and files.
    /// `listed` gives names already listed per prefix (the `list` strategy's round), saving a call.
    public func resolveSecrets(_ problems: inout [Problem], listed: [String: [String]] = [:]) async throws
        -> [ResolvedSecret]
    {
        var resolved: [ResolvedSecret] = []
        for (index, spec) in config.secrets.enumerated() {
            guard case .id(let name) = spec.selector, let alias = spec.alias else { continue }
            resolved.append(
                ResolvedSecret(
                    request: SecretRequest(id: name.id, versionStage: spec.versionStage, versionID: spec.versionID),
                    alias: alias, file: spec.file,
                    keys: spec.keys, required: spec.required, origin: "secrets[\(index)]"))
        }
        var claimed = ClaimedPaths()
        for file in config.plannedFiles { _ = claimed.claim(file.path, by: "the configuration") }
        if let socket = config.socketRelativePath { _ = claimed.claim(socket, by: "the socket (server.socketPath)") }
        for (index, spec) in config.secrets.enumerated() {
            let prefix: String
            let key: String
            switch spec.selector {
            case .id: continue
            case .namePrefix(let namePrefix): (prefix, key) = (namePrefix, "namePrefix")
            case .parameterPath(let path): (prefix, key) = (path, "parameterPath")
            }
            let names: [String]
            do {
                if key == "parameterPath" {
                    names = try await source.listParameters(path: prefix)
                } else if let known = listed[prefix] {
                    names = known
                } else {
                    names = try await source.list(namePrefix: prefix)
                }
            } catch {
                // Discovery cannot work without ListSecrets (or GetParametersByPath): no fallback, a
                // start-up error (exit 3).
                throw InjectorFailure(
                    problems: problems + [
                        Problem(
                            message: "secrets[\(index)].\(key) \"\(prefix)\": \(error)",
                            exitStatus: ExitStatus.of(error))
                    ])
            }
            logger.debug("discovered", metadata: ["prefix": "\(prefix)", "count": "\(names.count)"])
            for name in names
            where !resolved.contains(where: { $0.request.id == name || SecretName($0.request.id).name == name }) {
                var relative = String(name.dropFirst(prefix.count))
                while relative.hasPrefix("/") { relative.removeFirst() }
                if relative.isEmpty { relative = name.split(separator: "/").last.map(String.init) ?? name }
                let alias = SecretName.alias(forName: name)
                let origin = "secrets[\(index)].\(key)"
                if let other = resolved.first(where: { $0.alias == alias }) {
                    problems.append(
                        Problem(
                            message:
                                "\(origin): discovered secret \(name) has the alias \"\(alias)\" of \(other.request.id) (\(other.origin)); give that one another alias",
                            exitStatus: .usage))
                    continue
                }
                if let problem = OutputPath.problem(relative) ?? claimed.claim(relative, by: "secret \(name)") {
                    problems.append(
                        Problem(
                            message: "\(origin): discovered secret \(name) cannot be written: \(problem)",
                            exitStatus: .usage))
                    continue
                }
                resolved.append(
                    ResolvedSecret(
                        request: SecretRequest(id: name), alias: alias,
                        file: FileSpec(path: relative, mode: spec.mode, owner: spec.owner), keys: [],
                        required: spec.required, origin: origin))
            }
        }
        return resolved
    }
}

extension EnvEntry {
    /// The value this entry needs.
    public var request: SecretRequest {
        SecretRequest(id: valueFrom.secret.id, versionStage: valueFrom.versionStage, versionID: valueFrom.versionID)
    }
}

extension EMFWriter {
    /// The `ServiceName` dimension: the configured one, else the ECS task family (``TaskMetadata``),
    /// else `secrets-injector`.
    public static func serviceName(configured: String?, metadata: TaskMetadata) async -> String {
        if let configured { return configured }
        guard case .success(let document) = await metadata.document(), let family = document.family, !family.isEmpty
        else { return "secrets-injector" }
        return family
    }

    public static func serviceName(
        configured: String?, environment: [String: String], transport: any HTTPTransport
    ) async -> String {
        await serviceName(
            configured: configured, metadata: TaskMetadata(environment: environment, transport: transport))
    }
}
