import InjectorBase

/// An ECS task definition as `migrate` reads it: either form, every value exact.
struct TaskDefinition {
    struct Variable {
        var name: String
        var value: String
    }

    struct Container {
        var name: String
        var image: String?
        /// The group of its `user` (`uid:gid`, numbers), when it names one the injector can give.
        var group: Int?
        var environment: [Variable]
        /// `secrets[]`: `(name, valueFrom)`.
        var secrets: [(name: String, valueFrom: String)]
    }

    /// The register form's members, read-only fields dropped.
    var register: [JSONValue.Member]
    var family: String?
    var revision: String?
    /// `taskDefinitionArn`, which describe-task-definition gives (not registered again).
    var arn: String?
    var containers: [Container]

    /// What `describe-task-definition` adds and `register-task-definition` refuses.
    static let readOnlyKeys: Set<String> = [
        "taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities", "registeredAt",
        "registeredBy", "deregisteredAt",
    ]

    init(bytes: [UInt8], file: String) throws(InputError) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            let text = String(decoding: bytes.prefix(1 << 16), as: UTF8.self)
            if text.contains("AWSTemplateFormatVersion") || text.contains("AWS::ECS::TaskDefinition") {
                throw Self.cloudFormation(file)
            }
            throw InputError(
                "\(file): line \(Lines(bytes).line(at: error.offset)): not valid JSON: \(error.reason)")
        }
        if let key = document.repeatedKey {
            throw InputError(
                "\(file): an object repeats the key \"\(key)\", and JSON readers disagree on which one counts: keep one"
            )
        }
        let definition = document["taskDefinition"] ?? document
        guard case .object(let members) = definition,
            case .array(let containerValues)? = definition["containerDefinitions"]
        else {
            if document["Resources"] != nil || document["AWSTemplateFormatVersion"] != nil {
                throw Self.cloudFormation(file)
            }
            throw InputError(
                "\(file): not an ECS task definition (no containerDefinitions; register form or {\"taskDefinition\": …})"
            )
        }
        // The console's JSON export keeps null members (proxyConfiguration, inferenceAccelerators…),
        // which RegisterTaskDefinition refuses.
        register = members.filter { !Self.readOnlyKeys.contains($0.key) && $0.value != .null }
            .map { JSONValue.Member(key: $0.key, value: $0.value.droppingNulls) }
        if case .string(let family)? = definition["family"] { self.family = family }
        if case .number(let revision)? = definition["revision"] { self.revision = revision }
        if case .string(let arn)? = definition["taskDefinitionArn"] { self.arn = arn }
        var containers: [Container] = []
        for (index, value) in containerValues.enumerated() {
            let at = "\(file): containerDefinitions[\(index)]"
            guard case .string(let name)? = value["name"] else { throw InputError("\(at): has no name") }
            // ECS's rule; the name becomes a folder and an alias part, so nothing else may pass.
            guard (1...255).contains(name.utf8.count),
                name.utf8.allSatisfy({
                    ("a"..."z").contains(Unicode.Scalar($0)) || ("A"..."Z").contains(Unicode.Scalar($0))
                        || ("0"..."9").contains(Unicode.Scalar($0)) || $0 == UInt8(ascii: "_")
                        || $0 == UInt8(ascii: "-")
                })
            else {
                throw InputError(
                    "\(at): the container name \"\(name)\" is not one ECS takes (1 to 255 of A–Z a–z 0–9 _ -)")
            }
            if containers.contains(where: { $0.name == name }) {
                throw InputError("\(at): the container \(name) is named twice")
            }
            var environment: [Variable] = []
            for (position, entry) in (value["environment"].flatMap(Self.elements) ?? []).enumerated() {
                guard case .string(let variable)? = entry["name"] else {
                    throw InputError("\(at).environment[\(position)]: has no name")
                }
                guard Self.isEnvironmentName(variable) else {
                    throw InputError(
                        "\(at).environment[\(position)]: \"\(variable)\" is not an environment variable name (A–Z a–z 0–9 _, not starting with a digit)"
                    )
                }
                if environment.contains(where: { $0.name == variable }) {
                    throw InputError("\(at): \(name) sets \(variable) twice")
                }
                let text: String
                switch entry["value"] {
                case .string(let string)?: text = string
                case nil, .null?: text = ""
                default:
                    throw InputError("\(at).environment[\(position)]: \(variable)'s value is not a string")
                }
                environment.append(Variable(name: variable, value: text))
            }
            var secrets: [(name: String, valueFrom: String)] = []
            for (position, entry) in (value["secrets"].flatMap(Self.elements) ?? []).enumerated() {
                guard case .string(let variable)? = entry["name"], case .string(let valueFrom)? = entry["valueFrom"]
                else {
                    throw InputError("\(at).secrets[\(position)]: needs name and valueFrom")
                }
                guard Self.isEnvironmentName(variable) else {
                    throw InputError(
                        "\(at).secrets[\(position)]: \"\(variable)\" is not an environment variable name (A–Z a–z 0–9 _, not starting with a digit)"
                    )
                }
                secrets.append((variable, valueFrom))
            }
            var image: String?
            if case .string(let text)? = value["image"] { image = text }
            var group: Int?
            if case .string(let user)? = value["user"] {
                let parts = user.split(separator: ":", omittingEmptySubsequences: false)
                if parts.count == 2, let number = Int(parts[1]), (0..<2_147_483_647).contains(number) { group = number }
            }
            containers.append(
                Container(name: name, image: image, group: group, environment: environment, secrets: secrets))
        }
        self.containers = containers
    }

    /// `migrate` reads the task definition ECS registers, not the template that declares one.
    static func cloudFormation(_ file: String) -> InputError {
        InputError(
            "\(file): a CloudFormation template; migrate reads an ECS task definition in JSON: deploy the stack, then give it `aws ecs describe-task-definition --task-definition FAMILY` (and carry the changes back into the template's ContainerDefinitions by hand), or find the template's secrets with `secrets-injector scan`"
        )
    }

    /// The region the task definition names: its ARN's, a container's `awslogs-region`, or a
    /// secret's ARN's; nil when none does.
    var region: String? {
        let object = JSONValue.object(register)
        var candidates: [String] = arn.map { [$0] } ?? []
        if case .array(let containers)? = object["containerDefinitions"] {
            for container in containers {
                if case .string(let region)? = container["logConfiguration"]?["options"]?["awslogs-region"] {
                    return region
                }
            }
        }
        candidates += containers.flatMap { $0.secrets.map(\.valueFrom) }
        for text in candidates {
            if let arn = ARN(text), !arn.region.isEmpty { return arn.region }
        }
        return nil
    }

    /// The ARNs in the task definition that cannot be real (`ACCOUNT_ID`, `REGION`,
    /// `region:account`): each with why, for one line that names them all.
    var placeholderARNs: [String] {
        let object = JSONValue.object(register)
        var named: [(String, String)] = []
        for key in ["taskRoleArn", "executionRoleArn"] {
            if case .string(let arn)? = object[key] { named.append((key, arn)) }
        }
        for container in containers {
            for secret in container.secrets where secret.valueFrom.hasPrefix("arn:") {
                named.append(("\(container.name) secrets \(secret.name)", secret.valueFrom))
            }
        }
        if case .array(let containers)? = object["containerDefinitions"] {
            for container in containers {
                if case .string(let region)? = container["logConfiguration"]?["options"]?["awslogs-region"],
                    !KnownRegions.all.contains(region)
                {
                    named.append(("awslogs-region", region))
                }
            }
        }
        return named.compactMap { place, text in
            guard text.hasPrefix("arn:") else { return "\(place) \"\(text)\" is not an AWS region" }
            guard let arn = ARN(text), ["aws", "aws-cn", "aws-us-gov"].contains(arn.partition) else {
                return "\(place) \"\(text)\" is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE)"
            }
            if !arn.region.isEmpty, !KnownRegions.all.contains(arn.region) {
                return "\(place) \"\(text)\": \"\(arn.region)\" is not an AWS region"
            }
            if !arn.account.isEmpty, !ARN.isAccountID(arn.account) {
                return "\(place) \"\(text)\": \"\(arn.account)\" is not an account id (12 digits)"
            }
            return nil
        }
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

/// The regions of AWS's public partitions, as botocore's `endpoints.json` lists them
/// (`KnownRegionsTests` compares): `migrate` refuses a region that is not one.
public enum KnownRegions {
    public static let all: Set<String> = [
        "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
        "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
        "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
        "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
        "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
        "cn-north-1", "cn-northwest-1", "us-gov-east-1", "us-gov-west-1",
    ]

}

extension JSONValue {
    /// A key some object holds twice, at any depth, or nil.
    var repeatedKey: String? {
        switch self {
        case .object(let members):
            var seen: Set<String> = []
            for member in members {
                if !seen.insert(member.key).inserted { return member.key }
                if let key = member.value.repeatedKey { return key }
            }
            return nil
        case .array(let elements): return elements.lazy.compactMap(\.repeatedKey).first
        default: return nil
        }
    }

    /// The value with every null object member left out, at any depth.
    var droppingNulls: JSONValue {
        switch self {
        case .object(let members):
            return .object(
                members.filter { $0.value != .null }.map { .init(key: $0.key, value: $0.value.droppingNulls) })
        case .array(let elements): return .array(elements.map(\.droppingNulls))
        default: return self
        }
    }

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
