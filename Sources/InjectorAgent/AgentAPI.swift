import InjectorBase

/// The AWS Secrets Manager Agent's HTTP contract as values: a request in, a route or a
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
            // An empty token is no token: an empty header never matches one.
            guard let token, !token.isEmpty, hasToken(request, token) else { return .refused(.text(403, "Bad Token")) }
        }
        if path == "/refresh" {
            guard request.method == "POST" else { return .refused(.text(405, "Not allowed")) }
            return Self.refresh(query: query)
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
    package func secretNamed(in uri: String) -> String? {
        let (path, query) = Self.split(uri)
        if path.hasPrefix(settings.pathPrefix), path != "/secretsmanager/get" {
            let id = Self.percentDecode(path.dropFirst(settings.pathPrefix.count).utf8, plusIsSpace: false)
            return id.isEmpty ? nil : id
        }
        guard path == "/secretsmanager/get" || path == "/refresh" else { return nil }
        return Self.queryPairs(query).last { $0.0 == "secretId" }.map(\.1).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Any configured header equal to the token, compared in constant time (the Agent takes the
    /// first value of each header).
    private func hasToken(_ request: AgentRequest, _ token: String) -> Bool {
        tokenHeaders.contains { name in request.header(name).map { constantTimeEquals($0, token) } ?? false }
    }

    /// `POST /refresh`: `secretId` (the last one wins, as for the Agent's parameters) or nothing.
    static func refresh(query: Substring?) -> AgentRoute {
        var secretID: String?
        for (name, value) in queryPairs(query) {
            guard name == "secretId" else { return .refused(.text(400, "unknown parameter: \(name)")) }
            secretID = value
        }
        if secretID?.isEmpty == true { return .refused(.text(400, "missing parameter secretId")) }
        return .refresh(secretID: secretID)
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
    /// nothing is copied or allocated per request. The bytes are scanned in place (a generic walk
    /// of `String.UTF8View` cost the serving path several per cent of its CPU).
    package static func split(_ uri: String) -> (path: Substring, query: Substring?) {
        var bytes = uri
        let (mark, end) = bytes.withUTF8 { bytes in
            let end = bytes.firstIndex(of: UInt8(ascii: "#")) ?? bytes.count
            return (bytes[..<end].firstIndex(of: UInt8(ascii: "?")), end)
        }
        let utf8 = uri.utf8
        let endIndex = utf8.index(utf8.startIndex, offsetBy: end)
        guard let mark else { return (uri[..<endIndex], nil) }
        let question = utf8.index(utf8.startIndex, offsetBy: mark)
        return (uri[..<question], uri[utf8.index(after: question)..<endIndex])
    }

    /// `application/x-www-form-urlencoded` pairs, as the `url` crate's `query_pairs`: `&`-separated,
    /// empty pieces skipped, split at the first `=`, `+` is a space, `%XX` decoded. Bytes, not
    /// Characters: the separators are ASCII, so every piece is valid UTF-8 as the URI is.
    static func queryPairs(_ query: Substring?) -> [(String, String)] {
        guard var query else { return [] }
        return query.withUTF8 { bytes in
            var pairs: [(String, String)] = []
            var start = 0
            while start < bytes.count {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: "&")) ?? bytes.count
                defer { start = end + 1 }
                guard end > start else { continue }
                let piece = UnsafeBufferPointer(rebasing: bytes[start..<end])
                guard let equals = piece.firstIndex(of: UInt8(ascii: "=")) else {
                    pairs.append((PercentDecoding.decode(piece, plusIsSpace: true), ""))
                    continue
                }
                pairs.append(
                    (
                        PercentDecoding.decode(UnsafeBufferPointer(rebasing: piece[..<equals]), plusIsSpace: true),
                        PercentDecoding.decode(UnsafeBufferPointer(rebasing: piece[(equals + 1)...]), plusIsSpace: true)
                    ))
            }
            return pairs
        }
    }

    /// `%XX` decoded (a malformed escape stays as it is); `+` is a space only in a query string
    /// (names may contain `+`).
    static func percentDecode(_ text: Substring.UTF8View, plusIsSpace: Bool = true) -> String {
        var text = Substring(text)
        return text.withUTF8 { PercentDecoding.decode($0, plusIsSpace: plusIsSpace) }
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
func constantTimeEquals(_ left: String, _ right: String) -> Bool {
    var (left, right) = (left, right)
    return left.withUTF8 { a in
        right.withUTF8 { b in
            var difference = UInt8(a.count == b.count ? 0 : 1)
            for index in 0..<max(a.count, b.count) {
                difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
            }
            return difference == 0
        }
    }
}
