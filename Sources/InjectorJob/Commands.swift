import FoundationEssentials
import InjectorBase
public import InjectorConfig
import InjectorSources
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
        let config = try loadConfig()
        let logger = LogLineHandler.bootstrap(environment: environment)
        // One set of clients: the listing that resolves the secrets, and the review itself.
        let clients = try await clients(
            config: config, environment: environment, transport: AWSSetup.transport(environment: environment),
            logger: logger)
        let injector = Injector(config: config, clients: clients, logger: logger)
        var problems: [Problem] = []
        let secrets = try await injector.resolveSecrets(&problems)
        if !problems.isEmpty { throw InjectorFailure(problems: problems) }
        // A template that builds a database URL makes each secret in the URL a database credential.
        let databaseAliases = config.databaseURLAliases
        var seen: Set<String> = []
        var ids: [(id: String, buildsDatabaseURL: Bool)] = []
        for secret in secrets
        where SecretName(secret.request.id).parameter == nil && seen.insert(secret.request.id).inserted {
            ids.append((secret.request.id, databaseAliases.contains(secret.alias)))
        }
        let reviews = try await Reviewer.review(
            ids, client: clients.primary, failoverRegions: config.failover.map(\.region), maxAgeDays: maxAgeDays,
            now: now)
        StandardStream.output.write(Array(Reviewer.render(reviews, format: format).utf8))
        if reviews.contains(where: { !$0.findings.isEmpty }) { throw CommandExit(.failure) }
    }
}
