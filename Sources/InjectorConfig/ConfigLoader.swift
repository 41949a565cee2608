import InjectorBase

/// Settings given on the command line; each set one wins over every other source.
public struct ConfigOverrides: Sendable, Equatable {
    public var secrets: [String] = []
    public var namePrefix: String?
    public var outputDir: String?
    public var region: String?
    public var endpoint: String?
    public var socketPath: String?
    public var refreshSeconds: Int?
    public var logLevel: String?

    public init() {}
}

/// Builds the configuration from its sources, later winning: defaults < `--config FILE`
/// (or `SECRETS_INJECTOR_CONFIG_FILE`) < `SECRETS_INJECTOR_CONFIG` (inline JSON) < the
/// `SECRETS_INJECTOR_*` shorthands < flags. Objects merge key by key; anything else is replaced.
public enum ConfigLoader {
    public static func load(
        configFile: String? = nil, overrides: ConfigOverrides = ConfigOverrides(), environment: [String: String],
        readFile: (String) throws -> [UInt8] = { try readWholeFile($0) }
    ) throws(ConfigurationError) -> Config {
        var issues: [ConfigIssue] = []
        var merged = JSONValue.object([])

        let filePath = configFile ?? environment["SECRETS_INJECTOR_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let filePath {
            let origin = configFile != nil ? "--config \(filePath)" : "SECRETS_INJECTOR_CONFIG_FILE \(filePath)"
            do {
                let bytes = try readFile(filePath)
                if let layer = parse(bytes, origin: origin, &issues) { merged = merge(merged, layer) }
            } catch {
                issues.append(ConfigIssue(origin, "\(error)"))
            }
        }
        if let inline = environment["SECRETS_INJECTOR_CONFIG"], !inline.isEmpty,
            let layer = parse(Array(inline.utf8), origin: "SECRETS_INJECTOR_CONFIG", &issues)
        {
            merged = merge(merged, layer)
        }
        merged = merge(merged, shorthands(environment, &issues))
        merged = merge(merged, flags(overrides))
        guard issues.isEmpty else { throw ConfigurationError(issues) }
        return try Config(document: merged)
    }

    static func parse(_ bytes: [UInt8], origin: String, _ issues: inout [ConfigIssue]) -> JSONValue? {
        do {
            let value = try JSONValue.parse(bytes)
            guard case .object = value else {
                issues.append(ConfigIssue(origin, "the configuration must be a JSON object"))
                return nil
            }
            return value
        } catch {
            issues.append(ConfigIssue(origin, "not valid JSON (\(error))"))
            return nil
        }
    }

    /// `SECRETS_INJECTOR_SECRETS` (comma-separated ids) and `_NAME_PREFIX` together replace
    /// `secrets`; `_OUTPUT_DIR`, `_SOCKET`, `_REFRESH_SECONDS`, `_LOG_LEVEL` and
    /// `_ALLOW_INSECURE_ENDPOINT` (`true` or `false`) set one key each.
    static func shorthands(_ environment: [String: String], _ issues: inout [ConfigIssue]) -> JSONValue {
        var members: [JSONValue.Member] = []
        var secrets: [JSONValue] = []
        if let list = environment["SECRETS_INJECTOR_SECRETS"] {
            for id in list.split(separator: ",").map({ $0.trimmingCharacters(in: " \t") }) where !id.isEmpty {
                secrets.append(.object([.init(key: "id", value: .string(id))]))
            }
        }
        if let prefix = environment["SECRETS_INJECTOR_NAME_PREFIX"], !prefix.isEmpty {
            secrets.append(.object([.init(key: "namePrefix", value: .string(prefix))]))
        }
        if !secrets.isEmpty { members.append(.init(key: "secrets", value: .array(secrets))) }
        if let dir = environment["SECRETS_INJECTOR_OUTPUT_DIR"], !dir.isEmpty {
            members.append(.init(key: "outputDir", value: .string(dir)))
        }
        if let socket = environment["SECRETS_INJECTOR_SOCKET"], !socket.isEmpty {
            members.append(.init(key: "server", value: .object([.init(key: "socketPath", value: .string(socket))])))
        }
        if let seconds = environment["SECRETS_INJECTOR_REFRESH_SECONDS"], !seconds.isEmpty {
            if Int(seconds) != nil {
                members.append(
                    .init(key: "refresh", value: .object([.init(key: "intervalSeconds", value: .number(seconds))])))
            } else {
                issues.append(
                    ConfigIssue("SECRETS_INJECTOR_REFRESH_SECONDS", "\"\(seconds)\" is not a whole number of seconds"))
            }
        }
        if let level = environment["SECRETS_INJECTOR_LOG_LEVEL"], !level.isEmpty {
            members.append(.init(key: "log", value: .object([.init(key: "level", value: .string(level))])))
        }
        if let allow = environment["SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT"], !allow.isEmpty {
            if let flag = ["true": true, "false": false][allow.lowercased()] {
                members.append(.init(key: "allowInsecureEndpoint", value: .bool(flag)))
            } else {
                issues.append(
                    ConfigIssue("SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT", "\"\(allow)\" is not true or false"))
            }
        }
        return .object(members)
    }

    static func flags(_ overrides: ConfigOverrides) -> JSONValue {
        var members: [JSONValue.Member] = []
        var secrets: [JSONValue] = overrides.secrets.map { .object([.init(key: "id", value: .string($0))]) }
        if let prefix = overrides.namePrefix {
            secrets.append(.object([.init(key: "namePrefix", value: .string(prefix))]))
        }
        if !secrets.isEmpty { members.append(.init(key: "secrets", value: .array(secrets))) }
        if let dir = overrides.outputDir { members.append(.init(key: "outputDir", value: .string(dir))) }
        if let region = overrides.region { members.append(.init(key: "region", value: .string(region))) }
        if let endpoint = overrides.endpoint { members.append(.init(key: "endpoint", value: .string(endpoint))) }
        if let socket = overrides.socketPath {
            members.append(.init(key: "server", value: .object([.init(key: "socketPath", value: .string(socket))])))
        }
        if let seconds = overrides.refreshSeconds {
            members.append(
                .init(key: "refresh", value: .object([.init(key: "intervalSeconds", value: .number(String(seconds)))])))
        }
        if let level = overrides.logLevel {
            members.append(.init(key: "log", value: .object([.init(key: "level", value: .string(level))])))
        }
        return .object(members)
    }

    /// `overlay` over `base`: objects merge key by key (keeping `base`'s order), anything else is replaced.
    static func merge(_ base: JSONValue, _ overlay: JSONValue) -> JSONValue {
        guard case .object(var members) = base, case .object(let overlayMembers) = overlay else { return overlay }
        for member in overlayMembers {
            if let index = members.firstIndex(where: { $0.key == member.key }) {
                members[index].value = merge(members[index].value, member.value)
            } else {
                members.append(member)
            }
        }
        return .object(members)
    }
}
