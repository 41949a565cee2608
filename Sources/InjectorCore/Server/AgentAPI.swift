public import FoundationEssentials
public import SecretsManager

/// The AWS Secrets Manager Agent's HTTP contract as values (SPEC §6): a request in, a route or a
/// refusal out, and answers chosen from the configured secrets. Pure — no NIO, no clock — so the
/// Agent's own test cases run against it without sockets. The reference is the Agent's source:
/// `aws_secretsmanager_agent/src/server.rs` (checks and their order), `parse.rs` (parameters),
/// `utils.rs` (error bodies) and `aws_secretsmanager_caching/src/output.rs` (the answer's shape).
public struct AgentAPI: Sendable {
    /// The Agent's own settings of the same names (its `config.rs`).
    public struct Settings: Sendable, Equatable {
        /// Headers any of which may carry the SSRF token on TCP.
        public var ssrfHeaders: [String]
        /// The prefix of path-style requests, `/v1/` by default; begins with `/`.
        public var pathPrefix: String

        public static let defaultSSRFHeaders = ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"]
        public static let defaultPathPrefix = "/v1/"

        public init(ssrfHeaders: [String] = Self.defaultSSRFHeaders, pathPrefix: String = Self.defaultPathPrefix) {
            self.ssrfHeaders = ssrfHeaders
            self.pathPrefix = pathPrefix
        }
    }

    public let settings: Settings
    private let tokenHeaders: [String]

    public init(settings: Settings) {
        self.settings = settings
        self.tokenHeaders = settings.ssrfHeaders.map { $0.lowercased() }
    }

    /// What to do with a request, checked in the Agent's order (`Server::get_result`): the
    /// connection limit (`/ping` exempt), then on TCP `X-Forwarded-For` and the token (`/ping`
    /// exempt), then the method, then the path and its parameters.
    public func route(_ request: AgentRequest, token: String?) -> AgentRoute {
        let (path, query) = Self.split(request.uri)
        if request.overConnectionLimit, path != "/ping" { return .refused(.text(429, "Connection limit exceeded")) }
        if request.transport == .tcp, path != "/ping" {
            if request.header("x-forwarded-for") != nil { return .refused(.text(400, "Forwarded")) }
            // An empty token is no token (issue 17): an empty header never matches one.
            guard let token, !token.isEmpty, hasToken(request, token) else { return .refused(.text(403, "Bad Token")) }
        }
        guard request.method == "GET" else { return .refused(.text(405, "Not allowed")) }
        switch path {
        case "/ping": return .ping
        case "/health": return .health
        case "/metrics": return .metrics
        case "/secretsmanager/get": return Self.secret(query: query, secretID: nil)
        default:
            guard path.hasPrefix(settings.pathPrefix) else { return .refused(.text(404, "Not found")) }
            let id = Self.percentDecode(path.dropFirst(settings.pathPrefix.count).utf8, plusIsSpace: false)
            guard !id.isEmpty else { return .refused(.text(400, "missing secret ID")) }
            return Self.secret(query: query, secretID: id)
        }
    }

    /// The secret a request names (`secretId`, or the id of a path-style request), whether or not
    /// it is answered: for the access audit of refused requests.
    func secretNamed(in uri: String) -> String? {
        let (path, query) = Self.split(uri)
        if path.hasPrefix(settings.pathPrefix), path != "/secretsmanager/get" {
            let id = Self.percentDecode(path.dropFirst(settings.pathPrefix.count).utf8, plusIsSpace: false)
            return id.isEmpty ? nil : id
        }
        guard path == "/secretsmanager/get" else { return nil }
        return Self.queryPairs(query).last { $0.0 == "secretId" }.map(\.1).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Any configured header equal to the token, compared in constant time (the Agent takes the
    /// first value of each header).
    private func hasToken(_ request: AgentRequest, _ token: String) -> Bool {
        tokenHeaders.contains { name in request.header(name).map { constantTimeEquals($0, token) } ?? false }
    }

    /// `parse.rs`: every pair is read in order, the last value of a parameter wins, every
    /// `refreshNow` is validated, an unknown parameter is refused. `secretID` is the path-style id,
    /// which then takes no `secretId` parameter.
    static func secret(query: Substring?, secretID: String?) -> AgentRoute {
        var parsed = SecretQuery(secretID: secretID ?? "")
        for (name, value) in queryPairs(query) {
            switch name {
            case "secretId" where secretID == nil: parsed.secretID = value
            case "versionId": parsed.versionID = value
            case "versionStage": parsed.versionStage = value
            case "refreshNow":
                switch value.lowercased() {
                case "true", "1": parsed.refreshNow = true
                case "false", "0": parsed.refreshNow = false
                default: return .refused(.text(400, "invalid refreshNow value"))
                }
            default: return .refused(.text(400, "unknown parameter: \(name)"))
            }
        }
        if parsed.secretID.isEmpty { return .refused(.text(400, "missing parameter secretId")) }
        return .secret(parsed)
    }

    /// The path and the query (after the first `?`, without any `#fragment`), as views of the URI:
    /// nothing is copied or allocated per request.
    static func split(_ uri: String) -> (path: Substring, query: Substring?) {
        let utf8 = uri.utf8
        let end = utf8.firstIndex(of: UInt8(ascii: "#")) ?? utf8.endIndex
        guard let mark = utf8[..<end].firstIndex(of: UInt8(ascii: "?")) else { return (uri[..<end], nil) }
        return (uri[..<mark], uri[utf8.index(after: mark)..<end])
    }

    /// `application/x-www-form-urlencoded` pairs, as the `url` crate's `query_pairs`: `&`-separated,
    /// empty pieces skipped, split at the first `=`, `+` is a space, `%XX` decoded. Bytes, not
    /// Characters: the separators are ASCII.
    static func queryPairs(_ query: Substring?) -> [(String, String)] {
        guard let query else { return [] }
        return query.utf8.split(separator: UInt8(ascii: "&")).map { piece in
            guard let equals = piece.firstIndex(of: UInt8(ascii: "=")) else { return (percentDecode(piece), "") }
            return (percentDecode(piece[..<equals]), percentDecode(piece[piece.index(after: equals)...]))
        }
    }

    /// `%XX` decoded (a malformed escape stays as it is); `+` is a space only in a query string
    /// (names may contain `+`).
    static func percentDecode(_ text: Substring.UTF8View, plusIsSpace: Bool = true) -> String {
        guard text.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(Substring(text))
        }
        let bytes = Array(text)
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                let low = hexValue(bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
                continue
            }
            decoded.append(byte == UInt8(ascii: "+") && plusIsSpace ? 0x20 : byte)
            index += 1
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

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
    /// Refused by the Agent's own rules, with its own answer.
    case refused(AgentResponse)
}

public struct AgentResponse: Sendable, Equatable {
    public var status: Int
    /// None for the Agent's own plain-text refusals, which carry no `Content-Type`.
    public var contentType: String?
    public var body: [UInt8]
    /// The same answer as bytes on the wire, when it is served often enough to encode once.
    var wire: HTTPWire?
    /// The secret and version this answer gives, for the access audit.
    var secretName: String?
    var versionID: String?

    public init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// This answer with its wire bytes built now, once, for every time it is served.
    func preencoded() -> AgentResponse {
        var response = self
        response.wire = HTTPWire(self)
        return response
    }

    public static func == (left: AgentResponse, right: AgentResponse) -> Bool {
        left.status == right.status && left.contentType == right.contentType && left.body == right.body
    }

    /// The Agent's own refusals: a short text, no content type (`server.rs`).
    static func text(_ status: Int, _ text: String) -> AgentResponse {
        AgentResponse(status: status, contentType: nil, body: Array(text.utf8))
    }

    static func json(_ status: Int, _ body: [UInt8]) -> AgentResponse {
        AgentResponse(status: status, contentType: "application/json", body: body)
    }

    /// A Secrets Manager error as the Agent passes it on (`utils.rs` `err_response`): its code and
    /// message, or `InternalFailure` alone when there is no message.
    static func serviceError(_ status: Int, type: String, message: String) -> AgentResponse {
        guard !message.isEmpty, type != "InternalFailure" else {
            return .json(500, Array(#"{"__type":"InternalFailure"}"#.utf8))
        }
        return .json(
            status,
            Array(
                "{\"__type\":\(JSONValue.string(type).serialized), \"message\":\(JSONValue.string(message).serialized)}"
                    .utf8))
    }

    /// Only configured secrets are served (our deliberate difference from the Agent).
    static let notFound = serviceError(
        404, type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret."
    ).preencoded()

    /// A failed `refreshNow`, as the Agent answers it (`cache_manager.rs` `svc_err`): Secrets
    /// Manager's own status, code and message; 504 for a timeout, 502 for a connection failure.
    static func failure(_ error: SecretsManagerError) -> AgentResponse {
        if let status = error.httpStatus, let code = error.code {
            return serviceError(status, type: code, message: error.awsMessage ?? "")
        }
        if error.category == .network {
            return error.timedOut
                ? serviceError(504, type: "TimeoutError", message: "Timeout")
                : serviceError(502, type: "ConnectionError", message: "Read Error")
        }
        return serviceError(500, type: "InternalFailure", message: "")
    }
}

/// One configured secret's cached answer: the request it was configured as, its value and the
/// response body, encoded once per version.
struct AgentEntry: Sendable {
    let request: SecretRequest
    let value: SecretValue
    /// The whole answer, built once per version and stages.
    let response: AgentResponse
    var body: [UInt8] { response.body }

    init(request: SecretRequest, value: SecretValue) {
        self.request = request
        self.value = value
        var response = AgentResponse.json(200, Self.encode(value))
        response.secretName = value.name
        response.versionID = value.versionID
        self.response = response.preencoded()
    }

    /// `GetSecretValue`'s shape as the Agent writes it (`output.rs`): `ARN`, `Name`, `VersionId`,
    /// `SecretString` or `SecretBinary` (base64), `VersionStages`, and `CreatedDate` as a string of
    /// seconds (or null).
    static func encode(_ value: SecretValue) -> [UInt8] {
        var members: [JSONValue.Member] = [
            .init(key: "ARN", value: .string(value.arn)), .init(key: "Name", value: .string(value.name)),
            .init(key: "VersionId", value: .string(value.versionID)),
        ]
        if let string = value.secretString {
            members.append(.init(key: "SecretString", value: .string(string)))
        } else if let binary = value.secretBinary {
            members.append(.init(key: "SecretBinary", value: .string(Data(binary).base64EncodedString())))
        }
        members.append(.init(key: "VersionStages", value: .array(value.versionStages.map { .string($0) })))
        members.append(.init(key: "CreatedDate", value: value.createdDate.map { .string(createdDate($0)) } ?? .null))
        return Array(JSONValue.object(members).serialized.utf8)
    }

    /// Seconds since the epoch as Rust prints an `f64` (`serde_with`'s `TimestampSecondsWithFrac<String>`):
    /// the shortest text that reads back the same number, without a trailing `.0`.
    static func createdDate(_ date: Date) -> String {
        let text = "\(date.timeIntervalSince1970)"
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// Every id form that names this entry's secret: the configured id, the name, the full ARN,
    /// and the ARN without its random suffix.
    var idForms: Set<String> {
        var forms: Set<String> = [request.id, value.name, value.arn]
        let arn = Array(value.arn.utf8)
        if arn.count > 7, value.arn.hasPrefix("arn:"), arn[arn.count - 7] == UInt8(ascii: "-") {
            forms.insert(String(value.arn.dropLast(7)))
        }
        return forms
    }

    /// Among the entries an id names (``AgentSnapshot``), the one that answers `query`, or the answer
    /// that refuses it. An id matches an entry by exactly what it names: a name matches the
    /// secret's name (or the configured id); a full ARN matches only that ARN, and an ARN without
    /// its random suffix only the secret it names. Among several entries of one secret, the one
    /// configured for the requested stage (current, unless a stage is asked for) comes first, then
    /// the others in a fixed order.
    static func select(_ query: SecretQuery, among candidates: [AgentEntry]) -> Selection {
        let stage = query.versionStage ?? "AWSCURRENT"
        let ordered = candidates.sorted { left, right in
            let leftFirst = (left.request.versionStage ?? "AWSCURRENT") == stage && left.request.versionID == nil
            let rightFirst = (right.request.versionStage ?? "AWSCURRENT") == stage && right.request.versionID == nil
            if leftFirst != rightFirst { return leftFirst }
            return left.request.description < right.request.description
        }
        if let versionID = query.versionID {
            guard let entry = ordered.first(where: { $0.value.versionID == versionID }) else {
                return .refused(.notFound)
            }
            if let wanted = query.versionStage, !entry.value.versionStages.contains(wanted) {
                return .refused(
                    .serviceError(
                        400, type: "InvalidRequestException",
                        message: "You provided a VersionStage that is not associated to the provided VersionId."))
            }
            return .entry(entry)
        }
        guard let entry = ordered.first(where: { $0.value.versionStages.contains(stage) }) else {
            return .refused(.notFound)
        }
        return .entry(entry)
    }

    enum Selection {
        case entry(AgentEntry)
        case refused(AgentResponse)
    }
}

/// What the server answers from, immutable: the entries by every id form that names them, and each
/// request's last error (for `refreshNow`). ``SecretStore`` publishes a new one whenever an answer
/// changes; the event loop reads it without waiting (issue: serving at nginx speed).
struct AgentSnapshot: Sendable {
    let byID: [String: [AgentEntry]]
    let lastErrors: [SecretRequest: SecretsManagerError]

    init(entries: some Sequence<AgentEntry> = [], lastErrors: [SecretRequest: SecretsManagerError] = [:]) {
        var byID: [String: [AgentEntry]] = [:]
        for entry in entries {
            for form in entry.idForms { byID[form, default: []].append(entry) }
        }
        self.byID = byID
        self.lastErrors = lastErrors
    }

    /// The answer to an Agent request. After a `refreshNow` round, a secret whose check failed in
    /// it answers with that failure, as the Agent does.
    func answer(_ query: SecretQuery, refreshed: Bool = false) -> AgentResponse {
        switch AgentEntry.select(query, among: byID[query.secretID] ?? []) {
        case .refused(let refusal):
            return refusal
        case .entry(let entry):
            if refreshed, let error = lastErrors[entry.request] { return .failure(error) }
            return entry.response
        }
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
func constantTimeEquals(_ left: String, _ right: String) -> Bool {
    var difference = UInt8(left.utf8.count == right.utf8.count ? 0 : 1)
    var leftBytes = left.utf8.makeIterator()
    var rightBytes = right.utf8.makeIterator()
    while true {
        let (a, b) = (leftBytes.next(), rightBytes.next())
        if a == nil, b == nil { return difference == 0 }
        difference |= (a ?? 0) ^ (b ?? 0)
    }
}
