public import InjectorBase

/// ECS's `valueFrom` for Secrets Manager: `<name-or-ARN>[:json-key[:version-stage[:version-id]]]`.
/// An ARN keeps its own six colons; empty parts mean "not set" (`name:key::`).
public struct ValueFrom: Sendable, Hashable, CustomStringConvertible {
    public var secret: SecretName
    public var jsonKey: String?
    public var versionStage: String?
    public var versionID: String?

    public init(secret: SecretName, jsonKey: String? = nil, versionStage: String? = nil, versionID: String? = nil) {
        self.secret = secret
        self.jsonKey = jsonKey
        self.versionStage = versionStage
        self.versionID = versionID
    }

    /// Parses the syntax the way the ECS agent does: an ARN is its first seven `:` parts. A
    /// Parameter Store reference (``ParameterReference``) is the whole value, as ECS reads it: its
    /// `:` part is a version or label selector, not a JSON key.
    public init(parsing text: String) throws(ConfigIssue) {
        switch ParameterReference.parse(text) {
        case .success?:
            self.init(secret: SecretName(text))
            return
        case .failure(let error)?:
            throw ConfigIssue("", error.description)
        case nil:
            break
        }
        // A secret's ARN is its first seven `:` parts (ARN.secretPrefix); a name has no `:`.
        let id: String
        let rest: [String]
        if let prefix = ARN.secretPrefix(of: text) {
            (id, rest) = prefix
        } else if text.hasPrefix("arn:") {
            (id, rest) = (text, [])
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            (id, rest) = (parts[0], Array(parts.dropFirst()))
        }
        guard rest.count <= 3 else {
            throw ConfigIssue("", "\"\(text)\" is not <name-or-ARN>[:json-key[:version-stage[:version-id]]]")
        }
        let secret = SecretName(id)
        if let problem = secret.problem { throw ConfigIssue("", problem) }
        func part(_ index: Int) -> String? { index < rest.count && !rest[index].isEmpty ? rest[index] : nil }
        self.init(secret: secret, jsonKey: part(0), versionStage: part(1), versionID: part(2))
    }

    public var description: String {
        [secret.id, jsonKey ?? "", versionStage ?? "", versionID ?? ""].joined(separator: ":")
    }
}
