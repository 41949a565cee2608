import InjectorBase
import InjectorOutputs

/// What `migrate` was asked.
public struct MigrationOptions: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case initContainer = "init", sidecar }

    public var taskDefinition: String
    public var prefix: String
    public var mode: Mode = .initContainer
    public var image: String
    /// `--region`: before the task definition's own.
    public var region: String?
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`: after the task definition's own.
    public var environmentRegion: String?
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
    /// The variables it holds (of every app that shares it).
    public var variables: [String]
    /// In the shape AWS's rotation functions read (a split database URL).
    public var rotationShape: Bool
    /// Its template alias in `injector.json`.
    var alias: String = ""
    /// The app whose folder its own files go to (the first that uses it).
    var app: String = ""
    /// A template reads it: `injector.json` lists it under `secrets` (its JSON in `FOLDER/ALIAS.json`).
    var templated = false
    /// Files an official image reads through `NAME_FILE`: the whole value (key nil) or one key's.
    var files: [(key: String?, file: String)] = []

    public static func == (left: PlannedSecret, right: PlannedSecret) -> Bool {
        left.name == right.name && left.value == right.value && left.keys == right.keys
            && left.variables == right.variables && left.rotationShape == right.rotationShape
    }
}

/// A variable rebuilt from a secret's keys by a template: `NAME="…"` in a file of its own.
struct RebuiltVariable {
    var name: String
    var secret: String
    var alias: String
    var file: String
    var template: String
}

/// One app container's part of a migration: which of its variables move, into which secrets, and
/// how it gets each back.
public struct AppMigration {
    public let name: String
    /// Its files' folder below the output folder: "" when it is the only app, "NAME/" when several
    /// apps share the volume (ECS mounts a volume whole, so each app sees the others' folders).
    public let folder: String
    /// The official database image it runs, which reads `NAME_FILE` (``OfficialImage``).
    public let officialImage: OfficialImage?
    /// Its group, from its `user` (`uid:gid`), when that names one.
    public let group: Int?
    /// The moved variables and their old values (for `verify`), in the task definition's order.
    public internal(set) var moved: [(name: String, value: String)] = []
    public internal(set) var stayed: [String] = []
    /// `secrets[]` entries carried over to the injector (their `valueFrom` in the injector's form:
    /// a Parameter Store name ECS takes bare becomes `parameter/NAME`), and those left to ECS (a
    /// `valueFrom` neither a secret nor a parameter).
    public internal(set) var carried: [(name: String, valueFrom: String)] = []
    public internal(set) var leftToECS: [(name: String, valueFrom: String)] = []
    /// Flagged variables its official image reads from its environment only: they stay there.
    public internal(set) var keptForImage: [String] = []
    /// `env.entries`: `(name, valueFrom)`, moved variables first, then carried `secrets[]`.
    var envEntries: [(name: String, valueFrom: String)] = []
    var rebuilt: [RebuiltVariable] = []
    /// Variables its image reads through `NAME_FILE`, and the file each is written to.
    public internal(set) var fileVariables: [(name: String, file: String)] = []

    var envFile: String { folder + MigrationPlan.envFile }

    /// The dotenv files the app reads, in the order its variables come back.
    public var appFiles: [String] {
        (envEntries.isEmpty ? [] : [envFile])
            + rebuilt.map(\.file).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }
}

/// The official images (Docker Hub's library, as their `docker-entrypoint.sh` reads them) that take
/// a variable from a file named by `NAME_FILE`, so that their container needs no command wrapped.
public enum OfficialImage: String, Sendable {
    case postgres, mysql, mariadb, mongo

    /// The image's repository name alone, or under `library/` on any registry
    /// (`postgres:16`, `docker.io/library/postgres`, `public.ecr.aws/docker/library/mysql:8`).
    init?(image: String) {
        var path = Substring(image)
        if let at = path.firstIndex(of: "@") { path = path[..<at] }
        if let colon = path.lastIndex(of: ":"), !path[colon...].contains("/") { path = path[..<colon] }
        let parts = path.split(separator: "/")
        guard let last = parts.last, parts.count == 1 || parts.dropLast().last == "library" else { return nil }
        self.init(rawValue: String(last))
    }

    /// The variables its entrypoint reads through `file_env` (docker-library/postgres, mysql and mongo,
    /// MariaDB/mariadb-docker: `docker-entrypoint.sh`).
    var fileVariables: Set<String> {
        switch self {
        case .postgres: ["POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"]
        case .mysql: ["MYSQL_ROOT_HOST", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"]
        case .mariadb:
            [
                "MYSQL_ROOT_HOST", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD",
                "MARIADB_ROOT_HOST", "MARIADB_DATABASE", "MARIADB_USER", "MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD",
                "MARIADB_PASSWORD_HASH", "MARIADB_ROOT_PASSWORD_HASH", "MARIADB_REPLICATION_USER",
                "MARIADB_REPLICATION_PASSWORD", "MARIADB_REPLICATION_PASSWORD_HASH", "MARIADB_MASTER_HOST",
                "MARIADB_MASTER_PORT", "MARIADB_USER_HOST",
            ]
        case .mongo: ["MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"]
        }
    }
}

/// The migration of a task definition, decided offline: which containers' variables move, into
/// which secrets, and how each app gets its own back. Every container with a secret moves in one
/// run, with one injector.
public struct MigrationPlan {
    public static let envFile = "secrets.env"
    public static let injectorName = "secrets-injector"
    public static let volumeName = "secrets"
    public static let outputDir = "/run/secrets"

    let options: MigrationOptions
    let definition: TaskDefinition
    /// The app containers whose secrets move, in the task definition's order.
    public private(set) var apps: [AppMigration] = []
    public private(set) var secrets: [PlannedSecret] = []

    /// The secrets' region: `--region`, else the task definition's (its ARNs, `awslogs-region`),
    /// else the shell's.
    public let region: String?

    /// The moved variables of every app.
    public var moved: [(name: String, value: String)] { apps.flatMap(\.moved) }
    public var carried: [(name: String, valueFrom: String)] { apps.flatMap(\.carried) }
    public var isEmpty: Bool { apps.isEmpty }

    public init(options: MigrationOptions, bytes: [UInt8]) throws(InputError) {
        self.options = options
        definition = try TaskDefinition(bytes: bytes, file: options.taskDefinition)
        let placeholders = definition.placeholderARNs
        guard placeholders.isEmpty else {
            throw InputError(
                "\(options.taskDefinition): \(placeholders.joined(separator: "; ")): put the real values in the task definition (or use describe-task-definition's output)"
            )
        }
        region = options.region ?? definition.region ?? options.environmentRegion
        if let region, !KnownRegions.all.contains(region) {
            let origin =
                options.region != nil
                ? "--region" : definition.region != nil ? "the task definition's region" : "AWS_REGION"
            throw InputError("\(origin) \(region): not an AWS region (like ap-southeast-1)")
        }
        try Self.checkPrefix(options.prefix)
        for name in options.include + options.exclude
        where !definition.containers.contains(where: { $0.environment.contains { $0.name == name } }) {
            throw InputError("--include/--exclude \(name): no container of the task definition sets it")
        }
        // A container with a variable to move or a secrets[] entry the injector can read; an official
        // database image moves only what its entrypoint reads through NAME_FILE, and keeps its secrets[].
        let candidates = definition.containers.filter { container in
            let image = container.image.flatMap(OfficialImage.init(image:))
            let movable = container.environment.contains { variable in
                options.moves(variable) && (image?.fileVariables.contains(variable.name) ?? true)
            }
            let readable = image == nil && container.secrets.contains { Self.injectorValueFrom($0.valueFrom) != nil }
            return container.name != Self.injectorName && (movable || readable)
        }
        if definition.containers.contains(where: { $0.name == Self.injectorName }) && !candidates.isEmpty {
            throw InputError(
                "\(options.taskDefinition): has a \(Self.injectorName) container already, and \(candidates.map(\.name).joined(separator: ", ")) still hold secrets: migrate the task definition from before the migration (every container moves in one run)"
            )
        }
        var chosen = candidates
        if let wanted = options.container {
            guard definition.containers.contains(where: { $0.name == wanted }) else {
                throw InputError(
                    "--container \(wanted): the task definition's containers are \(definition.containers.map(\.name).joined(separator: ", "))"
                )
            }
            guard let found = candidates.first(where: { $0.name == wanted }) else {
                throw InputError(
                    "--container \(wanted): has no secret to move"
                        + (candidates.isEmpty
                            ? "; no container of the task definition has one"
                            : "; \(candidates.map(\.name).joined(separator: ", ")) \(candidates.count == 1 ? "has" : "have")")
                )
            }
            chosen = [found]
        }
        for container in chosen {
            var app = AppMigration(
                name: container.name, folder: chosen.count > 1 ? Self.folderName(container.name) + "/" : "",
                officialImage: container.image.flatMap(OfficialImage.init(image:)), group: container.group)
            for variable in container.environment {
                if options.moves(variable) {
                    if let image = app.officialImage, !image.fileVariables.contains(variable.name) {
                        app.keptForImage.append(variable.name)
                        app.stayed.append(variable.name)
                    } else {
                        app.moved.append((variable.name, variable.value))
                    }
                } else {
                    app.stayed.append(variable.name)
                }
            }
            for secret in container.secrets {
                if let valueFrom = Self.injectorValueFrom(secret.valueFrom), app.officialImage == nil {
                    app.carried.append((secret.name, valueFrom))
                } else {
                    app.leftToECS.append(secret)
                }
            }
            try group(&app)
            app.envEntries += app.carried
            if !app.moved.isEmpty || !app.carried.isEmpty { apps.append(app) }
        }
    }

    /// The other containers' variables that `scan` flags, when `--container` chose one: their values
    /// stay in the new task definition, which `migrate` says (standard error and MIGRATION.md).
    public var leftInOtherContainers: [(container: String, variables: [String])] {
        definition.containers.compactMap { other in
            guard !apps.contains(where: { $0.name == other.name }), other.name != Self.injectorName else { return nil }
            let flagged = other.environment.filter { options.moves($0) }.map(\.name)
            return flagged.isEmpty ? nil : (other.name, flagged)
        }
    }

    /// An ECS `valueFrom` as the injector's configuration takes it, or nil when the injector cannot
    /// read it. ECS takes a Secrets Manager secret by its ARN, and a Parameter Store parameter by its
    /// ARN or, in the task's region, its name: a name without a leading slash is
    /// `parameter/NAME` to the injector, whose bare names are Secrets Manager's (README, "Parameter
    /// Store"). Anything else (an ARN of another service) stays with ECS.
    static func injectorValueFrom(_ valueFrom: String) -> String? {
        if let service = ARN.service(of: valueFrom) {
            if service == "secretsmanager" { return valueFrom }
            return service == "ssm" && SecretName(valueFrom).parameter != nil ? valueFrom : nil
        }
        return valueFrom.hasPrefix("/") || valueFrom.hasPrefix("parameter/") ? valueFrom : "parameter/" + valueFrom
    }

    static func checkPrefix(_ prefix: String) throws(InputError) {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+=.@-")
        guard !prefix.isEmpty, prefix.allSatisfy(allowed.contains) else {
            throw InputError(
                "--prefix \"\(prefix)\": a secret name holds only A–Z a–z 0–9 and /_+=.@- (e.g. pipeline-pulse/prod/)")
        }
    }

    /// A container's name as a folder: `[A-Za-z0-9_-]` (``TaskDefinition``), as it is, since ECS
    /// tells `Web` from `web`.
    static func folderName(_ container: String) -> String { container }

    // MARK: Grouping

    /// The app's moved variables grouped into secrets, and how it gets each back: an env entry, a
    /// rebuilt URL, or a file its official image reads.
    mutating func group(_ app: inout AppMigration) throws(InputError) {
        var groups: [(segment: String, members: [(name: String, value: String)])] = []
        for variable in app.moved {
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
            // A database URL's split, when it rebuilds the URL exactly (an official image reads no template).
            var split: (member: String, shape: DatabaseURL)?
            if app.officialImage == nil {
                for member in members {
                    if let shape = DatabaseURL(member.value), shape.rebuilds(member.value, alias: Self.alias(segment)) {
                        split = (member.name, shape)
                        break
                    }
                }
            }
            if members.count == 1 && split == nil {
                let member = members[0]
                let secret = try claim(
                    PlannedSecret(
                        name: options.prefix + member.name.lowercased().replacingAll("_", "-"), value: member.value,
                        keys: [], variables: [member.name], rotationShape: false),
                    segment: member.name, app: app)
                if app.officialImage != nil {
                    let file = app.folder + member.name.lowercased()
                    app.fileVariables.append((member.name, file))
                    secrets[secrets.firstIndex { $0.name == secret.name }!].files.append((nil, file))
                } else {
                    app.envEntries.append((member.name, secret.name))
                }
                continue
            }
            var object: [JSONValue.Member] = []
            var variables: [String] = []
            let splitUsed =
                split.map { split in
                    members.allSatisfy { $0.name == split.member || !DatabaseURL.keys.contains(Self.key($0.name)) }
                } ?? false
            if let split, splitUsed {
                object += split.shape.members
                variables.append(split.member)
            }
            for member in members where !variables.contains(member.name) {
                let key = Self.key(member.name)
                guard !object.contains(where: { $0.key == key }) else {
                    throw InputError(
                        "\(member.name): its key \"\(key)\" in \(options.prefix + segment.lowercased()) is taken by another variable; keep one with --exclude"
                    )
                }
                object.append(.init(key: key, value: .string(member.value)))
                variables.append(member.name)
            }
            let secret = try claim(
                PlannedSecret(
                    name: options.prefix + segment.lowercased(), value: JSONValue.object(object).serialized,
                    keys: object.map(\.key), variables: variables, rotationShape: object.contains { $0.key == "engine" }
                ),
                segment: segment, app: app)
            let index = secrets.firstIndex { $0.name == secret.name }!
            if let split, splitUsed {
                secrets[index].templated = true
                // `SECRETS_URL` would take the env file's own name.
                let base =
                    segment.lowercased() + ".env" == MigrationPlan.envFile
                    ? segment.lowercased() + "-url" : segment.lowercased()
                let file = app.folder + base + ".env"
                app.rebuilt.append(
                    RebuiltVariable(
                        name: split.member, secret: secret.name, alias: secret.alias, file: file,
                        template: split.shape.template(variable: split.member, alias: secret.alias)))
            }
            for member in members where member.name != split?.member || !splitUsed {
                let key = Self.key(member.name)
                if app.officialImage != nil {
                    let file = app.folder + member.name.lowercased()
                    app.fileVariables.append((member.name, file))
                    secrets[index].files.append((key, file))
                } else {
                    app.envEntries.append((member.name, "\(secret.name):\(key)::"))
                }
            }
        }
    }

    /// The secret as planned: a new one, or the same secret another app planned already (same name
    /// and value: shared), or, when another app's secret of that name holds another value, one named
    /// under this app's own folder (`PREFIX/APP/…`).
    mutating func claim(_ planned: PlannedSecret, segment: String, app: AppMigration) throws(InputError)
        -> PlannedSecret
    {
        var secret = planned
        secret.alias = Self.alias(segment)
        secret.app = app.name
        if let index = secrets.firstIndex(where: { $0.name == secret.name }) {
            // Apps that read the same value through env files share it; a file an official image
            // reads is one per app, and a secret has one file (or one per key): not shared.
            if secrets[index].value == secret.value && secrets[index].keys == secret.keys
                && secrets[index].files.isEmpty && app.officialImage == nil
            {
                secrets[index].variables += secret.variables.filter { !secrets[index].variables.contains($0) }
                return secrets[index]
            }
            guard !app.folder.isEmpty || secrets[index].value == secret.value else {
                throw InputError(
                    "\(secret.variables.joined(separator: ", ")) and \(secrets[index].variables.joined(separator: ", ")) would both become \(secret.name); keep one with --exclude"
                )
            }
            secret.name = options.prefix + app.folder + secret.name.dropFirst(options.prefix.count)
            secret.alias = Self.alias(String(app.folder.dropLast()).replacingAll("-", "_") + "_" + segment)
            if secrets.contains(where: { $0.name == secret.name }) {
                throw InputError(
                    "\(secret.variables.joined(separator: ", ")) of \(app.name) would become \(secret.name), which another variable takes; keep one with --exclude"
                )
            }
        }
        while secrets.contains(where: { $0.alias == secret.alias }) { secret.alias += "_" }
        secrets.append(secret)
        return secret
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
