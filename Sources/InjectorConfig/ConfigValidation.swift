import InjectorAgent
import InjectorBase
import InjectorOutputs
import InjectorSources
import SecretsManager

extension Config {
    static let topLevelKeys = [
        "region", "endpoint", "allowInsecureEndpoint", "outputDir", "defaults", "secrets", "templates", "env",
        "refresh",
        "server", "onChange",
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

/// One reading of a configuration document, section by section, every issue collected in `reader`.
private struct Validation {
    var reader: ConfigReader
    var defaultMode = Config.defaultMode
    var defaultOwner = Ownership()

    mutating func config(_ root: [String: JSONValue]) -> Config {
        let region = reader.string(root["region"], at: "region")
        if let region, !RegionName.isValid(region) {
            reader.report("region", "\"\(region)\" is not an AWS region name (like ap-southeast-1)")
        }
        let allowInsecureEndpoint = reader.bool(root["allowInsecureEndpoint"], at: "allowInsecureEndpoint") ?? false
        let endpoint = reader.string(root["endpoint"], at: "endpoint")
        checkEndpoint(endpoint, at: "endpoint", allowInsecure: allowInsecureEndpoint)
        var outputDir = reader.string(root["outputDir"], at: "outputDir") ?? Config.defaultOutputDir
        if !outputDir.hasPrefix("/") {
            reader.report("outputDir", "\"\(outputDir)\" must be an absolute path")
        }
        while outputDir.count > 1, outputDir.hasSuffix("/") { outputDir.removeLast() }

        let defaults = reader.object(root["defaults"], at: "defaults", allowed: ["mode", "uid", "gid"]) ?? [:]
        defaultMode = mode(defaults["mode"], at: "defaults.mode") ?? Config.defaultMode
        defaultOwner = Ownership(
            uid: id(defaults["uid"], at: "defaults.uid"), gid: id(defaults["gid"], at: "defaults.gid"))

        var config = Config(
            region: region, endpoint: endpoint, outputDir: outputDir, secrets: secrets(root["secrets"]),
            templates: templates(root["templates"]), env: env(root["env"]), refresh: refresh(root["refresh"]),
            server: server(root["server"], outputDir: outputDir), onChange: onChange(root["onChange"]),
            log: log(root["log"]), source: source(root["source"]))
        config.cloudWatch = cloudWatch(root["metrics"])
        config.allowInsecureEndpoint = allowInsecureEndpoint
        config.failover = failover(root["failover"], primary: region, allowInsecure: allowInsecureEndpoint)
        let configuredCount = (root["secrets"].flatMap { if case .array(let a) = $0 { a.count } else { 1 } } ?? 0)
        let envFiles: [JSONValue] = root["env"].map { if case .array(let files) = $0 { files } else { [$0] } } ?? []
        let envCount = envFiles.reduce(0) { count, file in
            count + ((file["entries"]).flatMap { if case .array(let a) = $0 { a.count } else { 1 } } ?? 0)
        }
        config.crossCheck(&reader, nothingConfigured: configuredCount + envCount == 0)
        return config
    }

    // MARK: Sections

    /// `secrets[]`: by `id` (with its files and keys) or by `namePrefix`.
    mutating func secrets(_ value: JSONValue?) -> [SecretSpec] {
        var secrets: [SecretSpec] = []
        for (index, element) in (reader.array(value, at: "secrets") ?? []).enumerated() {
            let path = "secrets[\(index)]"
            guard let entry = reader.object(element, at: path, allowed: Config.secretKeys) else { continue }
            let entryMode = mode(entry["mode"], at: "\(path).mode") ?? defaultMode
            let owner = Ownership(
                uid: id(entry["uid"], at: "\(path).uid") ?? defaultOwner.uid,
                gid: id(entry["gid"], at: "\(path).gid") ?? defaultOwner.gid)
            let required = reader.bool(entry["required"], at: "\(path).required") ?? true
            let versionStage = reader.string(entry["versionStage"], at: "\(path).versionStage")
            let versionID = reader.string(entry["versionId"], at: "\(path).versionId")
            let idText = reader.string(entry["id"], at: "\(path).id")
            let prefix = reader.string(entry["namePrefix"], at: "\(path).namePrefix")
            if let parameterPath = reader.string(entry["parameterPath"], at: "\(path).parameterPath") {
                if idText != nil || prefix != nil {
                    reader.report(path, "has \"parameterPath\" and \"\(idText != nil ? "id" : "namePrefix")\"; use one")
                } else if !parameterPath.hasPrefix("/") || !parameterPath.hasSuffix("/")
                    || ParameterReference.parse(parameterPath + "x").map({ (try? $0.get()) == nil }) ?? true
                {
                    reader.report(
                        "\(path).parameterPath",
                        "\"\(parameterPath)\" is not a parameter path: it starts and ends with / (/pipeline-pulse/prod/)"
                    )
                } else {
                    for key in ["alias", "file", "keys", "versionStage", "versionId"] where entry[key] != nil {
                        reader.report(
                            "\(path).\(key)",
                            "not allowed with parameterPath: discovered parameters are written under their name without the path, with their default alias"
                        )
                    }
                    secrets.append(
                        SecretSpec(
                            selector: .parameterPath(parameterPath), alias: nil, file: nil, versionStage: nil,
                            versionID: nil, required: required, keys: [], mode: entryMode, owner: owner))
                }
                continue
            }
            switch (idText, prefix) {
            case (let idText?, nil):
                let name = SecretName(idText)
                if let problem = name.problem {
                    reader.report("\(path).id", problem)
                    continue
                }
                if name.parameter != nil, versionStage != nil || versionID != nil {
                    reader.report(
                        "\(path).\(versionStage != nil ? "versionStage" : "versionId")",
                        "not for a Parameter Store parameter: add a :version or :label selector to its id")
                    continue
                }
                let alias = reader.string(entry["alias"], at: "\(path).alias") ?? name.defaultAlias
                if !Identifier.isValid(alias) {
                    reader.report(
                        "\(path).alias", "\"\(alias)\" is not an alias (A–Z a–z 0–9 _, not starting with a digit)")
                }
                let file = fileSpec(
                    entry["file"] ?? .string(name.name), at: "\(path).file", mode: entryMode, owner: owner)
                var keys: [(key: String, file: FileSpec)] = []
                if let keyMap = entry["keys"] {
                    if case .object(let members) = keyMap {
                        for member in members {
                            if let spec = fileSpec(
                                member.value, at: "\(path).keys.\(member.key)", mode: entryMode, owner: owner)
                            {
                                keys.append((member.key, spec))
                            }
                        }
                    } else {
                        reader.report(
                            "\(path).keys",
                            "expected an object of {\"json-key\": \"file\"}, got \(ConfigReader.show(keyMap))")
                    }
                }
                secrets.append(
                    SecretSpec(
                        selector: .id(name), alias: alias, file: file, versionStage: versionStage, versionID: versionID,
                        required: required, keys: keys,
                        mode: entryMode, owner: owner))
            case (nil, let prefix?):
                for key in ["alias", "file", "keys", "versionStage", "versionId"] where entry[key] != nil {
                    reader.report(
                        "\(path).\(key)",
                        "not allowed with namePrefix: discovered secrets are written under their name without the prefix, with their default alias"
                    )
                }
                secrets.append(
                    SecretSpec(
                        selector: .namePrefix(prefix), alias: nil, file: nil, versionStage: nil, versionID: nil,
                        required: required, keys: [], mode: entryMode,
                        owner: owner))
            case (nil, nil):
                reader.report(path, "needs \"id\" (a name or ARN) or \"namePrefix\"")
            case (_?, _?):
                reader.report(path, "has both \"id\" and \"namePrefix\"; use one")
            }
        }
        return secrets
    }

    mutating func templates(_ value: JSONValue?) -> [TemplateSpec] {
        var templates: [TemplateSpec] = []
        for (index, element) in (reader.array(value, at: "templates") ?? []).enumerated() {
            let path = "templates[\(index)]"
            guard let entry = reader.object(element, at: path, allowed: ["file", "template", "mode", "uid", "gid"])
            else { continue }
            let file = outputFile(entry, at: path)
            var template: Template?
            if let source = reader.string(entry["template"], at: "\(path).template", nonEmpty: false) {
                do {
                    template = try Template(
                        parsing: source, dotenv: file.map { Template.isDotenvFile($0.path) } ?? false)
                } catch {
                    reader.report("\(path).template", error.message)
                }
            } else if entry["template"] == nil {
                reader.report("\(path).template", "is required")
            }
            if let file, let template { templates.append(TemplateSpec(file: file, template: template)) }
        }
        return templates
    }

    /// `env`: one object, or an array of them (a file each).
    mutating func env(_ value: JSONValue?) -> [EnvSpec] {
        guard let value else { return [] }
        if case .array(let elements) = value {
            return elements.enumerated().compactMap { index, element in envFile(element, at: "env[\(index)]") }
        }
        return envFile(value, at: "env").map { [$0] } ?? []
    }

    mutating func envFile(_ value: JSONValue, at at: String) -> EnvSpec? {
        var env: EnvSpec?
        if let envObject = reader.object(value, at: at, allowed: ["file", "mode", "uid", "gid", "entries"]) {
            let file = outputFile(envObject, at: at)
            var entries: [EnvEntry] = []
            var names: [String: Int] = [:]
            for (index, element) in (reader.array(envObject["entries"], at: "\(at).entries") ?? []).enumerated() {
                let path = "\(at).entries[\(index)]"
                guard let entry = reader.object(element, at: path, allowed: ["name", "valueFrom"]) else { continue }
                let name = reader.string(entry["name"], at: "\(path).name")
                if entry["name"] == nil { reader.report("\(path).name", "is required") }
                if let name {
                    if !Identifier.isValid(name) {
                        reader.report(
                            "\(path).name",
                            "\"\(name)\" is not an environment variable name (A–Z a–z 0–9 _, not starting with a digit)"
                        )
                    } else if let first = names[name] {
                        reader.report("\(path).name", "\"\(name)\" is also \(at).entries[\(first)]")
                    } else {
                        names[name] = index
                    }
                }
                if entry["valueFrom"] == nil { reader.report("\(path).valueFrom", "is required") }
                if let text = reader.string(entry["valueFrom"], at: "\(path).valueFrom") {
                    do {
                        let valueFrom = try ValueFrom(parsing: text)
                        if let name { entries.append(EnvEntry(name: name, valueFrom: valueFrom)) }
                    } catch {
                        reader.report("\(path).valueFrom", error.message)
                    }
                }
            }
            if let file { env = EnvSpec(file: file, entries: entries) }
        }
        return env
    }

    mutating func refresh(_ value: JSONValue?) -> RefreshSettings {
        let refreshObject =
            reader.object(
                value, at: "refresh", allowed: ["intervalSeconds", "strategy", "maxStaleSeconds", "minRefreshSeconds"])
            ?? [:]
        var strategy = RefreshStrategy.auto
        if let text = reader.string(refreshObject["strategy"], at: "refresh.strategy") {
            if let parsed = RefreshStrategy(rawValue: text) {
                strategy = parsed
            } else {
                reader.report(
                    "refresh.strategy",
                    "\"\(text)\" is not one of \(RefreshStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        return RefreshSettings(
            intervalSeconds: reader.integer(
                refreshObject["intervalSeconds"], at: "refresh.intervalSeconds", in: 1...31_536_000) ?? 300,
            strategy: strategy,
            maxStaleSeconds: reader.integer(
                refreshObject["maxStaleSeconds"], at: "refresh.maxStaleSeconds", in: 1...315_360_000),
            minRefreshSeconds: reader.integer(
                refreshObject["minRefreshSeconds"], at: "refresh.minRefreshSeconds", in: 0...3_600) ?? 5)
    }

    mutating func server(_ value: JSONValue?, outputDir: String) -> ServerSettings {
        let serverObject =
            reader.object(
                value, at: "server",
                allowed: [
                    "socketPath", "socketMode", "allowUids", "tcp", "tcpPort", "maxConnections", "ssrfHeaders",
                    "ssrfEnvVariables", "pathPrefix", "audit",
                ]) ?? [:]
        let socketPath =
            reader.string(serverObject["socketPath"], at: "server.socketPath")
            ?? (outputDir == "/" ? "/injector.sock" : outputDir + "/injector.sock")
        if !socketPath.hasPrefix("/") {
            reader.report("server.socketPath", "\"\(socketPath)\" must be an absolute path")
        }
        var allowUIDs: [UInt32]?
        if let list = reader.array(serverObject["allowUids"], at: "server.allowUids") {
            allowUIDs = list.enumerated().compactMap { id($0.element, at: "server.allowUids[\($0.offset)]") }
        }
        let tcpPort = reader.integer(serverObject["tcpPort"], at: "server.tcpPort", in: 1...65_535)
        let tcp = reader.bool(serverObject["tcp"], at: "server.tcp")
        if tcp == false, tcpPort != nil {
            reader.report("server.tcp", "is false but server.tcpPort is set; remove one of them")
        }
        var server = ServerSettings(
            socketPath: socketPath,
            socketMode: mode(serverObject["socketMode"], at: "server.socketMode") ?? FileMode(0o660),
            allowUIDs: allowUIDs,
            tcpPort: tcp == false ? nil : tcpPort ?? (tcp == true ? ServerSettings.defaultTCPPort : nil))
        if let limit = reader.integer(serverObject["maxConnections"], at: "server.maxConnections", in: 1...1000) {
            server.maxConnections = limit
        }
        if let audit = reader.bool(serverObject["audit"], at: "server.audit") { server.audit = audit }
        for (key, keyPath) in [
            ("ssrfHeaders", \ServerSettings.api.ssrfHeaders), ("ssrfEnvVariables", \.ssrfEnvVariables),
        ] {
            guard let names = reader.stringArray(serverObject[key], at: "server.\(key)") else { continue }
            if names.isEmpty {
                reader.report("server.\(key)", "must name at least one \(key == "ssrfHeaders" ? "header" : "variable")")
            } else {
                server[keyPath: keyPath] = names
            }
        }
        if let prefix = reader.string(serverObject["pathPrefix"], at: "server.pathPrefix") {
            if prefix.hasPrefix("/") {
                server.api.pathPrefix = prefix
            } else {
                reader.report("server.pathPrefix", "\"\(prefix)\" must begin with /")
            }
        }
        return server
    }

    mutating func onChange(_ value: JSONValue?) -> OnChangeSettings? {
        var onChange: OnChangeSettings?
        if let object = reader.object(
            value, at: "onChange", allowed: ["command", "signal", "timeoutSeconds"])
        {
            var settings = OnChangeSettings()
            if let command = reader.stringArray(object["command"], at: "onChange.command") {
                if command.isEmpty {
                    reader.report("onChange.command", "must name a program (argv, no shell)")
                } else {
                    settings.command = command
                }
            }
            if let timeout = reader.integer(object["timeoutSeconds"], at: "onChange.timeoutSeconds", in: 1...3600) {
                settings.timeoutSeconds = timeout
            }
            if let signal = reader.object(object["signal"], at: "onChange.signal", allowed: ["pidFile", "name", "uid"])
            {
                settings.signalUID = id(signal["uid"], at: "onChange.signal.uid")
                settings.signalPIDFile = reader.string(signal["pidFile"], at: "onChange.signal.pidFile")
                if signal["pidFile"] == nil { reader.report("onChange.signal.pidFile", "is required") }
                if let pidFile = settings.signalPIDFile, !pidFile.hasPrefix("/") {
                    reader.report("onChange.signal.pidFile", "\"\(pidFile)\" must be an absolute path")
                }
                let name = reader.string(signal["name"], at: "onChange.signal.name") ?? "HUP"
                if let bare = Signals.name(name) {
                    settings.signalName = bare
                } else {
                    reader.report(
                        "onChange.signal.name", "\"\(name)\" is not one of \(Signals.names.joined(separator: ", "))")
                }
            }
            onChange = settings
        }
        return onChange
    }

    mutating func log(_ value: JSONValue?) -> LogSettings {
        let logObject = reader.object(value, at: "log", allowed: ["level", "format"]) ?? [:]
        var log = LogSettings(level: "info", format: .json)
        if let level = reader.string(logObject["level"], at: "log.level") {
            if Config.logLevels.contains(level.lowercased()) {
                log.level = level.lowercased()
            } else {
                reader.report("log.level", "\"\(level)\" is not one of \(Config.logLevels.joined(separator: ", "))")
            }
        }
        if let format = reader.string(logObject["format"], at: "log.format") {
            if let parsed = LogSettings.Format(rawValue: format) {
                log.format = parsed
            } else {
                reader.report("log.format", "\"\(format)\" is not json or text")
            }
        }
        return log
    }

    mutating func source(_ value: JSONValue?) -> SourceSettings {
        var source = SourceSettings.secretsManager
        if let object = reader.object(value, at: "source", allowed: ["local"]),
            let path = reader.string(object["local"], at: "source.local")
        {
            source = .local(path: path)
        }
        return source
    }

    mutating func cloudWatch(_ value: JSONValue?) -> CloudWatchSettings? {
        var cloudWatch: CloudWatchSettings?
        if let metrics = reader.object(value, at: "metrics", allowed: ["cloudwatch"]),
            let object = reader.object(
                metrics["cloudwatch"], at: "metrics.cloudwatch", allowed: ["namespace", "serviceName"])
        {
            let namespace = reader.string(object["namespace"], at: "metrics.cloudwatch.namespace")
            if object["namespace"] == nil { reader.report("metrics.cloudwatch.namespace", "is required") }
            if let namespace, namespace.isEmpty || namespace.utf8.count > 255 || namespace.hasPrefix("AWS/") {
                reader.report(
                    "metrics.cloudwatch.namespace",
                    "\"\(namespace)\" must be 1 to 255 characters and not begin with AWS/ (CloudWatch reserves it)")
            }
            let serviceName = reader.string(object["serviceName"], at: "metrics.cloudwatch.serviceName")
            if let serviceName, serviceName.isEmpty || serviceName.utf8.count > 1024 {
                reader.report("metrics.cloudwatch.serviceName", "must be 1 to 1,024 characters")
            }
            if let namespace { cloudWatch = CloudWatchSettings(namespace: namespace, serviceName: serviceName) }
        }
        return cloudWatch
    }

    mutating func failover(_ value: JSONValue?, primary region: String?, allowInsecure allowInsecureEndpoint: Bool)
        -> [FailoverRegion]
    {
        var failover: [FailoverRegion] = []
        if let list = reader.array(value, at: "failover") {
            for (index, element) in list.enumerated() {
                let at = "failover[\(index)]"
                guard let object = reader.object(element, at: at, allowed: ["region", "endpoint"]) else { continue }
                guard let name = reader.string(object["region"], at: "\(at).region") else {
                    if object["region"] == nil { reader.report("\(at).region", "is required") }
                    continue
                }
                if !RegionName.isValid(name) {
                    reader.report("\(at).region", "\"\(name)\" is not an AWS region name (like ap-south-1)")
                } else if name == region || failover.contains(where: { $0.region == name }) {
                    reader.report("\(at).region", "\"\(name)\" is already the primary or an earlier failover region")
                }
                let endpoint = reader.string(object["endpoint"], at: "\(at).endpoint")
                checkEndpoint(endpoint, at: "\(at).endpoint", allowInsecure: allowInsecureEndpoint)
                failover.append(FailoverRegion(region: name, endpoint: endpoint))
            }
        }
        return failover
    }

    // MARK: Values

    mutating func fileSpec(_ value: JSONValue?, at path: String, mode: FileMode, owner: Ownership) -> FileSpec? {
        guard let file = reader.string(value, at: path) else { return nil }
        if let problem = OutputPath.problem(file) {
            reader.report(path, problem)
            return nil
        }
        return FileSpec(path: file, mode: mode, owner: owner)
    }

    /// The required `file` of a template or env entry, with its own mode, uid and gid.
    mutating func outputFile(_ entry: [String: JSONValue], at path: String) -> FileSpec? {
        let owner = Ownership(
            uid: id(entry["uid"], at: "\(path).uid") ?? defaultOwner.uid,
            gid: id(entry["gid"], at: "\(path).gid") ?? defaultOwner.gid)
        let entryMode = mode(entry["mode"], at: "\(path).mode") ?? defaultMode
        if entry["file"] == nil { reader.report("\(path).file", "is required") }
        return fileSpec(entry["file"], at: "\(path).file", mode: entryMode, owner: owner)
    }

    /// An http(s) URL; plain http only to loopback unless `allowInsecureEndpoint`.
    mutating func checkEndpoint(_ endpoint: String?, at path: String, allowInsecure: Bool) {
        guard let endpoint else { return }
        if !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            reader.report(path, "\"\(endpoint)\" is not an http(s) URL")
        } else if !allowInsecure, let problem = Endpoint.plainHTTPProblem(endpoint) {
            reader.report(path, problem)
        }
    }

    mutating func mode(_ value: JSONValue?, at path: String) -> FileMode? {
        guard let text = reader.string(value, at: path) else { return nil }
        guard let mode = FileMode(octal: text) else {
            reader.report(path, "\"\(text)\" is not an octal file mode (like \"0440\")")
            return nil
        }
        return mode
    }

    mutating func id(_ value: JSONValue?, at path: String) -> UInt32? {
        reader.integer(value, at: path, in: 0...2_147_483_647).map(UInt32.init)
    }
}

/// Names of aliases and environment variables: `[A-Za-z_][A-Za-z0-9_]*`.
enum Identifier {
    static func isValid(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, first.isASCII, first == "_" || first.properties.isAlphabetic else {
            return false
        }
        return text.unicodeScalars.allSatisfy {
            $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
        }
    }
}
