public import ArgumentParser
import FoundationEssentials
public import InjectorConfig

/// Where the configuration comes from; flags win over every other source.
public struct ConfigOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("config"), help: "Configuration file (else SECRETS_INJECTOR_CONFIG_FILE).")
    var configFile: String?
    @Option(name: .customLong("secret"), help: "A secret id to fetch (repeatable); replaces the configured list.")
    var secrets: [String] = []
    @Option(help: "Fetch every secret whose name starts with this.") var namePrefix: String?
    @Option(help: "Output folder.") var outputDir: String?
    @Option(help: "AWS region.") var region: String?
    @Option(help: "Secrets Manager endpoint URL.") var endpoint: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?

    public var environment: [String: String] { ProcessInfo.processInfo.environment }

    public func load() throws -> Config {
        var overrides = ConfigOverrides()
        overrides.secrets = secrets
        overrides.namePrefix = namePrefix
        overrides.outputDir = outputDir
        overrides.region = region
        overrides.endpoint = endpoint
        overrides.logLevel = logLevel
        return try ConfigLoader.load(configFile: configFile, overrides: overrides, environment: environment)
    }
}
