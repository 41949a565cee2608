import ArgumentParser
import FoundationEssentials
import InjectorBase
import InjectorConfig
import InjectorInit
import InjectorOutputs
import InjectorSidecar
import InjectorSources
import InjectorTelemetry
import Logging
import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// `secrets-injector`: parses the command line and hands over to the rooms below (docs/ARCHITECTURE.md). Usage errors exit 2
/// (not swift-argument-parser's 64), so every documented exit code holds.
struct SecretsInjector: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets-injector",
        abstract: "Gets an ECS task's secrets from AWS Secrets Manager without environment variables.",
        version: secretsInjectorVersion,
        subcommands: [
            Initialize.self, Run.self, Health.self, Refresh.self, Check.self, Get.self, Review.self, Version.self,
            Tool.Scan.self,
            Tool.Migrate.self,
        ])
}

/// `scan` and `migrate` are in `secrets-injector-tools` (docs/ARCHITECTURE.md: Yams brings full
/// Foundation, which the daemon never links). The daemon runs it in its own place, as git runs
/// `git-NAME`: beside this executable, else on `PATH`.
enum Tool {
    static let executable = "secrets-injector-tools"

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find secrets in plain sight (secrets-injector scan --help).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() { Tool.exec(["scan"] + arguments) }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a task definition's secrets into Secrets Manager (secrets-injector migrate --help).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() { Tool.exec(["migrate"] + arguments) }
    }

    static func exec(_ arguments: [String]) -> Never {
        var candidates: [String] = []
        if let self_ = try? readLink("/proc/self/exe"), let slash = self_.lastIndex(of: "/") {
            candidates.append(String(self_[..<slash]) + "/" + executable)
        }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where !folder.isEmpty {
            candidates.append("\(folder)/\(executable)")
        }
        guard let path = candidates.first(where: { access($0, X_OK) == 0 }) else {
            fail(
                "\(arguments[0]) is in \(executable), which is neither beside this executable nor on PATH: build it with scripts/build-release \(executable)",
                .usage)
        }
        let argv = (["secrets-injector"] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        fail("cannot run \(path): \(String(cString: strerror(errno)))", .usage)
    }

    static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { throw ExitCode(1) }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Where the configuration comes from (SPEC §4); flags win over every other source.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "Configuration file (else SECRETS_INJECTOR_CONFIG_FILE).")
    var configFile: String?
    @Option(name: .customLong("secret"), help: "A secret id to fetch (repeatable); replaces the configured list.")
    var secrets: [String] = []
    @Option(help: "Fetch every secret whose name starts with this.") var namePrefix: String?
    @Option(help: "Output folder.") var outputDir: String?
    @Option(help: "AWS region.") var region: String?
    @Option(help: "Secrets Manager endpoint URL.") var endpoint: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?

    func load(environment: [String: String]) throws -> Config {
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

struct Initialize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Fetch the configured secrets, render every output and commit one generation, then exit.",
        discussion: """
            Exit codes: 0 written (or unchanged); 2 configuration error; 3 a required secret, version \
            or key is missing or denied; 4 network or service failure; 5 the outputs cannot be written. \
            On any failure nothing is committed: an earlier generation stays.
            """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let config = try options.load(environment: environment)
        let logger = makeLogger(level: config.log.level, format: config.log.format)
        let injector = try await Injector.build(
            config: config, environment: environment, transport: AWSSetup.transport(environment: environment),
            logger: logger)
        _ = try await injector.run()
        // Done: exit from here, on the thread that committed. Returning would hop to the main
        // actor, whose queue the runtime serves from a thread it starts for the purpose.
        Glibc.exit(ExitStatus.success.rawValue)
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "The sidecar: write the first generation as init does, then serve on the Unix socket and follow rotations.",
        discussion: """
            Ready (/health, outputDir/.ready) once the first generation is committed and the socket \
            listens. SIGHUP refreshes now; \
            SIGTERM or SIGINT stops accepting, finishes requests in flight and exits 0. Start-up failures \
            exit as init does.
            """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let config = try options.load(environment: environment)
        let logger = makeLogger(level: config.log.level, format: config.log.format)
        try await Sidecar.run(
            config: config, environment: environment, transport: AWSSetup.transport(environment: environment),
            logger: logger)
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Exit 0 when the running sidecar is healthy or degraded, 1 when it is unhealthy or silent (the ECS healthCheck command)."
    )

    @Option(help: "The sidecar's socket (else the configuration's server.socketPath).") var socket: String?
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let path: String
        if let socket {
            path = socket
        } else {
            do {
                path = try options.load(environment: environment).server.socketPath
            } catch {
                unhealthy("cannot read the configuration to find the socket: \(error)")
            }
        }
        switch await SidecarClient.health(socket: path) {
        case .healthy: print("healthy")
        case .degraded(let reason): print(oneLine("degraded: \(reason)"))
        case .unhealthy(let reason): unhealthy(reason)
        }
    }

    func unhealthy(_ reason: String) -> Never {
        StandardStream.error.write("secrets-injector: \(oneLine(reason))\n")
        Glibc.exit(1)
    }
}

struct Refresh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the running sidecar to check now (POST /refresh): one secret, or all of them.",
        discussion: """
            Prints what changed (the files and the answers are already updated, onChange already run), or \
            unchanged; never a value. Exit codes: 0 answered; 1 the sidecar is down or refuses; 3 the secret \
            is not configured, or Secrets Manager denies or lacks it.
            """)

    @Option(name: .customLong("secret"), help: "A configured secret's id (else all of them).") var secretID: String?
    @Option(help: "The sidecar's socket (else the configuration's server.socketPath).") var socket: String?
    @Option(name: .customLong("config"), help: "Configuration file (else SECRETS_INJECTOR_CONFIG_FILE).")
    var configFile: String?

    func run() async throws {
        let path: String
        if let socket {
            path = socket
        } else {
            do {
                path = try ConfigLoader.load(
                    configFile: configFile, overrides: ConfigOverrides(),
                    environment: ProcessInfo.processInfo.environment
                ).server.socketPath
            } catch {
                fail("cannot read the configuration to find the socket: \(error)", .failure)
            }
        }
        switch await SidecarClient.refresh(socket: path, secretID: secretID) {
        case .answered(let line): print(line)
        case .refused(let reason): fail(reason, .failure)
        case .missing(let reason): fail(reason, .notFoundOrDenied)
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Validate the configuration and print the plan (secrets, files, modes, owners, templates) without any network call; an existing outputDir must be safe (exit 5)."
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.load(environment: ProcessInfo.processInfo.environment)
        print(config.plan)
        for warning in config.warnings {
            StandardStream.error.write("secrets-injector: warning: \(warning.escapingControls())\n")
        }
        // An existing outputDir must be one nobody else can write into (SPEC §5), as init and run check.
        if let problem = OutputFolderPolicy.problem(of: config.outputDir, outputGroup: config.socketGroup) {
            fail(problem, .cannotWrite)
        }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print one secret's value (or one top-level JSON key of it) to standard output.",
        discussion: """
            Uses the AWS credential chain (ECS task role first) and AWS_ENDPOINT_URL_SECRETS_MANAGER, \
            AWS_REGION as the other commands do. Exit codes: 0 printed; 2 bad usage or configuration; \
            3 not found or access denied; 4 network or service failure.
            """)

    @Argument(help: "The secret's name or full ARN.") var secretID: String
    @Option(help: "Version stage to read (default AWSCURRENT).") var versionStage: String?
    @Option(name: .customLong("version-id"), help: "Version id to read.") var versionID: String?
    @Option(help: "Print only this top-level key of a JSON secret.") var jsonKey: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = makeLogger(level: environment["SECRETS_INJECTOR_LOG_LEVEL"] ?? "warning")
        let transport = AWSSetup.transport(environment: environment)
        let client = try await AWSSetup.secretsManagerClient(
            environment: environment, transport: transport,
            allowInsecureEndpoint: environment["SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT"]?.lowercased() == "true",
            logger: logger)
        let bytes = try await SecretLookup(
            secretID: secretID, versionStage: versionStage, versionID: versionID, jsonKey: jsonKey
        )
        .output(client: client)
        StandardStream.output.write(bytes + (isatty(STDOUT_FILENO) == 1 ? [0x0A] : []))
    }
}

struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The quarterly review of the configured secrets: rotation, age, access, KMS key, replicas, policy.",
        discussion: """
            Reads DescribeSecret, ListSecretVersionIds and GetResourcePolicy, never a value (a parameterPath is \
            listed by name, undecrypted). Exit codes: \
            0 no finding; 1 findings; 2 bad usage or configuration; 3 DescribeSecret denied (a denied \
            ListSecretVersionIds or GetResourcePolicy only makes that field unknown); 4 network or service failure.
            """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "text, json or markdown.") var format: String = "text"
    @Option(help: "A finding when a secret has not been rotated or changed for longer (default 365).")
    var maxAgeDays: Int = 365

    func run() async throws {
        guard let format = InjectorSources.Review.Format(rawValue: format) else {
            fail("--format \(format): use text, json or markdown", .usage)
        }
        guard maxAgeDays >= 0 else { fail("--max-age-days \(maxAgeDays): a number of days, 0 or more", .usage) }
        let environment = ProcessInfo.processInfo.environment
        let config = try options.load(environment: environment)
        let logger = makeLogger(level: environment["SECRETS_INJECTOR_LOG_LEVEL"] ?? "warning")
        let transport = AWSSetup.transport(environment: environment)
        // One set of clients: the listing that resolves the secrets, and the review itself.
        let clients = try await AWSSetup.clients(
            environment: environment, transport: transport, configuredRegion: config.region,
            configuredEndpoint: config.endpoint, failover: config.failover,
            parameterStore: config.usesParameterStore, allowInsecureEndpoint: config.allowInsecureEndpoint,
            withheld: config.server.ssrfEnvVariables, logger: logger)
        let injector = Injector(config: config, clients: clients, logger: logger)
        var problems: [Problem] = []
        let secrets = try await injector.resolveSecrets(&problems)
        if !problems.isEmpty { throw InjectorFailure(problems: problems) }
        // A template that builds a database URL makes each secret in the URL a database credential.
        let databaseAliases = config.databaseURLAliases
        var seen: Set<String> = []
        var ids: [(id: String, buildsDatabaseURL: Bool)] = []
        // The review is Secrets Manager's: a Parameter Store parameter has no rotation or access date.
        for secret in secrets
        where SecretName(secret.request.id).parameter == nil && seen.insert(secret.request.id).inserted {
            ids.append((secret.request.id, databaseAliases.contains(secret.alias)))
        }
        let reviews = try await InjectorSources.Review.review(
            ids, client: clients.primary, failoverRegions: config.failover.map(\.region), maxAgeDays: maxAgeDays,
            now: Date())
        StandardStream.output.write(Array(InjectorSources.Review.render(reviews, format: format).utf8))
        if reviews.contains(where: { !$0.findings.isEmpty }) { throw ExitCode(1) }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("secrets-injector \(secretsInjectorVersion)") }
}

func makeLogger(level name: String, format: LogFormat = .text) -> Logger {
    LogLineHandler.bootstrap(level: name, format: format)
}

func fail(_ message: String, _ status: ExitStatus) -> Never {
    StandardStream.error.write("secrets-injector: error: \(oneLine(message))\n")
    exit(status.rawValue)
}

func oneLine(_ message: String) -> String {
    message.split(whereSeparator: \.isNewline).joined(separator: " ").escapingControls()
}

// SIGHUP (a refresh, once the sidecar serves) and SIGPIPE must not end the process at any moment,
// start-up included (issue 17); children start with every signal at its default.
signal(SIGHUP, SIG_IGN)
signal(SIGPIPE, SIG_IGN)
ProcessHardening.disableCoreDumps()
ProcessHardening.raiseOpenFileLimit()
// The tools' commands go to their executable before any parsing here, `--help` included.
if CommandLine.arguments.count > 1, ["scan", "migrate"].contains(CommandLine.arguments[1]) {
    Tool.exec(Array(CommandLine.arguments.dropFirst()))
}
let command: any ParsableCommand
do {
    command = try SecretsInjector.parseAsRoot()
} catch {
    // --help and --version exit 0 as usual; every usage error exits 2.
    if SecretsInjector.exitCode(for: error) == .success { SecretsInjector.exit(withError: error) }
    StandardStream.error.write(SecretsInjector.fullMessage(for: error) + "\n")
    exit(ExitStatus.usage.rawValue)
}
/// Runs a command's async `run()` (the existential alone would pick the synchronous one).
func runAsync<Command: AsyncParsableCommand>(_ command: Command) async throws {
    var command = command
    try await command.run()
}

do {
    if let asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(asyncCommand)
    } else {
        var command = command
        try command.run()
    }
} catch let error where SecretsInjector.exitCode(for: error) == .success {
    SecretsInjector.exit(withError: error)  // help and version, also through `help <subcommand>`
} catch let error as ExitCode {
    exit(error.rawValue)
} catch let failure as InjectorFailure {
    for problem in failure.problems {
        StandardStream.error.write("secrets-injector: error: \(oneLine(problem.message))\n")
    }
    exit(failure.exitStatus.rawValue)
} catch let error as ConfigurationError {
    for issue in error.issues { StandardStream.error.write("secrets-injector: error: \(oneLine(issue.description))\n") }
    exit(ExitStatus.usage.rawValue)
} catch {
    fail("\(error)", ExitStatus.of(error))
}
