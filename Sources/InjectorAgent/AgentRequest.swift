/// Where a request came in.
public enum AgentTransport: Sendable, Equatable {
    /// The Unix socket: guarded by its mode and `allowUids`, no token.
    case unixSocket
    /// Loopback TCP: the SSRF token is required.
    case tcp
}

/// A request as the contract sees it: transport-independent, so it is tested without sockets.
public struct AgentRequest: Sendable {
    public var method: String
    public var uri: String
    public var transport: AgentTransport
    /// The connection came in while every slot was busy answering: only `/ping` is served.
    public var overConnectionLimit: Bool
    /// The first value of a header, by its lowercased name; the server looks it up in what it
    /// parsed rather than copying every header for each request.
    private let headerValue: @Sendable (String) -> String?

    public init(
        method: String, uri: String, transport: AgentTransport, overConnectionLimit: Bool = false,
        header: @escaping @Sendable (String) -> String?
    ) {
        self.method = method
        self.uri = uri
        self.transport = transport
        self.overConnectionLimit = overConnectionLimit
        self.headerValue = header
    }

    public init(
        method: String, uri: String, headers: [(name: String, value: String)], transport: AgentTransport,
        overConnectionLimit: Bool = false
    ) {
        self.init(method: method, uri: uri, transport: transport, overConnectionLimit: overConnectionLimit) { wanted in
            headers.first { Self.equalsIgnoringASCIICase($0.name, wanted) }?.value
        }
    }

    func header(_ lowercasedName: String) -> String? { headerValue(lowercasedName) }

    /// ASCII case-insensitive equality with an already lowercased name, without allocating.
    static func equalsIgnoringASCIICase(_ name: String, _ lowercased: String) -> Bool {
        name.utf8.count == lowercased.utf8.count
            && zip(name.utf8, lowercased.utf8).allSatisfy { a, b in
                a == b || ((0x41...0x5A).contains(a) && a | 0x20 == b)
            }
    }
}

/// What a request asks for, parsed.
public struct SecretQuery: Sendable, Equatable {
    public var secretID: String
    public var versionID: String?
    public var versionStage: String?
    public var refreshNow = false

    public init(secretID: String, versionID: String? = nil, versionStage: String? = nil, refreshNow: Bool = false) {
        self.secretID = secretID
        self.versionID = versionID
        self.versionStage = versionStage
        self.refreshNow = refreshNow
    }
}

public enum AgentRoute: Sendable, Equatable {
    case ping
    /// Ours, not the Agent's: the sidecar's health and metrics.
    case health
    case metrics
    case secret(SecretQuery)
    /// Ours: `POST /refresh[?secretId=ID]`, a check now of one configured secret, or of all (nil).
    case refresh(secretID: String?)
    /// Refused by the Agent's own rules, with its own answer.
    case refused(AgentResponse)
}
