import FoundationEssentials
import InjectorBase
public import InjectorConfig
public import InjectorSources
import InjectorTelemetry

/// The commands built on the main job, as the command line calls them: `init` and `review`.
extension Injector {
    /// `init`: one run with `config`'s logger and the AWS side of `environment`. One generation is
    /// committed, or every problem is thrown (``InjectorFailure``) and nothing is.
    public static func initialize(config: Config, environment: [String: String]) async throws {
        let logger = LogLineHandler.bootstrap(level: config.log.level, format: config.log.format)
        let injector = try await build(
            config: config, environment: environment, transport: AWSSetup.transport(environment: environment),
            logger: logger)
        _ = try await injector.run()
    }

    /// `review`: the configured secrets resolved as `init` resolves them (a `namePrefix` listed),
    /// each of Secrets Manager's reviewed once, and the report in `format` (text, json or markdown)
    /// on standard output. Ends with exit 1 (``CommandExit``) when there is a finding. A Parameter
    /// Store parameter is not reviewed: it has no rotation and no access date. The flags are checked
    /// before the configuration is read.
    public static func review(
        format: String, maxAgeDays: Int, environment: [String: String], config loadConfig: () throws -> Config,
        now: Date = Date()
    ) async throws {
        guard let format = Reviewer.Format(rawValue: format) else {
            throw CommandExit(.usage, "--format \(format): use text, json or markdown")
        }
        guard maxAgeDays >= 0 else {
            throw CommandExit(.usage, "--max-age-days \(maxAgeDays): a number of days, 0 or more")
        }
        let targets = try await ReviewTargets.resolve(environment: environment, config: loadConfig)
        let reviews = try await Reviewer.review(
            targets.secrets, client: targets.clients.primary, failoverRegions: targets.config.failover.map(\.region),
            maxAgeDays: maxAgeDays, now: now)
        StandardStream.output.write(Array(Reviewer.render(reviews, format: format).utf8))
        if reviews.contains(where: { !$0.findings.isEmpty }) { throw CommandExit(.failure) }
    }
}

/// What every review reads first: the configuration, one set of AWS clients (the listing that
/// resolves the secrets, and the review's own calls), and the configured Secrets Manager secrets,
/// resolved as `init` resolves them (a `namePrefix` listed), each once. A Parameter Store
/// parameter is left out: it has no rotation, no access date and no resource policy.
public struct ReviewTargets: Sendable {
    public var config: Config
    public var clients: AWSClients
    /// Each secret's id as configured (a name or an ARN), and whether a template builds a database
    /// URL from it (a database credential).
    public var secrets: [(id: String, buildsDatabaseURL: Bool)]

    public static func resolve(environment: [String: String], config loadConfig: () throws -> Config)
        async throws -> ReviewTargets
    {
        let config = try loadConfig()
        let logger = LogLineHandler.bootstrap(environment: environment)
        let clients = try await Injector.clients(
            config: config, environment: environment, transport: AWSSetup.transport(environment: environment),
            logger: logger)
        let injector = Injector(config: config, clients: clients, logger: logger)
        var problems: [Problem] = []
        let resolved = try await injector.resolveSecrets(&problems)
        if !problems.isEmpty { throw InjectorFailure(problems: problems) }
        // A template that builds a database URL makes each secret in the URL a database credential.
        let databaseAliases = config.databaseURLAliases
        var seen: Set<String> = []
        var secrets: [(id: String, buildsDatabaseURL: Bool)] = []
        for secret in resolved
        where SecretName(secret.request.id).parameter == nil && seen.insert(secret.request.id).inserted {
            secrets.append((secret.request.id, databaseAliases.contains(secret.alias)))
        }
        return ReviewTargets(config: config, clients: clients, secrets: secrets)
    }
}
