/// A secret as the configuration names it: a name or a full ARN, and what follows from that
/// without any call (SPEC §4).
public struct SecretName: Sendable, Hashable, CustomStringConvertible {
    /// Exactly as configured: passed to Secrets Manager as `SecretId`.
    public var id: String

    public init(_ id: String) { self.id = id }

    public var isARN: Bool { id.hasPrefix("arn:") }

    /// The secret's name: the id itself, or an ARN's resource part without its `-XXXXXX` suffix.
    public var name: String {
        guard isARN else { return id }
        let parts = id.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false)
        guard parts.count == 7 else { return id }
        let resource = String(parts[6])
        if let dash = resource.lastIndex(of: "-") {
            let suffix = resource[resource.index(after: dash)...]
            if suffix.count == 6, suffix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
                return String(resource[..<dash])
            }
        }
        return resource
    }

    /// The last `/` segment of the name, with characters outside `[A-Za-z0-9_]` replaced by `_`.
    public var defaultAlias: String { Self.alias(forName: name) }

    static func alias(forName name: String) -> String {
        let last = name.split(separator: "/").last.map(String.init) ?? name
        let cleaned = String(
            last.unicodeScalars.map { scalar -> Character in
                scalar.isASCII
                    && (("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
                        || scalar == "_")
                    ? Character(scalar) : "_"
            })
        return cleaned.isEmpty ? "_" : cleaned
    }

    /// Why this id cannot name a secret, or nil. Names: 1–512 of `A–Z a–z 0–9 / _ + = . @ -`;
    /// ARNs: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`.
    public var problem: String? {
        if isARN {
            let parts = id.split(separator: ":", maxSplits: 6, omittingEmptySubsequences: false)
            guard parts.count == 7, parts[0] == "arn", parts[1].hasPrefix("aws"), parts[2] == "secretsmanager",
                !parts[3].isEmpty,
                parts[4].count == 12, parts[4].allSatisfy(\.isNumber), parts[5] == "secret", !parts[6].isEmpty
            else {
                return
                    "\"\(id)\" is not a Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)"
            }
            return nil
        }
        let allowed = id.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
                    || "/_+=.@-".unicodeScalars.contains(scalar))
        }
        if id.isEmpty || id.count > 512 || !allowed {
            return "\"\(id)\" is not a secret name (1–512 of A–Z a–z 0–9 / _ + = . @ -)"
        }
        return nil
    }

    public var description: String { id }
}

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

    /// Parses the syntax the way the ECS agent does: an ARN is its first seven `:` parts.
    public init(parsing text: String) throws(ConfigIssue) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let idParts = text.hasPrefix("arn:") ? 7 : 1
        guard parts.count >= idParts, parts.count <= idParts + 3 else {
            throw ConfigIssue("", "\"\(text)\" is not <name-or-ARN>[:json-key[:version-stage[:version-id]]]")
        }
        let secret = SecretName(parts[0..<idParts].joined(separator: ":"))
        if let problem = secret.problem { throw ConfigIssue("", problem) }
        func part(_ index: Int) -> String? {
            let position = idParts + index
            return position < parts.count && !parts[position].isEmpty ? parts[position] : nil
        }
        self.init(secret: secret, jsonKey: part(0), versionStage: part(1), versionID: part(2))
    }

    public var description: String {
        [secret.id, jsonKey ?? "", versionStage ?? "", versionID ?? ""].joined(separator: ":")
    }
}

extension ConfigIssue: Error {}
