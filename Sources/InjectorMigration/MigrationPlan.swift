import InjectorBase
import InjectorOutputs

/// What `migrate` was asked.
public struct MigrationOptions: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case initContainer = "init", sidecar }

    public var taskDefinition: String
    public var prefix: String
    public var mode: Mode = .initContainer
    public var image: String
    public var region: String?
    /// The account the secrets are in (`--account`), when the task definition's roles do not say.
    public var account: String?
    public var container: String?
    public var include: [String] = []
    public var exclude: [String] = []

    public init(taskDefinition: String, prefix: String, image: String) {
        self.taskDefinition = taskDefinition
        self.prefix = prefix
        self.image = image
    }
}

/// One secret `migrate` creates: its name and its exact `SecretString`.
public struct PlannedSecret: Sendable, Equatable {
    public var name: String
    public var value: String
    /// The JSON keys, in order; empty for a plain-string secret.
    public var keys: [String]
    /// The variables it holds.
    public var variables: [String]
    /// In the shape AWS's rotation functions read (a split database URL).
    public var rotationShape: Bool
}

/// A variable rebuilt from a secret's keys by a template: `NAME="…"` in a file of its own.
struct RebuiltVariable {
    var name: String
    var secret: String
    var alias: String
    var file: String
    var template: String
}

/// The migration of one container, decided offline: which variables move, into which secrets,
/// and how the app gets each back.
public struct MigrationPlan {
    public static let envFile = "secrets.env"
    public static let injectorName = "secrets-injector"
    public static let volumeName = "secrets"
    public static let outputDir = "/run/secrets"

    let options: MigrationOptions
    let definition: TaskDefinition
    public let container: String?
    public private(set) var secrets: [PlannedSecret] = []
    /// `env.entries`: `(name, valueFrom)`, moved variables first, then carried `secrets[]`.
    private(set) var envEntries: [(name: String, valueFrom: String)] = []
    private(set) var rebuilt: [RebuiltVariable] = []
    /// The moved variables and their old values (for `verify`), in the task definition's order.
    public private(set) var moved: [(name: String, value: String)] = []
    public private(set) var stayed: [String] = []
    /// `secrets[]` entries carried over to the injector (their `valueFrom` in the injector's form:
    /// a Parameter Store name ECS takes bare becomes `parameter/NAME`), and those left to ECS (a
    /// `valueFrom` neither a secret nor a parameter).
    public private(set) var carried: [(name: String, valueFrom: String)] = []
    public private(set) var leftToECS: [(name: String, valueFrom: String)] = []

    /// The other containers' variables that `scan` flags: their values stay in the new task
    /// definition, which `migrate` says (standard error and MIGRATION.md).
    public var leftInOtherContainers: [(container: String, variables: [String])] {
        definition.containers.compactMap { other in
            guard other.name != container else { return nil }
            let flagged = other.environment.filter { options.moves($0) }.map(\.name)
            return flagged.isEmpty ? nil : (other.name, flagged)
        }
    }

    public var isEmpty: Bool { moved.isEmpty && carried.isEmpty }

    public init(options: MigrationOptions, bytes: [UInt8]) throws(MigrationInputError) {
        self.options = options
        definition = try TaskDefinition(bytes: bytes, file: options.taskDefinition)
        try Self.checkPrefix(options.prefix)
        for name in options.include + options.exclude
        where !definition.containers.contains(where: { $0.environment.contains { $0.name == name } }) {
            throw MigrationInputError("--include/--exclude \(name): no container of the task definition sets it")
        }
        let chosen: TaskDefinition.Container?
        if let wanted = options.container {
            guard let found = definition.containers.first(where: { $0.name == wanted }) else {
                throw MigrationInputError(
                    "--container \(wanted): the task definition's containers are \(definition.containers.map(\.name).joined(separator: ", "))"
                )
            }
            chosen = found
        } else {
            let candidates = definition.containers.filter { container in
                container.environment.contains(where: options.moves)
                    || container.secrets.contains {
                        Self.injectorValueFrom($0.valueFrom) != nil
                    }
            }
            guard candidates.count <= 1 else {
                throw MigrationInputError(
                    "containers \(candidates.map(\.name).joined(separator: " and ")) both have secrets to move; the injector writes one env file: migrate one at a time with --container NAME"
                )
            }
            chosen = candidates.first
        }
        container = chosen?.name
        guard let chosen else { return }
        for variable in chosen.environment {
            if options.moves(variable) {
                moved.append((variable.name, variable.value))
            } else {
                stayed.append(variable.name)
            }
        }
        for secret in chosen.secrets {
            if let valueFrom = Self.injectorValueFrom(secret.valueFrom) {
                carried.append((secret.name, valueFrom))
            } else {
                leftToECS.append(secret)
            }
        }
        try group()
        envEntries += carried
    }

    /// An ECS `valueFrom` as the injector's configuration takes it, or nil when the injector cannot
    /// read it. ECS takes a Secrets Manager secret by its ARN, and a Parameter Store parameter by its
    /// ARN or, in the task's region, its name: a name without a leading slash is
    /// `parameter/NAME` to the injector, whose bare names are Secrets Manager's (README, "Parameter
    /// Store"). Anything else (an ARN of another service) stays with ECS.
    static func injectorValueFrom(_ valueFrom: String) -> String? {
        if valueFrom.hasPrefix("arn:") {
            let service = valueFrom.split(separator: ":").dropFirst(2).first
            if service == "secretsmanager" { return valueFrom }
            return service == "ssm" && SecretName(valueFrom).parameter != nil ? valueFrom : nil
        }
        return valueFrom.hasPrefix("/") || valueFrom.hasPrefix("parameter/") ? valueFrom : "parameter/" + valueFrom
    }

    static func checkPrefix(_ prefix: String) throws(MigrationInputError) {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+=.@-")
        guard !prefix.isEmpty, prefix.allSatisfy(allowed.contains) else {
            throw MigrationInputError(
                "--prefix \"\(prefix)\": a secret name holds only A–Z a–z 0–9 and /_+=.@- (e.g. pipeline-pulse/prod/)")
        }
    }

    // MARK: Grouping (issue 19)

    mutating func group() throws(MigrationInputError) {
        var groups: [(segment: String, members: [(name: String, value: String)])] = []
        for variable in moved {
            let segment =
                variable.name.split(separator: "_", maxSplits: 1).count == 2
                ? String(variable.name.split(separator: "_", maxSplits: 1)[0]) : variable.name
            if let index = groups.firstIndex(where: { $0.segment == segment }) {
                groups[index].members.append(variable)
            } else {
                groups.append((segment, [variable]))
            }
        }
        for (segment, members) in groups {
            let alias = Self.alias(segment)
            let groupName = options.prefix + segment.lowercased()
            // A database URL's split, when it rebuilds the URL exactly.
            var split: (member: String, shape: DatabaseURL)?
            for member in members {
                if let shape = DatabaseURL(member.value), shape.rebuilds(member.value, alias: alias) {
                    split = (member.name, shape)
                    break
                }
            }
            if members.count == 1 && split == nil {
                let member = members[0]
                let name = options.prefix + member.name.lowercased().replacingAll("_", "-")
                try add(
                    PlannedSecret(
                        name: name, value: member.value, keys: [], variables: [member.name], rotationShape: false))
                envEntries.append((member.name, name))
                continue
            }
            var object: [JSONValue.Member] = []
            var variables: [String] = []
            if let split,
                members.allSatisfy({ $0.name == split.member || !DatabaseURL.keys.contains(Self.key($0.name)) })
            {
                object += split.shape.members
                variables.append(split.member)
                let file = segment.lowercased() + ".env"
                rebuilt.append(
                    RebuiltVariable(
                        name: split.member, secret: groupName, alias: alias, file: file,
                        template: split.shape.template(variable: split.member, alias: alias)))
            }
            for member in members where !variables.contains(member.name) {
                let key = Self.key(member.name)
                guard !object.contains(where: { $0.key == key }) else {
                    throw MigrationInputError(
                        "\(member.name): its key \"\(key)\" in \(groupName) is taken by another variable; keep one with --exclude"
                    )
                }
                object.append(.init(key: key, value: .string(member.value)))
                variables.append(member.name)
                envEntries.append((member.name, "\(groupName):\(key)::"))
            }
            try add(
                PlannedSecret(
                    name: groupName, value: JSONValue.object(object).serialized, keys: object.map(\.key),
                    variables: variables, rotationShape: object.contains { $0.key == "engine" }))
        }
    }

    mutating func add(_ secret: PlannedSecret) throws(MigrationInputError) {
        if let other = secrets.first(where: { $0.name == secret.name }) {
            throw MigrationInputError(
                "\(secret.variables.joined(separator: ", ")) and \(other.variables.joined(separator: ", ")) would both become \(secret.name); keep one with --exclude"
            )
        }
        secrets.append(secret)
    }

    /// `ZOHO_CLIENT_SECRET` → `client_secret`.
    static func key(_ name: String) -> String {
        let parts = name.split(separator: "_", maxSplits: 1)
        return (parts.count == 2 ? String(parts[1]) : name).lowercased()
    }

    /// A template alias for a group: its segment lowercased, a valid identifier.
    static func alias(_ segment: String) -> String {
        let lowered = segment.lowercased()
        return (lowered.first?.isNumber ?? true) ? "_" + lowered : lowered
    }
}

extension MigrationOptions {
    /// Whether a variable moves: flagged by `scan`'s rules, or named by --include, and not by --exclude.
    func moves(_ variable: TaskDefinition.Variable) -> Bool {
        if exclude.contains(variable.name) { return false }
        if include.contains(variable.name) { return true }
        return SecretRules.rule(name: variable.name, value: variable.value, context: .literal) != nil
    }
}

extension String {
    func replacingAll(_ target: Character, _ replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

/// A PostgreSQL or MySQL URL split into the keys AWS's rotation functions read (SPEC §11):
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
