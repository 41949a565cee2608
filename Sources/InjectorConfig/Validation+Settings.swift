import InjectorAgent
import InjectorBase
import InjectorOutputs
import InjectorSources
import SecretsManager

/// The sections that say how the injector runs: `refresh`, `server`, `onChange`, `exec`, `log`,
/// `source`, `metrics` and `failover`.
extension Validation {
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

    mutating func exec(_ value: JSONValue?) -> ExecSettings {
        var exec = ExecSettings()
        guard
            let object = reader.object(
                value, at: "exec",
                allowed: [
                    "stopTimeoutSeconds", "restart", "restartSignal", "settleSeconds", "splaySeconds", "user",
                    "dropEnvironment",
                ])
        else { return exec }
        func signal(_ text: String, at path: String) -> String? {
            guard let bare = Signals.name(text) else {
                reader.report(path, "\"\(text)\" is not one of \(Signals.names.joined(separator: ", "))")
                return nil
            }
            return bare
        }
        if let seconds = reader.integer(object["stopTimeoutSeconds"], at: "exec.stopTimeoutSeconds", in: 1...3600) {
            exec.stopTimeoutSeconds = seconds
        }
        if let seconds = reader.integer(object["settleSeconds"], at: "exec.settleSeconds", in: 0...3600) {
            exec.settleSeconds = seconds
        }
        if let seconds = reader.integer(object["splaySeconds"], at: "exec.splaySeconds", in: 0...86_400) {
            exec.splaySeconds = seconds
        }
        if let text = reader.string(object["restart"], at: "exec.restart") {
            if text == "restart" {
                exec.restart = .restart
            } else if text == "none" {
                exec.restart = .none
            } else if text.hasPrefix("signal:") {
                if let bare = signal(String(text.dropFirst("signal:".count)), at: "exec.restart") {
                    exec.restart = .signal(bare)
                }
            } else {
                reader.report("exec.restart", "\"\(text)\" is not restart, signal:NAME or none")
            }
        }
        if let text = reader.string(object["restartSignal"], at: "exec.restartSignal"),
            let bare = signal(text, at: "exec.restartSignal")
        {
            exec.restartSignal = bare
        }
        if let text = reader.string(object["user"], at: "exec.user") {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2, let uid = UInt32(parts[0]), let gid = UInt32(parts[1]), uid <= 2_147_483_647,
                gid <= 2_147_483_647
            {
                exec.user = (uid, gid)
            } else {
                reader.report("exec.user", "\"\(text)\" is not uid:gid (two numbers, like \"1000:1000\")")
            }
        }
        if let names = reader.stringArray(object["dropEnvironment"], at: "exec.dropEnvironment") {
            for (index, name) in names.enumerated() where !Identifier.isValid(name) {
                reader.report(
                    "exec.dropEnvironment[\(index)]", "\"\(name)\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)")
            }
            exec.dropEnvironment = names
        }
        return exec
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
}
