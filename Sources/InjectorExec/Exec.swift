import InjectorBase
public import InjectorConfig
import InjectorJob
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
    /// `command` in this process's place (`once`: nothing written, same pid) or writes the
    /// configured files as `init` does and supervises the app (``supervise(_:environment:settings:logger:)``).
    /// Returns the exit status to end with: the app's, or 126/127 when it cannot start.
    public static func run(config: Config, environment: [String: String], once: Bool, command: [String]) async throws
        -> Int32
    {
        guard let program = command.first, !program.isEmpty else {
            throw CommandExit(.usage, "exec needs the app to run: secrets-injector exec -- APP [ARGS...]")
        }
        let logger = LogLineHandler.bootstrap(level: config.log.level, format: config.log.format)
        let injector = try await Injector.build(
            config: config, environment: environment, transport: AWSSetup.transport(environment: environment),
            logger: logger)
        let (files, results) = try await injector.renderWithResults()
        let variables = try injector.environmentVariables(files: files, results: results)
        if let variable = variables.first(where: { $0.value.contains(0) }) {
            throw InjectorFailure(problems: [
                Problem(
                    message:
                        "env \(variable.name): the value holds a NUL byte, which an environment variable cannot hold",
                    exitStatus: .notFoundOrDenied)
            ])
        }
        let appEnvironment = AppEnvironment(
            inherited: AppProcess.inheritedEnvironment, drop: config.exec.dropEnvironment, configured: variables)
        if !appEnvironment.overridden.isEmpty {
            logger.info(
                "configured variables replace the inherited ones of the same name",
                metadata: ["names": "\(appEnvironment.overridden.joined(separator: ","))"])
        }
        if once {
            logger.info(
                "running the app in this process's place",
                metadata: ["program": "\(program)", "variables": "\(variables.count)"])
            return cannotStart(
                program,
                AppProcess.replaceProcess(
                    command, environment: appEnvironment.entries, user: config.exec.user))
        }
        // Discovered secrets are files too, though the configuration lists none.
        if !files.isEmpty { _ = try injector.commit(files) }
        return await runOnOwnThread {
            supervise(command, environment: appEnvironment.entries, settings: config.exec, logger: logger)
        }
    }

    /// Starts the app in its own process group and stays its parent until it exits: every signal
    /// but SIGCHLD, SIGPIPE and faults forwarded to the group, SIGKILL to the group `stopTimeoutSeconds` after the first
    /// forwarded SIGTERM or SIGINT, orphans reaped as PID 1 (or as a child subreaper) would. Never
    /// restarts it. Blocks (call from a thread of its own); returns the app's status as a shell
    /// gives it (its code, or 128 + the signal).
    static func supervise(_ command: [String], environment: [[UInt8]], settings: ExecSettings, logger: Logger) -> Int32
    {
        if !ChildReaper.becomeSubreaper() {
            logger.warning(
                "cannot become a child subreaper; the app's orphans are reaped only as PID 1",
                metadata: ["error": "\(String(cString: strerror(errno)))"])
        }
        AppProcess.holdSignals()
        let pid: Int32
        switch AppProcess.start(command, environment: environment, user: settings.user) {
        case .success(let started): pid = started
        case .failure(let error): return cannotStart(command[0], error)
        }
        AppProcess.forwardSignals(to: pid)
        logger.info("started the app", metadata: ["program": "\(command[0])", "pid": "\(pid)"])
        var killAt: ContinuousClock.Instant?
        var killed = false
        while true {
            if let status = ChildReaper.exitStatus(of: pid) {
                ChildReaper.reapOrphans()
                let code = AppProcess.shellStatus(status)
                logger.info("the app exited", metadata: ["status": "\(code)"])
                return code
            }
            ChildReaper.reapOrphans()
            if killAt == nil, AppProcess.forwardedStops > 0 {
                killAt = .now + .seconds(settings.stopTimeoutSeconds)
            }
            if let killAt, !killed, ContinuousClock.now >= killAt {
                logger.warning(
                    "the app is still running after the stop timeout: killing its process group",
                    metadata: ["stopTimeoutSeconds": "\(settings.stopTimeoutSeconds)"])
                kill(-pid, SIGKILL)
                killed = true
            }
            usleep(50_000)
        }
    }

    /// One line on standard error, and the shell's status for it.
    static func cannotStart(_ program: String, _ error: AppProcess.StartError) -> Int32 {
        StandardStream.error.write(
            "secrets-injector: error: " + "cannot run \(program): \(error.reason)".oneLine + "\n")
        return error.exitCode
    }
}
