import InjectorBase
import InjectorOutputs

/// A PostgreSQL or MySQL URL split into the keys AWS's rotation functions read:
/// `engine`, `host`, `port`, `username`, `password`, `dbname`.
struct DatabaseURL {
    static let keys: Set<String> = ["engine", "host", "port", "username", "password", "dbname", "query"]

    var scheme: String
    var engine: String
    var username: String
    var password: String
    var host: String
    var port: String?
    var dbname: String?
    /// `sslmode=verify-full&sslpassword=…` after the `?`: in the secret too (key `query`), since
    /// a query can hold a secret of its own.
    var query: String?

    init?(_ url: String) {
        guard let parts = URLUserinfo.split(url), let rawPassword = parts.password else { return nil }
        let scheme = String(parts.scheme)
        let base = scheme.split(separator: "+").first.map(String.init) ?? scheme
        switch base.lowercased() {
        case "postgres", "postgresql": engine = "postgres"
        case "mysql", "mariadb": engine = base.lowercased()
        default: return nil
        }
        guard let user = String(parts.user).removingPercentEncoding,
            let password = String(rawPassword).removingPercentEncoding
        else { return nil }
        self.scheme = scheme
        username = user
        self.password = password
        var rest = parts.rest
        guard !rest.contains("#") else { return nil }
        // host: a name, an IPv4 address, or [IPv6].
        let hostEnd: Substring.Index
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            hostEnd = rest.index(after: close)
        } else {
            hostEnd = rest.firstIndex(where: { ":/?".contains($0) }) ?? rest.endIndex
        }
        host = String(rest[..<hostEnd])
        rest = rest[hostEnd...]
        if rest.hasPrefix(":") {
            let digits = rest.dropFirst().prefix(while: \.isASCIIDigit)
            guard !digits.isEmpty else { return nil }
            port = String(digits)
            rest = rest.dropFirst(1 + digits.count)
        }
        if rest.hasPrefix("/") {
            let path = rest.dropFirst().prefix(while: { $0 != "?" })
            guard !path.isEmpty, let name = String(path).removingPercentEncoding else { return nil }
            dbname = name
            rest = rest.dropFirst(1 + path.count)
        }
        if rest.hasPrefix("?") {
            query = String(rest.dropFirst())
        } else if !rest.isEmpty {
            return nil
        }
        guard !host.isEmpty else { return nil }
    }

    /// The secret's members: the rotation shape, with the engine's default port when the URL has none.
    var members: [JSONValue.Member] {
        var members: [JSONValue.Member] = [
            .init(key: "engine", value: .string(engine)),
            .init(key: "host", value: .string(host)),
            .init(key: "port", value: .number(port ?? (engine == "postgres" ? "5432" : "3306"))),
            .init(key: "username", value: .string(username)),
            .init(key: "password", value: .string(password)),
        ]
        if let dbname { members.append(.init(key: "dbname", value: .string(dbname))) }
        if let query { members.append(.init(key: "query", value: .string(query))) }
        return members
    }

    /// `NAME="scheme://{{ a.username | urlencode }}:…"`: a dotenv line every reader (and sh) takes
    /// back exactly. Every expression is filtered, because whoever can write the secret chooses
    /// what it renders: the user, password and database are percent-encoded, the host, port and
    /// query (which a URL takes as they are) pass `| plain`, which refuses a quote, a backslash, `$`,
    /// a backtick or a control character rather than write it where the app's sh would run it.
    func template(variable: String, alias: String) -> String {
        var url =
            "\(scheme)://{{ \(alias).username | urlencode }}:{{ \(alias).password | urlencode }}@{{ \(alias).host | plain }}"
        if port != nil { url += ":{{ \(alias).port | plain }}" }
        if dbname != nil { url += "/{{ \(alias).dbname | urlencode }}" }
        if query != nil { url += "?{{ \(alias).query | plain }}" }
        return "\(variable)=\"\(url)\"\n"
    }

    /// Whether the template, rendered from the secret, gives back `original` byte for byte, in a
    /// line that dotenv readers and sh read the same.
    func rebuilds(_ original: String, alias: String) -> Bool {
        let unsafe: Set<Character> = ["\"", "\\", "$", "`", "'", "{", "}", "\n", "\r", " ", "\t"]
        guard !(scheme + host + (query ?? "")).contains(where: unsafe.contains) else { return false }
        guard let template = try? Template(parsing: template(variable: "V", alias: alias), dotenv: true) else {
            return false
        }
        let content = SecretContent(bytes: Array(JSONValue.object(members).serialized.utf8), isBinary: false)
        guard let rendered = try? template.render({ $0 == alias ? content : nil }) else { return false }
        return rendered == Array("V=\"\(original)\"\n".utf8)
    }
}
