import InjectorBase
public import InjectorConfig
import InjectorSources
import InjectorTelemetry

/// This room's commands, as the command line calls them: `run`, `health` and `refresh`.
extension Sidecar {
    /// `run`: the sidecar with `config`'s logger and the AWS side of `environment`.
    public static func run(config: Config, environment: [String: String]) async throws {
        let logger = LogLineHandler.bootstrap(level: config.log.level, format: config.log.format)
        try await run(
            config: config, environment: environment, transport: AWSSetup.transport(environment: environment),
            logger: logger)
    }

    /// `--socket`, else the configuration's `server.socketPath`.
    static func socketPath(_ socket: String?, config: () throws -> Config) throws(CommandExit) -> String {
        if let socket { return socket }
        do {
            return try config().server.socketPath
        } catch {
            throw CommandExit(
                .failure, "cannot read the configuration to find the socket (or give --socket PATH): \(error)")
        }
    }
}

extension SidecarClient {
    /// `health`: `healthy`, or `degraded: …`, on standard output (exit 0); the reason it is
    /// unhealthy, or silent, as one line on standard error (exit 1).
    public static func reportHealth(socket: String?, config: () throws -> Config) async throws(CommandExit) {
        let path: String
        do {
            path = try Sidecar.socketPath(socket, config: config)
        } catch {
            throw unhealthy(error.description)
        }
        switch await health(socket: path) {
        case .healthy: print("healthy")
        case .degraded(let reason): print("degraded: \(reason)".oneLine)
        case .unhealthy(let reason): throw unhealthy(reason)
        }
    }

    /// Not an error of the command: the answer, on standard error, as the ECS health check logs it.
    static func unhealthy(_ reason: String) -> CommandExit {
        StandardStream.error.write("secrets-injector: \(reason.oneLine)\n")
        return CommandExit(.failure)
    }

    /// `refresh`: what the sidecar says changed on standard output (exit 0), or why it did not
    /// check (exit 1), or why the secret is missing (exit 3).
    public static func reportRefresh(socket: String?, secretID: String?, config: () throws -> Config)
        async throws(CommandExit)
    {
        let path = try Sidecar.socketPath(socket, config: config)
        switch await refresh(socket: path, secretID: secretID) {
        case .answered(let line): print(line)
        case .refused(let reason): throw CommandExit(.failure, reason)
        case .missing(let reason): throw CommandExit(.notFoundOrDenied, reason)
        }
    }
}
