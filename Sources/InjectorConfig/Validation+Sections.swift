import InjectorAgent
import InjectorBase
import InjectorOutputs
import InjectorSources
import SecretsManager

/// The sections that say what is fetched and written: `secrets`, `templates` and `env`.
extension Validation {
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

    mutating func envFile(_ value: JSONValue, at: String) -> EnvSpec? {
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
}
