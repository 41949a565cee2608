import ArgumentParser
import FoundationEssentials
import InjectorCore
import Logging
import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// `secrets-injector`: parses the command line and hands over to InjectorCore. Usage errors exit 2
/// (not swift-argument-parser's 64), so every documented exit code holds.
struct SecretsInjector: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets-injector",
        abstract: "Gets an ECS task's secrets from AWS Secrets Manager without environment variables.",
        version: secretsInjectorVersion,
        subcommands: [Get.self, Version.self])
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
        let logger = makeLogger(environment: environment)
        let transport = AWSSetup.transport(environment: environment)
        let client = try await AWSSetup.secretsManagerClient(
            environment: environment, transport: transport, logger: logger)
        let bytes = try await SecretLookup(
            secretID: secretID, versionStage: versionStage, versionID: versionID, jsonKey: jsonKey
        )
        .output(client: client)
        writeAll(bytes + (isatty(STDOUT_FILENO) == 1 ? [0x0A] : []))
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("secrets-injector \(secretsInjectorVersion)") }
}

func makeLogger(environment: [String: String]) -> Logger {
    let level =
        environment["SECRETS_INJECTOR_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .warning
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "secrets-injector")
}

func writeAll(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            break
        }
        offset += written
    }
}

func fail(_ message: String, _ status: ExitStatus) -> Never {
    let line = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    writeStandardError("secrets-injector: error: \(line)\n")
    exit(status.rawValue)
}

func writeStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

ProcessHardening.disableCoreDumps()
let command: any ParsableCommand
do {
    command = try SecretsInjector.parseAsRoot()
} catch {
    // --help and --version exit 0 as usual; every usage error exits 2.
    if SecretsInjector.exitCode(for: error) == .success { SecretsInjector.exit(withError: error) }
    writeStandardError(SecretsInjector.fullMessage(for: error) + "\n")
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
} catch {
    fail("\(error)", ExitStatus.of(error))
}
