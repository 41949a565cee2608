/// A secret as the configuration names it: a name or a full ARN, and what follows from that
/// without any call.
public struct SecretName: Sendable, Hashable, CustomStringConvertible {
    /// Exactly as configured: passed to Secrets Manager as `SecretId`.
    public var id: String

    public init(_ id: String) { self.id = id }

    public var isARN: Bool { id.hasPrefix("arn:") }

    /// The Parameter Store parameter this id names, in one of ECS's forms (``ParameterReference``),
    /// or nil: a Secrets Manager secret (or no valid parameter).
    public var parameter: ParameterReference? {
        if case .success(let reference)? = ParameterReference.parse(id) { reference } else { nil }
    }

    /// The secret's name: the id itself, or an ARN's resource part without its `-XXXXXX` suffix; a
    /// parameter's name without its leading slash (a relative file name, the default alias).
    public var name: String {
        if let parameter {
            return parameter.name.hasPrefix("/") ? String(parameter.name.dropFirst()) : parameter.name
        }
        guard let arn = ARN(id), arn.resource.hasPrefix("secret:") else { return id }
        let resource = arn.resource.dropFirst("secret:".count)
        return String(Self.withoutRandomSuffix(resource) ?? resource)
    }

    /// Secrets Manager's one ARN rule: a secret's ARN ends in `-` and six random letters or digits
    /// after its name. `text` without that suffix, or nil when it has none.
    public static func withoutRandomSuffix(_ text: Substring) -> Substring? {
        let utf8 = text.utf8
        guard utf8.count > 7 else { return nil }
        let dash = utf8.index(utf8.endIndex, offsetBy: -7)
        guard utf8[dash] == UInt8(ascii: "-"),
            utf8[utf8.index(after: dash)...].allSatisfy({
                (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
            })
        else { return nil }
        return text[..<dash]
    }

    /// Whether `id` names the secret whose full ARN is `arn`: that ARN, or an ARN without its
    /// random suffix (a name is matched by the caller against the secret's name).
    public static func names(_ id: String, arn: String) -> Bool {
        id == arn || (id.hasPrefix("arn:") && withoutRandomSuffix(Substring(arn)).map { $0 == id } ?? false)
    }

    /// The last `/` segment of the name, with characters outside `[A-Za-z0-9_]` replaced by `_`.
    public var defaultAlias: String { Self.alias(forName: name) }

    package static func alias(forName name: String) -> String {
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
    /// ARNs: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`; or a Parameter Store
    /// reference (``ParameterReference``).
    public var problem: String? {
        if case .failure(let error)? = ParameterReference.parse(id) { return error.description }
        if ParameterReference.parse(id) != nil { return nil }
        if isARN {
            guard let arn = ARN(id), arn.partition.hasPrefix("aws"), arn.service == "secretsmanager",
                !arn.region.isEmpty, ARN.isAccountID(arn.account), arn.resource.hasPrefix("secret:"),
                arn.resource.count > "secret:".count, !arn.resource.dropFirst("secret:".count).contains(":")
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
