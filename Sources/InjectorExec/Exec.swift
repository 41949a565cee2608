import HTTPTransport
import InjectorBase
public import InjectorConfig
import InjectorJob
import InjectorSidecar
import InjectorSources
import InjectorTelemetry
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `exec`: the app that reads only environment variables, started with its secrets there and
/// nowhere else (never in this process's environment, argv or a log line).
public enum Exec {
    /// Fetches every configured secret as `init` does (any problem: thrown, with `init`'s codes, and
    /// the app never starts), builds the app's environment (``AppEnvironment``), then either runs
    /// `command` in this process's place (`once`: nothing written, same pid), or runs as `run` does
    /// (the files written, the rounds, the socket) with the app supervised beside
    /// (``AppSupervisor``), restarted when its environment changes. Returns the exit status to end
    /// with: the app's, or 126/127 when it cannot start.
    public static func run(config: Config, environment: [String: String], once: Bool, command: [String]) async throws
        -> Int32
    {
        guard command.first.map({ !$0.isEmpty }) ?? false else {
            throw CommandExit(.usage, "exec needs the app to run: secrets-injector exec -- APP [ARGS...]")
        }
        let logger = LogLineHandler.bootstrap(level: config.log.level, format: config.log.format)
        let transport = AWSSetup.transport(environment: environment)
        if once {
            return try await runOnce(
                config: config, environment: environment, transport: transport, command: command, logger: logger)
        }
        let app = AppSupervisor(command: command, settings: config.exec, logger: logger)
        try await Sidecar.run(config: config, environment: environment, transport: transport, logger: logger, app: app)
        return app.exitStatus ?? ExitStatus.failure.rawValue
    }

    /// `--once`: fetched and rendered as `init` does, nothing written, then the app in this
    /// process's place. Returns only when it cannot run, with the shell's status for that.
    static func runOnce(
        config: Config, environment: [String: String], transport: any HTTPTransport, command: [String], logger: Logger
    ) async throws -> Int32 {
        let injector = try await Injector.build(
            config: config, environment: environment, transport: transport, logger: logger)
        let (files, results) = try await injector.renderWithResults()
        let app = AppSupervisor(command: command, settings: config.exec, logger: logger)
        try app.valuesCommitted(injector: injector, files: files, results: results)
        let entries = app.latestEnvironment
        logger.info(
            "running the app in this process's place",
            metadata: ["program": "\(command[0])", "variables": "\(entries.count)"])
        return cannotStart(command[0], AppProcess.replaceProcess(command, environment: entries, user: config.exec.user))
    }

    /// One line on standard error, and the shell's status for it.
    static func cannotStart(_ program: String, _ error: AppProcess.StartError) -> Int32 {
        StandardStream.error.write(
            "secrets-injector: error: " + "cannot run \(program): \(error.reason)".oneLine + "\n")
        return error.exitCode
    }
}
