import InjectorBase
public import InjectorConfig
public import Logging
import ServiceLifecycle
import Synchronization

/// The SSRF token the TCP port demands: the first of `server.ssrfEnvVariables`
/// (`AWS_TOKEN`, `AWS_SESSION_TOKEN`, `AWS_CONTAINER_AUTHORIZATION_TOKEN`) that holds one, or the
/// file a `file://PATH` value names.
///
/// An empty token, from any source, is no token: at start it is a configuration error
/// (exit 2); at request time every TCP request but `/ping` is refused with 403, and the reason is
/// logged once. The file is read by ``SmallFile`` (no link followed, no FIFO waited on, at most
/// 4 KiB), at start and then once a second off the event loop, and only when its identity (inode,
/// times, size) changed: the event loop reads the cached token and never touches the file.
public final class SSRFToken: Service, Sendable {
    static let fileLimit = 4096

    enum Origin: Sendable, Equatable {
        case value(String)
        case file(String)
    }

    private struct State {
        var token: String?
        var identity: SmallFile.Identity?
        /// Why there is no token now; logged once each time it changes.
        var problem: String?
    }

    let origin: Origin
    let logger: Logger
    private let state: Mutex<State>

    init(origin: Origin, logger: Logger) throws(ConfigurationError) {
        self.origin = origin
        self.logger = logger
        switch origin {
        case .value(let token):
            state = Mutex(State(token: token))
        case .file(let path):
            let (token, identity, problem) = Self.read(path)
            guard let token else {
                throw ConfigurationError([
                    ConfigIssue("server.tcpPort", "the SSRF token file \(problem ?? path): write the token into it")
                ])
            }
            state = Mutex(State(token: token, identity: identity))
        }
    }

    /// The token of `environment` for `config`'s TCP port; nil when TCP is off. A configuration
    /// error when no variable holds a token, or the file it names holds none.
    public static func from(config: Config, environment: [String: String], logger: Logger) throws(ConfigurationError)
        -> SSRFToken?
    {
        guard config.server.tcpPort != nil else { return nil }
        let variables = config.server.ssrfEnvVariables
        guard
            let value = variables.lazy.compactMap({ environment[$0] }).first(where: { parse(Array($0.utf8)) != nil })
        else {
            throw ConfigurationError([
                ConfigIssue(
                    "server.tcpPort",
                    "needs an SSRF token: set \(variables[0])\(variables.count > 1 ? " (or \(variables.dropFirst().joined(separator: ", ")))" : "") to a token that is not empty, or to file://PATH to read it from a file"
                )
            ])
        }
        if value.hasPrefix("file://") {
            return try SSRFToken(origin: .file(String(value.dropFirst("file://".count))), logger: logger)
        }
        return try SSRFToken(origin: .value(parse(Array(value.utf8)) ?? value), logger: logger)
    }

    /// The token now, or nil when there is none (every TCP request but `/ping` is then refused).
    /// Cheap: the event loop calls it per request.
    public func current() -> String? { state.withLock { $0.token } }

    /// Reads the file again if it changed since the last read, and logs a change of its usability.
    package func reload() {
        guard case .file(let path) = origin else { return }
        let now = SmallFile.identity(path)
        let unchanged = state.withLock { $0.identity != nil && $0.identity == now }
        guard !unchanged else { return }
        let (token, identity, problem) = Self.read(path)
        let previous = state.withLock { state in
            let previous = state.problem
            state = State(token: token, identity: identity, problem: problem)
            return previous
        }
        guard previous != problem else { return }
        if let problem {
            logger.warning(
                "SSRF token file unusable: TCP requests are refused (403) until it holds a token",
                metadata: ["reason": "\(problem)"])
        } else {
            logger.notice("SSRF token file holds a token again", metadata: ["path": "\(path)"])
        }
    }

    /// Re-reads a token file once a second until graceful shutdown.
    public func run() async throws {
        guard case .file = origin else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                self.reload()
            }
        }
    }

    /// The token in a file, its identity, or why there is none.
    static func read(_ path: String) -> (String?, SmallFile.Identity?, String?) {
        do {
            let contents = try SmallFile.read(path, limit: fileLimit)
            guard let token = parse(contents.bytes) else {
                return (nil, contents.identity, "\(path) is empty or holds a line break")
            }
            return (token, contents.identity, nil)
        } catch {
            return (nil, nil, error.description)
        }
    }

    /// A token as a header can carry it: surrounding blanks and line ends removed; nil when nothing
    /// is left, or when it still holds a control character.
    static func parse(_ bytes: [UInt8]) -> String? {
        let token = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
        guard !token.isEmpty, !token.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        return token
    }
}
