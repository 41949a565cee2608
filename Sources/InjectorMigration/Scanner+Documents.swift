import AWSSigning
import InjectorBase
import InjectorOutputs

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension Scanner {
    /// A JSON template's text with each `${…}` outside a string (Terraform's `"cpu": ${cpu}`) read
    /// as `0`, its line ends kept, so that it parses with every value on its own line.
    static func withoutTemplateExpressions(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    out += [byte, bytes[index + 1]]
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "$"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{") {
                // Each search starts past the last expression; with no `}` left the rest is copied as
                // it is (and will not parse), so no byte is searched twice.
                guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "}")) else {
                    return out + bytes[index...]
                }
                out.append(UInt8(ascii: "0"))
                out += bytes[index...close].filter { $0 == 0x0A }
                index = close + 1
                continue
            }
            out.append(byte)
            index += 1
        }
        return out
    }

    /// What a file named on the command line holds, when its name does not say: JSON when it
    /// starts with `{` or `[`; a Dockerfile when its first instruction is `FROM` or `ARG`; dotenv
    /// when every line is a binding; else YAML.
    static func kind(ofContent bytes: [UInt8], text: String) -> Kind {
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") { return .json }
        if Dockerfile.looksLikeOne(text) { return .dockerfile }
        let dotenv = Dotenv.parse(text)
        if dotenv.unparsedLines.isEmpty, dotenv.bindings.contains(where: { $0.value != nil }) { return .dotenv }
        return .yaml
    }

    /// A dotenv file's bindings; its first line that python-dotenv could not parse is a note (a
    /// scanner that skipped it silently could miss a secret).
    mutating func readDotenv(_ text: String, file: String, container: String?) {
        let parsed = Dotenv.parse(text)
        if let line = parsed.unparsedLines.first {
            let more = parsed.unparsedLines.count - 1
            notes.append(
                ScanNote(
                    file: file, line: line,
                    reason: "not a dotenv line (NAME=value)\(more > 0 ? ", nor are \(more) more" : ""): not read"))
        }
        for binding in parsed.bindings {
            guard let value = binding.value else { continue }
            candidates.append(
                Candidate(
                    file: file, line: binding.line, container: container, name: binding.name, value: value,
                    context: .interpolated))
        }
    }

    /// Reads every document we recognise, and says whether there was one.
    mutating func readDocuments(_ documents: [Located], path: String, context: ValueContext) -> Bool {
        let file = display(path)
        var recognised = false
        for document in documents {
            if let definition = TaskDefinitionShape.containers(in: document) {
                recognised = true
                for container in definition {
                    for entry in container.node["environment"]?.elements ?? [] {
                        add(
                            entry, nameKey: "name", valueKey: "value", container: container.name, file: file,
                            context: context)
                    }
                }
            }
            if let resources = document["Resources"], case .mapping = resources {
                var hasTask = false
                for (_, resource) in resources.members where resource["Type"]?.literal == "AWS::ECS::TaskDefinition" {
                    hasTask = true
                    for container in resource["Properties"]?["ContainerDefinitions"]?.elements ?? [] {
                        for entry in container["Environment"]?.elements ?? [] {
                            add(
                                entry, nameKey: "Name", valueKey: "Value", container: container["Name"]?.literal,
                                file: file, context: context)
                        }
                    }
                }
                if hasTask {
                    recognised = true
                    // A parameter's default is a literal in the template (`DbPassword: {Default: …}`).
                    for (name, parameter) in document["Parameters"]?.members ?? [] {
                        guard let value = parameter["Default"], let text = value.literal else { continue }
                        candidates.append(
                            Candidate(
                                file: file, line: value.line, container: nil, name: name, value: text, context: context)
                        )
                    }
                }
            }
            if let services = ComposeShape.services(in: document) {
                recognised = true
                readCompose(services, path: path, file: file)
            }
        }
        return recognised
    }

    mutating func add(
        _ entry: Located, nameKey: String, valueKey: String, container: String?, file: String, context: ValueContext
    ) {
        guard let name = entry[nameKey]?.literal, let valueNode = entry[valueKey], let value = valueNode.literal else {
            return
        }
        candidates.append(
            Candidate(
                file: file, line: valueNode.line, container: container, name: name, value: value, context: context))
    }

    /// `services.*.environment` (map or list) and the `env_file`s each service names, relative to
    /// the Compose file. An `env_file` that does not exist holds nothing in plain sight here; one
    /// outside the scanned folders, or behind a link, is a finding of its own, not read.
    mutating func readCompose(_ services: Located, path: String, file: String) {
        let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        for (service, definition) in services.members {
            switch definition["environment"] {
            case .mapping(let members, _)?:
                for (name, value) in members {
                    guard let text = value.literal else { continue }
                    candidates.append(
                        Candidate(
                            file: file, line: value.line, container: service, name: name, value: text,
                            context: .interpolated))
                }
            case .sequence(let elements, _)?:
                for element in elements {
                    guard let item = element.literal, let equals = item.firstIndex(of: "=") else { continue }
                    candidates.append(
                        Candidate(
                            file: file, line: element.line, container: service, name: String(item[..<equals]),
                            value: String(item[item.index(after: equals)...]), context: .interpolated))
                }
            default: break
            }
            var envFiles: [(path: String, line: Int)] = []
            switch definition["env_file"] {
            case .scalar(let text, let line, true)?: envFiles.append((text, line))
            case .sequence(let elements, _)?:
                for element in elements {
                    if let text = element.literal ?? element["path"]?.literal { envFiles.append((text, element.line)) }
                }
            default: break
            }
            for envFile in envFiles {
                do throws(ScanNote) {
                    switch try place(ofEnvFile: envFile.path, folder: folder) {
                    case .missing: continue
                    case .outside:
                        // Reported, never read: the walk follows no link and leaves no scanned folder.
                        candidates.append(
                            Candidate(
                                file: file, line: envFile.line, container: service, name: "env_file",
                                value: envFile.path, context: .literal, rule: .envFileOutside))
                    case .inside(let full):
                        let shown = display(full)
                        let (_, text) = try self.text(of: full)
                        candidates.removeAll { $0.file == shown && $0.container == nil }
                        notes.removeAll { $0.file == shown }
                        envFilesRead.insert(shown)
                        readDotenv(text, file: shown, container: service)
                    }
                } catch {
                    notes.append(error)
                }
            }
        }
    }
}

/// A task definition (register or describe form), and a bare array of container definitions (what
/// Terraform's `container_definitions = file(…)` reads): every element a mapping with an `image`.
enum TaskDefinitionShape {
    static func containers(in document: Located) -> [(name: String?, node: Located)]? {
        let definition = document["taskDefinition"] ?? document
        if case .sequence(let containers, _)? = definition["containerDefinitions"] {
            return containers.map { ($0["name"]?.literal, $0) }
        }
        guard case .sequence(let containers, _) = document, !containers.isEmpty,
            containers.allSatisfy({ $0["image"] != nil })
        else { return nil }
        return containers.map { ($0["name"]?.literal, $0) }
    }
}

/// A Compose file's services: `services:` (the Compose specification, v2 and v3), or the v1 format's
/// top level, where every key is a service with an `image`, a `build` or an `extends`.
enum ComposeShape {
    static func services(in document: Located) -> Located? {
        if let services = document["services"], case .mapping = services { return services }
        guard case .mapping(let members, _) = document, !members.isEmpty,
            members.allSatisfy({ $0.value["image"] != nil || $0.value["build"] != nil || $0.value["extends"] != nil })
        else { return nil }
        return document
    }
}
