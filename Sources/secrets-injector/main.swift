import ArgumentParser
import FoundationEssentials
import InjectorBase
import InjectorCommandLine
import InjectorConfig
import InjectorExec
import InjectorJob
import InjectorSidecar
import InjectorSources
import InjectorTelemetry
import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// `secrets-injector`: the commands' arguments; the rooms below do the work (docs/ARCHITECTURE.md),
/// and ``CommandLineEntry`` maps their errors to the documented exit codes.
struct SecretsInjector: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets-injector",
        abstract: "Gets an ECS task's secrets from AWS Secrets Manager without environment variables.",
        version: secretsInjectorVersion,
        subcommands: [
            Initialize.self, Run.self, Exec.self, Install.self, Health.self, Refresh.self, Check.self, Get.self,
            Review.self,
            Version.self,
            Tool.Scan.self,
            Tool.Migrate.self,
        ])
}

/// `scan` and `migrate` are in `secrets-injector-tools` (docs/ARCHITECTURE.md: Yams brings full
/// Foundation, which the daemon never links); these declarations only list them in `--help`.
enum Tool {
    static let executable = "secrets-injector-tools"

    /// `scan`, `migrate`, and `review access` and `review permissions` (an auditor's commands).
    static func handsOff(_ arguments: [String]) -> Bool {
        guard let command = arguments.first else { return false }
        if ["scan", "migrate"].contains(command) { return true }
        return command == "review" && arguments.count > 1 && ["access", "permissions"].contains(arguments[1])
    }

    struct Scan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find secrets in plain sight (secrets-injector scan --help).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() { CommandLineEntry.handOff(to: Tool.executable, ["scan"] + arguments) }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a task definition's secrets into Secrets Manager (secrets-injector migrate --help).")
        @Argument(parsing: .captureForPassthrough) var arguments: [String] = []
        func run() { CommandLineEntry.handOff(to: Tool.executable, ["migrate"] + arguments) }
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
        try await Injector.initialize(config: options.load(), environment: options.environment)
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
        try await Sidecar.run(config: options.load(), environment: options.environment)
    }
}

struct Exec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Fetch the configured secrets, then run APP with them in its environment (only there) and supervise it.",
        discussion: """
            The app's environment: this one's minus SECRETS_INJECTOR_* and exec.dropEnvironment, plus every \
            variable of the configuration's env entries and of its templates written to dotenv files (they win \
            over inherited ones). The configured \
            files are written as init writes them. The app runs in its own process group; every signal but \
            SIGCHLD, SIGPIPE and faults is forwarded to it, SIGKILL follows a forwarded SIGTERM or SIGINT after \
            exec.stopTimeoutSeconds, orphans are reaped, and exec exits with the app's status (128+signal \
            when a signal ended it). --once writes nothing and runs APP in this process's place (same pid). \
            Before the app starts, exit codes are init's (the app never starts then); 127 APP not found, \
            126 not runnable.
            """)

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Write nothing: run APP in this process's place (execve), unsupervised.") var once = false
    @Argument(parsing: .postTerminator, help: "The app and its arguments, after --.") var command: [String] = []

    func validate() throws {
        if command.first?.isEmpty ?? true {
            throw ValidationError("exec needs the app to run: secrets-injector exec [--once] -- APP [ARGS...]")
        }
    }

    func run() async throws {
        let status = try await InjectorExec.Exec.run(
            config: options.load(), environment: options.environment, once: once, command: command)
        throw ExitCode(status)
    }
}

struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy this binary into DIR, for exec in the app's container (an init container's command).",
        discussion: """
            Writes DIR/secrets-injector (0755), atomically: a copy beside it, flushed, renamed into place. Reads \
            no configuration and makes no network call. In ECS: a volume shared by this init container and \
            the app's container (dependsOn SUCCESS), and the app's entryPoint \
            ["/injector/secrets-injector", "exec", "--"]. Exit codes: 0 installed (the path on standard \
            output); 2 bad usage; 5 DIR is missing or cannot be written.
            """)

    @Argument(help: "The shared folder (a volume the app's container mounts).") var directory: String

    func run() throws {
        print(try InjectorExec.Install.run(directory: directory))
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
        try await SidecarClient.reportHealth(socket: socket, config: options.load)
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
        try await SidecarClient.reportRefresh(socket: socket, secretID: secretID) {
            try ConfigLoader.load(
                configFile: configFile, overrides: ConfigOverrides(), environment: ProcessInfo.processInfo.environment)
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
        try options.load().check()
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
        try await SecretLookup(secretID: secretID, versionStage: versionStage, versionID: versionID, jsonKey: jsonKey)
            .run(environment: environment, logger: LogLineHandler.bootstrap(environment: environment))
    }
}

struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "The configured secrets' review: rotation, age, access date, KMS key, replicas, policy; who read them, who can.",
        discussion: """
            Reads DescribeSecret, ListSecretVersionIds and GetResourcePolicy, never a value (a parameterPath is \
            listed by name, undecrypted). Who read each secret: review access (CloudTrail); who can: review \
            permissions (IAM, resource and KMS key policies); each has its own --help. Exit codes: \
            0 no finding; 1 findings; 2 bad usage or configuration; 3 DescribeSecret denied (a denied \
            ListSecretVersionIds or GetResourcePolicy only makes that field unknown); 4 network or service failure.
            """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "text, json or markdown.") var format: String = "text"
    @Option(help: "A finding when a secret has not been rotated or changed for longer (default 365).")
    var maxAgeDays: Int = 365

    func run() async throws {
        try await Injector.review(
            format: format, maxAgeDays: maxAgeDays, environment: options.environment, config: options.load)
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("secrets-injector \(secretsInjectorVersion)") }
}

// SIGHUP (a refresh, once the sidecar serves) and SIGPIPE must not end the process at any moment,
// start-up included; children start with every signal at its default.
signal(SIGHUP, SIG_IGN)
signal(SIGPIPE, SIG_IGN)
ProcessHardening.disableCoreDumps()
ProcessHardening.raiseOpenFileLimit()
// The tools' commands go to their executable before any parsing here, `--help` included.
if Tool.handsOff(Array(CommandLine.arguments.dropFirst())) {
    CommandLineEntry.handOff(to: Tool.executable, Array(CommandLine.arguments.dropFirst()))
}
await CommandLineEntry.main(SecretsInjector.self)
