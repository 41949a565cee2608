import InjectorAgent
import InjectorBase
import InjectorOutputs
import InjectorSources

extension Config {
    /// `secrets-injector check`: the plan on standard output, each warning on standard error, and
    /// an existing `outputDir` held to the rule `init` and `run` hold it to: one that others could
    /// write into ends the check with exit 5. No network call.
    public func check() throws(CommandExit) {
        print(plan)
        for warning in warnings {
            StandardStream.error.write("secrets-injector: warning: \(warning.escapingControls())\n")
        }
        if let problem = OutputFolderPolicy.problem(of: outputDir, outputGroup: socketGroup) {
            throw CommandExit(.cannotWrite, problem)
        }
    }

    /// What `secrets-injector check` prints: which secrets, which files, modes, owners and
    /// templates — without any call and without any value.
    public var plan: String {
        var lines: [String] = ["configuration is valid"]
        switch source {
        case .local(let path): lines.append("source: local file \(path)")
        case .secretsManager:
            lines.append(
                "source: AWS Secrets Manager, region \(region ?? "from the environment"), endpoint \(endpoint ?? "from the environment or the region")"
            )
        }
        lines.append("output folder: \(outputDir) (generations ..<time>, switched through \(outputDir)/..data)")
        lines.append("secrets:")
        for spec in secrets {
            switch spec.selector {
            case .id(let name):
                var line = "  \(name.id)"
                if let stage = spec.versionStage { line += " stage \(stage)" }
                if let version = spec.versionID { line += " version \(version)" }
                line += " as \(spec.alias ?? name.defaultAlias)"
                if !spec.required { line += " (optional)" }
                lines.append(line)
                if let file = spec.file { lines.append("    -> \(Self.describe(file))") }
                for entry in spec.keys { lines.append("    .\(entry.key) -> \(Self.describe(entry.file))") }
            case .namePrefix(let prefix):
                lines.append(
                    "  every secret named \(prefix)* (ListSecrets), as its last name segment\(spec.required ? "" : " (optional)")"
                )
                lines.append("    -> <name without \(prefix)> \(spec.mode) \(Self.describe(spec.owner))")
            case .parameterPath(let path):
                lines.append(
                    "  every parameter under \(path) (GetParametersByPath, each round), as its last name segment\(spec.required ? "" : " (optional)")"
                )
                lines.append("    -> <name without \(path)> \(spec.mode) \(Self.describe(spec.owner))")
            }
        }
        if !templates.isEmpty {
            lines.append("templates:")
            for template in templates {
                lines.append(
                    "  \(Self.describe(template.file)) uses \(template.template.aliases.joined(separator: ", "))")
            }
        }
        for env in env {
            lines.append("env file: \(Self.describe(env.file))")
            for entry in env.entries { lines.append("  \(entry.name) <- \(entry.valueFrom)") }
        }
        lines.append(
            "refresh (run): every \(refresh.intervalSeconds) s ±10 %, strategy \(refresh.strategy.rawValue)\(roundCalls)"
                + ", POST /refresh at most every \(refresh.minRefreshSeconds) s per secret"
                + (refresh.maxStaleSeconds.map { ", unhealthy when a required secret goes unchecked for over \($0) s" }
                    ?? ""))
        var server = "server (run): \(self.server.socketPath) \(self.server.socketMode)"
        if let uids = self.server.allowUIDs { server += ", uids \(uids.map(String.init).joined(separator: ","))" }
        if let port = self.server.tcpPort {
            server +=
                ", tcp 127.0.0.1:\(port) (token in \(self.server.api.ssrfHeaders.joined(separator: " or ")) from \(self.server.ssrfEnvVariables.joined(separator: ", ")))"
        }
        server += ", paths /secretsmanager/get and \(self.server.api.pathPrefix)<id>"
        server += ", at most \(self.server.maxConnections) connections per listener"
        server += self.server.audit ? ", access audit on" : ", access audit of refusals only"
        lines.append(server)
        if !failover.isEmpty {
            lines.append(
                "failover: "
                    + failover.map { "\($0.region)\($0.endpoint.map { " at \($0)" } ?? "")" }.joined(
                        separator: ", then ")
                    + " when the primary region cannot answer")
        }
        if let cloudWatch {
            lines.append(
                "metrics: CloudWatch Embedded Metric Format on standard output, namespace \(cloudWatch.namespace), ServiceName \(cloudWatch.serviceName ?? "the ECS task family (else secrets-injector)")"
            )
        }
        if let onChange {
            if let command = onChange.command { lines.append("on change: run \(command.joined(separator: " "))") }
            if let pidFile = onChange.signalPIDFile {
                lines.append("on change: SIG\(onChange.signalName ?? "HUP") to the pid in \(pidFile)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// What `check` warns about, one line each: an interpolation in a dotenv template that no filter
    /// makes safe there (its value is then held to its quotes at every render, and refused when it
    /// would break out of them).
    public var warnings: [String] {
        templates.enumerated().flatMap { index, template in
            template.template.unfilteredInDotenv.map { expression in
                "templates[\(index)] (\(template.file.path)): {{ \(expression.path) }} has no filter for a dotenv file: whoever can write the secret could end its quotes there; add | urlencode (in a URL), | plain (inside quotes) or | dotenv (a whole value)"
            }
        }
    }

    /// The Secrets Manager calls a round makes with the strategy, and what it falls back to.
    var roundCalls: String {
        guard case .secretsManager = source else { return "" }
        let named = secrets.compactMap { spec -> String? in
            guard case .id(let name) = spec.selector, name.parameter == nil, spec.versionID == nil else { return nil }
            return name.name
        }
        guard !named.isEmpty || discovers else { return "" }
        let listing = ListingPlan(names: Array(Set(named)))
        if refresh.strategy == .auto, !discovers, listing.calls > 0, listing.calls < listing.listed.count {
            return
                " (each round: ListSecrets under \(listing.prefixes.joined(separator: ", ")) for \(listing.listed.count) secrets\(listing.described.isEmpty ? "" : ", DescribeSecret for \(listing.described.count)"); DescribeSecret per secret when ListSecrets is denied or throttled, GetSecretValue where DescribeSecret is denied)"
        }
        switch refresh.strategy.resolved(discovers: discovers) {
        case .describe:
            return " (each round: DescribeSecret per secret; GetSecretValue where it is denied)"
        case .list:
            return " (each round: ListSecrets, one per 100 secrets; DescribeSecret per secret when it is denied)"
        default:
            return " (each round: BatchGetSecretValue, one per 20 secrets; GetSecretValue per secret when it is denied)"
        }
    }

    static func describe(_ file: FileSpec) -> String { "\(file.path) \(file.mode) \(describe(file.owner))" }

    static func describe(_ owner: Ownership) -> String {
        "\(owner.uid.map(String.init) ?? "-"):\(owner.gid.map(String.init) ?? "-")"
    }
}
