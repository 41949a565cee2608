import InjectorBase

/// An ECS task definition as `migrate` reads it (SPEC §10): either form, every value exact.
struct TaskDefinition {
    struct Variable {
        var name: String
        var value: String
    }

    struct Container {
        var name: String
        var environment: [Variable]
        /// `secrets[]`: `(name, valueFrom)`.
        var secrets: [(name: String, valueFrom: String)]
    }

    /// The register form's members, read-only fields dropped.
    var register: [JSONValue.Member]
    var family: String?
    var revision: String?
    var containers: [Container]

    /// What `describe-task-definition` adds and `register-task-definition` refuses.
    static let readOnlyKeys: Set<String> = [
        "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
        "registeredBy", "deregisteredAt",
    ]

    init(bytes: [UInt8], file: String) throws(MigrationInputError) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw MigrationInputError(
                "\(file): line \(Lines(bytes).line(at: error.offset)): not valid JSON: \(error.reason)")
        }
        let definition = document["taskDefinition"] ?? document
        guard case .object(let members) = definition,
            case .array(let containerValues)? = definition["containerDefinitions"]
        else {
            throw MigrationInputError(
                "\(file): not an ECS task definition (no containerDefinitions; register form or {\"taskDefinition\": …})"
            )
        }
        register = members.filter { !Self.readOnlyKeys.contains($0.key) }
        if case .string(let family)? = definition["family"] { self.family = family }
        if case .number(let revision)? = definition["revision"] { self.revision = revision }
        var containers: [Container] = []
        for (index, value) in containerValues.enumerated() {
            let at = "\(file): containerDefinitions[\(index)]"
            guard case .string(let name)? = value["name"] else { throw MigrationInputError("\(at): has no name") }
            if containers.contains(where: { $0.name == name }) {
                throw MigrationInputError("\(at): the container \(name) is named twice")
            }
            var environment: [Variable] = []
            for (position, entry) in (value["environment"].flatMap(Self.elements) ?? []).enumerated() {
                guard case .string(let variable)? = entry["name"] else {
                    throw MigrationInputError("\(at).environment[\(position)]: has no name")
                }
                guard Self.isEnvironmentName(variable) else {
                    throw MigrationInputError(
                        "\(at).environment[\(position)]: \"\(variable)\" is not an environment variable name (A–Z a–z 0–9 _, not starting with a digit)"
                    )
                }
                if environment.contains(where: { $0.name == variable }) {
                    throw MigrationInputError("\(at): \(name) sets \(variable) twice")
                }
                let text: String
                switch entry["value"] {
                case .string(let string)?: text = string
                case nil, .null?: text = ""
                default:
                    throw MigrationInputError("\(at).environment[\(position)]: \(variable)'s value is not a string")
                }
                environment.append(Variable(name: variable, value: text))
            }
            var secrets: [(name: String, valueFrom: String)] = []
            for (position, entry) in (value["secrets"].flatMap(Self.elements) ?? []).enumerated() {
                guard case .string(let variable)? = entry["name"], case .string(let valueFrom)? = entry["valueFrom"]
                else {
                    throw MigrationInputError("\(at).secrets[\(position)]: needs name and valueFrom")
                }
                secrets.append((variable, valueFrom))
            }
            containers.append(Container(name: name, environment: environment, secrets: secrets))
        }
        self.containers = containers
    }

    static func elements(_ value: JSONValue) -> [JSONValue]? {
        if case .array(let elements) = value { return elements }
        return nil
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
    }
}

extension JSONValue {
    /// ``fields(_:)``, leaving out the members whose value is nil.
    static func someFields(_ members: KeyValuePairs<String, JSONValue?>) -> JSONValue {
        .object(members.compactMap { member in member.value.map { Member(key: member.key, value: $0) } })
    }

    /// An object's member replaced or added (at the end).
    func setting(_ key: String, _ value: JSONValue?) -> JSONValue {
        guard case .object(var members) = self else { return self }
        if let index = members.firstIndex(where: { $0.key == key }) {
            if let value { members[index].value = value } else { members.remove(at: index) }
        } else if let value {
            members.append(.init(key: key, value: value))
        }
        return .object(members)
    }

    /// Indented JSON, two spaces, as people read and diff it.
    func pretty(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .object(let members) where !members.isEmpty:
            return "{\n"
                + members.map { inner + JSONValue.quoted($0.key) + ": " + $0.value.pretty(indent: inner) }
                .joined(separator: ",\n") + "\n" + indent + "}"
        case .array(let elements) where !elements.isEmpty:
            return "[\n" + elements.map { inner + $0.pretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent
                + "]"
        default: return serialized
        }
    }
}
