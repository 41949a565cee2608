import FoundationEssentials
import SecretsManager

/// A request as the router sees it: transport-independent, so it is tested without sockets.
public struct AgentRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [(name: String, value: String)]
    /// True on the loopback TCP port, where the SSRF token is required.
    public var overTCP: Bool

    public init(method: String, uri: String, headers: [(name: String, value: String)], overTCP: Bool) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.overTCP = overTCP
    }

    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

public struct AgentResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    static func json(_ status: Int, _ body: [UInt8]) -> AgentResponse {
        AgentResponse(status: status, contentType: "application/json", body: body)
    }
    static func error(_ status: Int, _ type: String, _ message: String) -> AgentResponse {
        .json(
            status,
            Array(
                JSONValue.object([
                    .init(key: "__type", value: .string(type)), .init(key: "message", value: .string(message)),
                ]).serialized.utf8))
    }
}

/// The AWS Secrets Manager Agent's API over the sidecar's cache (SPEC §6): `/secretsmanager/get`,
/// `/v1/<secretId>`, `/ping`, `/health`, `/metrics`. Only configured secrets are served.
public struct AgentRouter: Sendable {
    let store: SecretStore
    let metrics: SidecarMetrics
    let health: @Sendable () async -> HealthReport
    let metricsText: @Sendable () async -> String
    let refreshNow: @Sendable () async -> Void
    /// The SSRF token the TCP port demands; nil when TCP is off.
    let token: @Sendable () -> String?

    public init(
        store: SecretStore, metrics: SidecarMetrics, health: @escaping @Sendable () async -> HealthReport,
        metricsText: @escaping @Sendable () async -> String, refreshNow: @escaping @Sendable () async -> Void,
        token: @escaping @Sendable () -> String?
    ) {
        self.store = store
        self.metrics = metrics
        self.health = health
        self.metricsText = metricsText
        self.refreshNow = refreshNow
        self.token = token
    }

    static let parameters: Set<String> = ["secretId", "versionStage", "versionId", "refreshNow"]

    public func respond(to request: AgentRequest) async -> AgentResponse {
        guard request.method == "GET" else { return .error(405, "MethodNotAllowed", "only GET is served") }
        if request.overTCP {
            if request.header("X-Forwarded-For") != nil {
                return .error(400, "BadRequest", "X-Forwarded-For is not accepted")
            }
            let sent = request.header("X-Aws-Parameters-Secrets-Token") ?? request.header("X-Vault-Token")
            guard let expected = token(), let sent, constantTimeEquals(sent, expected) else {
                return .error(403, "Forbidden", "missing or wrong X-Aws-Parameters-Secrets-Token")
            }
        }
        let (path, query) = Self.split(request.uri)
        switch path {
        case "/ping":
            return AgentResponse(status: 200, contentType: "text/plain", body: Array("healthy".utf8))
        case "/health":
            let report = await health()
            return .json(report.status == .unhealthy ? 503 : 200, report.json)
        case "/metrics":
            return AgentResponse(
                status: 200, contentType: "text/plain; version=0.0.4", body: Array(await metricsText().utf8))
        case "/secretsmanager/get":
            return await secret(id: query.first { $0.0 == "secretId" }?.1, query: query)
        default:
            if path.hasPrefix("/v1/") {
                return await secret(id: Self.percentDecode(String(path.dropFirst(4)), plusIsSpace: false), query: query)
            }
            return .error(404, "NotFound", "no such path")
        }
    }

    private func secret(id: String?, query: [(String, String)]) async -> AgentResponse {
        if let unknown = query.first(where: { !Self.parameters.contains($0.0) }) {
            return .error(400, "InvalidParameterException", "unknown query parameter \(unknown.0)")
        }
        guard let id, !id.isEmpty else { return .error(400, "InvalidParameterException", "secretId is required") }
        let stage = query.first { $0.0 == "versionStage" }?.1
        let version = query.first { $0.0 == "versionId" }?.1
        if let refresh = query.first(where: { $0.0 == "refreshNow" })?.1 {
            guard refresh == "true" || refresh == "false" else {
                return .error(400, "InvalidParameterException", "refreshNow must be true or false")
            }
            if refresh == "true" { await refreshNow() }
        }
        guard let request = await store.request(forSecretID: id, versionStage: stage, versionID: version),
            let body = await store.response(for: request)
        else {
            return .error(404, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
        }
        return .json(200, body)
    }

    static func split(_ uri: String) -> (String, [(String, String)]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [(String, String)] = []
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query.append((percentDecode(String(kv[0])), kv.count > 1 ? percentDecode(String(kv[1])) : ""))
            }
        }
        return (String(parts[0]), query)
    }

    /// `%XX` decoded; `+` is a space only in a query string (names may contain `+`).
    static func percentDecode(_ text: String, plusIsSpace: Bool = true) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+"), plusIsSpace {
                bytes.append(0x20)
            } else if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
func constantTimeEquals(_ left: String, _ right: String) -> Bool {
    let a = Array(left.utf8)
    let b = Array(right.utf8)
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<max(a.count, b.count) {
        difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
}
