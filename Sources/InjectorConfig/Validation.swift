import InjectorAgent
import InjectorBase
import InjectorOutputs
import InjectorSources
import SecretsManager

/// One reading of a configuration document, section by section, every issue collected in `reader`.
struct Validation {
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
        config.exec = exec(root["exec"])
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
