import InjectorAgent
import InjectorBase
import InjectorOutputs
import InjectorSources
import SecretsManager

extension Config {
    static let topLevelKeys = [
        "region", "endpoint", "allowInsecureEndpoint", "outputDir", "defaults", "secrets", "templates", "env",
        "refresh",
        "server", "onChange", "exec",
        "log", "source", "metrics", "failover",
    ]
    static let secretKeys = [
        "id", "namePrefix", "parameterPath", "alias", "file", "mode", "uid", "gid", "versionStage", "versionId",
        "required", "keys",
    ]
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Reads and validates a merged configuration document, reporting every problem at once.
    public init(document: JSONValue) throws(ConfigurationError) {
        var reader = ConfigReader()
        let config = Self.validate(document, &reader)
        guard reader.issues.isEmpty, let config else { throw ConfigurationError(reader.issues) }
        self = config
    }

    private static func validate(_ document: JSONValue, _ reader: inout ConfigReader) -> Config? {
        guard let root = reader.object(document, at: "", allowed: topLevelKeys) else { return nil }
        var validation = Validation(reader: reader)
        defer { reader = validation.reader }
        return validation.config(root)
    }

    /// Rules across entries: something to fetch, unique aliases and files, templates that name
    /// known aliases (when nothing is discovered), no output under the socket.
    func crossCheck(_ reader: inout ConfigReader, nothingConfigured: Bool) {
        if nothingConfigured {
            reader.report(
                "secrets",
                "no secrets configured: list them in \"secrets\" (or SECRETS_INJECTOR_SECRETS / SECRETS_INJECTOR_NAME_PREFIX)"
            )
        }
        var aliases: [String: Int] = [:]
        for (index, secret) in secrets.enumerated() {
            guard let alias = secret.alias else { continue }
            if let first = aliases[alias] {
                reader.report(
                    "secrets[\(index)].alias",
                    "\"\(alias)\" is also the alias of secrets[\(first)]; set \"alias\" on one of them")
            } else {
                aliases[alias] = index
            }
        }
        var claimed = ClaimedPaths()
        func claim(_ file: FileSpec?, by path: String) {
            guard let file else { return }
            if let problem = claimed.claim(file.path, by: path) { reader.report(path, problem) }
        }
        for (index, secret) in secrets.enumerated() {
            claim(secret.file, by: "secrets[\(index)].file")
            for entry in secret.keys { claim(entry.file, by: "secrets[\(index)].keys.\(entry.key)") }
        }
        for (index, template) in templates.enumerated() { claim(template.file, by: "templates[\(index)].file") }
        for (index, env) in env.enumerated() {
            claim(env.file, by: self.env.count == 1 ? "env.file" : "env[\(index)].file")
        }
        if let socket = socketRelativePath, let problem = claimed.collision(socket) {
            reader.report("server.socketPath", "the socket's path: \(problem)")
        }
        // Discovered secrets and parameters get their aliases only when they are listed.
        if !discovers, !secrets.contains(where: { if case .parameterPath = $0.selector { true } else { false } }) {
            for (index, template) in templates.enumerated() {
                for alias in template.template.aliases where aliases[alias] == nil {
                    let known = aliases.keys.sorted().joined(separator: ", ")
                    reader.report(
                        "templates[\(index)].template",
                        "unknown alias \"\(alias)\" (configured: \(known.isEmpty ? "none" : known))")
                }
            }
        }
    }
}
