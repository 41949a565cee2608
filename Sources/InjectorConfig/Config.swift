public import InjectorAgent
public import InjectorBase
public import InjectorOutputs
public import InjectorSources

/// How a file is written: its path below the output folder, mode and owner.
public struct FileSpec: Sendable, Hashable {
    /// Relative, `/`-separated, no `..`, never starting with `.`.
    public var path: String
    public var mode: FileMode
    public var owner: Ownership

    public init(path: String, mode: FileMode, owner: Ownership = Ownership()) {
        self.path = path
        self.mode = mode
        self.owner = owner
    }
}

/// One entry of `secrets[]`.
public struct SecretSpec: Sendable, Equatable {
    public enum Selector: Sendable, Equatable {
        case id(SecretName)
        /// Discovery through `ListSecrets`: every secret whose name starts with this.
        case namePrefix(String)
        /// Discovery through `GetParametersByPath`: every parameter under this path.
        case parameterPath(String)
    }

    public var selector: Selector
    /// The name templates use (nil for discovery: each discovered secret gets its default alias).
    public var alias: String?
    /// The raw value's file (for discovery, the folder the names are written under is `outputDir`).
    public var file: FileSpec?
    public var versionStage: String?
    public var versionID: String?
    public var required: Bool
    /// JSON key → its own file.
    public var keys: [(key: String, file: FileSpec)]
    /// Mode and owner for discovered secrets' files.
    public var mode: FileMode
    public var owner: Ownership

    public static func == (left: SecretSpec, right: SecretSpec) -> Bool {
        left.selector == right.selector && left.alias == right.alias && left.file == right.file
            && left.versionStage == right.versionStage
            && left.versionID == right.versionID && left.required == right.required && left.mode == right.mode
            && left.owner == right.owner
            && left.keys.map(\.key) == right.keys.map(\.key) && left.keys.map(\.file) == right.keys.map(\.file)
    }
}

public struct TemplateSpec: Sendable, Equatable {
    public var file: FileSpec
    public var template: Template
}

public struct EnvEntry: Sendable, Equatable {
    public var name: String
    public var valueFrom: ValueFrom
}

public struct EnvSpec: Sendable, Equatable {
    public var file: FileSpec
    public var entries: [EnvEntry]
}

public struct RefreshSettings: Sendable, Equatable {
    public var intervalSeconds: Int
    public var strategy: RefreshStrategy
    public var maxStaleSeconds: Int?
    /// The least time between two checks of one secret that `POST /refresh` or `refreshNow` ask
    /// for, counted from its last check, whoever made it; within it they get the last result.
    public var minRefreshSeconds: Int = 5
}

public struct ServerSettings: Sendable, Equatable {
    public var socketPath: String
    public var socketMode: FileMode
    public var allowUIDs: [UInt32]?
    /// Loopback TCP, on when set (`tcp: true` alone means the Agent's port, 2773).
    public var tcpPort: Int?
    /// Connections per listener (the socket, TCP) before the one idle longest is dropped; the
    /// Agent's `max_conn`.
    public var maxConnections: Int = 800
    /// One log line per request that names a secret (folded per peer, secret and status over 60 s);
    /// refused requests are logged whatever this says.
    public var audit = true
    /// The Agent's `ssrf_headers`, `path_prefix` and `ssrf_env_variables`.
    public var api = AgentAPI.Settings()
    public var ssrfEnvVariables: [String] = ServerSettings.defaultSSRFEnvVariables

    public static let defaultTCPPort = 2773
    public static let defaultSSRFEnvVariables = ["AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]

    public init(socketPath: String, socketMode: FileMode, allowUIDs: [UInt32]? = nil, tcpPort: Int? = nil) {
        self.socketPath = socketPath
        self.socketMode = socketMode
        self.allowUIDs = allowUIDs
        self.tcpPort = tcpPort
    }
}

public struct OnChangeSettings: Sendable, Equatable {
    public var command: [String]?
    public var signalPIDFile: String?
    public var signalName: String?
    /// The application's uid: the pid file may be its, and the process signalled must run as it.
    public var signalUID: UInt32?
    /// How long the command may run before its process group is killed.
    public var timeoutSeconds = 30

    public init(
        command: [String]? = nil, signalPIDFile: String? = nil, signalName: String? = nil, signalUID: UInt32? = nil,
        timeoutSeconds: Int = 30
    ) {
        self.command = command
        self.signalPIDFile = signalPIDFile
        self.signalName = signalName
        self.signalUID = signalUID
        self.timeoutSeconds = timeoutSeconds
    }
}

/// `exec`: how `secrets-injector exec` supervises the app it starts.
public struct ExecSettings: Sendable, Equatable {
    /// What a rotation that changes the app's environment does.
    public enum Restart: Sendable, Equatable {
        /// Stop the app with `restartSignal` and start it again with the new environment.
        case restart
        /// Send this signal (a bare name, `HUP`) to the app's group: it re-reads its files.
        case signal(String)
        case none
    }

    /// After a forwarded SIGTERM or SIGINT, the app's group is killed after this long.
    public var stopTimeoutSeconds = 25
    public var restart = Restart.restart
    /// The bare name of the signal that stops the app for a restart.
    public var restartSignal = "TERM"
    public var settleSeconds = 2
    public var splaySeconds = 0
    /// The uid and gid the app runs as; nil: the injector's own.
    public var user: (uid: UInt32, gid: UInt32)?
    /// Variables of the injector's environment the app does not get.
    public var dropEnvironment: [String] = []

    public init() {}

    public static func == (left: ExecSettings, right: ExecSettings) -> Bool {
        left.stopTimeoutSeconds == right.stopTimeoutSeconds && left.restart == right.restart
            && left.restartSignal == right.restartSignal && left.settleSeconds == right.settleSeconds
            && left.splaySeconds == right.splaySeconds && left.user?.uid == right.user?.uid
            && left.user?.gid == right.user?.gid && left.dropEnvironment == right.dropEnvironment
    }
}

/// `metrics.cloudwatch`: the namespace, and the `ServiceName` dimension (default: the ECS task
/// family, else `secrets-injector`).
public struct CloudWatchSettings: Sendable, Equatable {
    public var namespace: String
    public var serviceName: String?
}

public struct LogSettings: Sendable, Equatable {
    public typealias Format = LogFormat
    public var level: String
    public var format: Format
}

/// Where secret values come from.
public enum SourceSettings: Sendable, Equatable {
    case secretsManager
    /// A JSON file of `{ "name": value }`, for development without AWS.
    case local(path: String)
}

/// The validated configuration, with real types and every default filled in.
public struct Config: Sendable, Equatable {
    public static let defaultOutputDir = "/run/secrets"
    public static let defaultMode = FileMode(0o440)

    public var region: String?
    public var endpoint: String?
    public var outputDir: String
    public var secrets: [SecretSpec]
    /// Whether any configured id or `valueFrom` is a Parameter Store reference.
    public var usesParameterStore: Bool {
        secrets.contains {
            switch $0.selector {
            case .id(let name): name.parameter != nil
            case .parameterPath: true
            case .namePrefix: false
            }
        }
            || env.contains { $0.entries.contains { $0.valueFrom.secret.parameter != nil } }
    }
    public var templates: [TemplateSpec]
    /// The dotenv files of ECS-style entries: one (`"env": {…}`) or several (`"env": [{…}, …]`,
    /// one a container, each with its own owner and mode).
    public var env: [EnvSpec]
    public var refresh: RefreshSettings
    public var server: ServerSettings
    public var onChange: OnChangeSettings?
    /// `exec`'s supervision (defaults when the section is absent).
    public var exec = ExecSettings()
    public var log: LogSettings
    public var source: SourceSettings
    /// CloudWatch metrics as Embedded Metric Format lines on standard output, when set.
    public var cloudWatch: CloudWatchSettings? = nil
    /// Replica regions, in order, read when the primary cannot answer.
    public var failover: [FailoverRegion] = []
    /// Plain http to an endpoint that is not loopback is accepted (and warned about at every start).
    public var allowInsecureEndpoint = false

    /// The group the socket gets: the one every output shares, if they share one.
    public var socketGroup: UInt32? {
        let groups = Set(plannedFiles.map(\.owner.gid) + secrets.map(\.owner.gid))
        return groups.count == 1 ? groups.first ?? nil : nil
    }

    /// The socket's path below `outputDir`, when it lies there: no output may take it (or be a
    /// folder above it).
    public var socketRelativePath: String? {
        let prefix = outputDir == "/" ? "/" : outputDir + "/"
        return server.socketPath.hasPrefix(prefix) ? String(server.socketPath.dropFirst(prefix.count)) : nil
    }

    /// True when some secrets are found by `namePrefix` (their aliases are known only after listing).
    public var discovers: Bool { secrets.contains { if case .namePrefix = $0.selector { true } else { false } } }

    /// Every file the configuration writes (discovered secrets excepted).
    public var plannedFiles: [FileSpec] {
        secrets.flatMap { ($0.file.map { [$0] } ?? []) + $0.keys.map(\.file) } + templates.map(\.file)
            + env.map(\.file)
    }
}

extension Config {
    /// The aliases a template builds a database URL from (`review`): those whose
    /// expressions sit between a `postgres(ql)://`, `mysql://` or `mariadb://` and the end of its line.
    public var databaseURLAliases: Set<String> {
        let schemes = ["postgres://", "postgresql://", "postgresql+", "mysql://", "mysql+", "mariadb://"]
        var aliases: Set<String> = []
        for spec in templates {
            var inURL = false
            for part in spec.template.parts {
                switch part {
                case .text(let text):
                    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                        if index > 0 { inURL = false }
                        if schemes.contains(where: { line.contains($0) }) { inURL = true }
                    }
                case .expression(let expression):
                    if inURL { aliases.insert(expression.alias) }
                }
            }
        }
        return aliases
    }
}
