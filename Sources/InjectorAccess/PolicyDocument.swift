import InjectorBase

/// An IAM policy document as the evaluator reads it: identity policies, a secret's resource
/// policy and a KMS key policy share the grammar (`Statement` an object or an array; each field a
/// string or an array of strings).
public struct PolicyDocument: Sendable, Equatable {
    /// Where the document comes from, as the report names it (`role/app: inline policy read`).
    public var source: String
    public var statements: [PolicyStatement]

    public init(source: String, statements: [PolicyStatement]) {
        self.source = source
        self.statements = statements
    }

    /// Why a document could not be read: where, never the document.
    public struct Unreadable: Error, Sendable, CustomStringConvertible {
        public var source: String
        public var reason: String
        public var description: String { "\(source) is not a policy document this review reads (\(reason))" }
    }

    /// `text` (JSON) as a document from `source`.
    public static func parse(_ text: String, source: String) throws(Unreadable) -> PolicyDocument {
        let json: JSONValue
        do {
            json = try JSONValue.parse(text)
        } catch {
            throw Unreadable(source: source, reason: "not JSON: \(error)")
        }
        let statements: [JSONValue]
        switch json["Statement"] {
        case .array(let items)?: statements = items
        case .object?: statements = [json["Statement"]!]
        case nil: statements = []
        default: throw Unreadable(source: source, reason: "Statement is neither an object nor an array")
        }
        var parsed: [PolicyStatement] = []
        for (index, statement) in statements.enumerated() {
            parsed.append(try PolicyStatement(statement, index: index, source: source))
        }
        return PolicyDocument(source: source, statements: parsed)
    }
}

/// One statement: its effect, actions, resources, principals (in a resource or key policy) and
/// conditions.
public struct PolicyStatement: Sendable, Equatable {
    public enum Effect: String, Sendable { case allow = "Allow", deny = "Deny" }

    /// Who a resource or key policy statement names.
    public enum Principals: Sendable, Equatable {
        /// `"*"` or `{"AWS": "*"}`: anyone.
        case anyone
        /// `{"AWS": …}`: account ids, account roots, role and user ARNs. Service and federated
        /// principals are kept apart: they are not IAM users or roles.
        case named(aws: [String], other: [String])
    }

    public var sid: String?
    /// Its place in the document, from 0, for the report when it has no `Sid`.
    public var index: Int
    public var effect: Effect
    /// `Action`'s patterns, or `NotAction`'s when ``notAction``.
    public var actions: [String]
    public var notAction: Bool
    /// `Resource`'s patterns, or `NotResource`'s when ``notResource``; nil when the statement has
    /// neither (a resource policy's statement applies to its own resource).
    public var resources: [String]?
    public var notResource: Bool
    /// nil in an identity policy.
    public var principals: Principals?
    public var notPrincipal: Bool
    /// Each condition as `operator key` (`StringEquals aws:SourceVpce`): its operators and keys,
    /// never its values.
    public var conditions: [String]

    public init(
        sid: String? = nil, index: Int = 0, effect: Effect, actions: [String], notAction: Bool = false,
        resources: [String]? = ["*"], notResource: Bool = false, principals: Principals? = nil,
        notPrincipal: Bool = false, conditions: [String] = []
    ) {
        self.sid = sid
        self.index = index
        self.effect = effect
        self.actions = actions
        self.notAction = notAction
        self.resources = resources
        self.notResource = notResource
        self.principals = principals
        self.notPrincipal = notPrincipal
        self.conditions = conditions
    }

    init(_ json: JSONValue, index: Int, source: String) throws(PolicyDocument.Unreadable) {
        func fail(_ reason: String) -> PolicyDocument.Unreadable {
            PolicyDocument.Unreadable(source: source, reason: "statement \(index + 1): \(reason)")
        }
        func strings(_ key: String) throws(PolicyDocument.Unreadable) -> [String]? {
            switch json[key] {
            case nil: return nil
            case .string(let value)?: return [value]
            case .array(let items)?:
                var out: [String] = []
                for item in items {
                    guard case .string(let value) = item else { throw fail("\(key) holds a non-string") }
                    out.append(value)
                }
                return out
            default: throw fail("\(key) is neither a string nor an array")
            }
        }
        func readPrincipals(_ key: String) throws(PolicyDocument.Unreadable) -> Principals? {
            switch json[key] {
            case nil: return nil
            case .string("*")?: return .anyone
            case .object(let members)?:
                var aws: [String] = []
                var other: [String] = []
                for member in members {
                    let values: [String]
                    switch member.value {
                    case .string(let value): values = [value]
                    case .array(let items): values = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
                    default: throw fail("\(key).\(member.key) is neither a string nor an array")
                    }
                    if member.key == "AWS" { aws += values } else { other += values.map { "\(member.key) \($0)" } }
                }
                return aws.contains("*") ? .anyone : .named(aws: aws, other: other)
            default: throw fail("\(key) is neither \"*\" nor an object")
            }
        }
        guard case .string(let effect)? = json["Effect"], let parsed = Effect(rawValue: effect) else {
            throw fail("Effect is neither Allow nor Deny")
        }
        self.effect = parsed
        self.index = index
        if case .string(let sid)? = json["Sid"], !sid.isEmpty { self.sid = sid }
        if let actions = try strings("Action") {
            self.actions = actions
            notAction = false
        } else if let actions = try strings("NotAction") {
            self.actions = actions
            notAction = true
        } else {
            throw fail("no Action nor NotAction")
        }
        if let resources = try strings("Resource") {
            self.resources = resources
            notResource = false
        } else if let resources = try strings("NotResource") {
            self.resources = resources
            notResource = true
        } else {
            resources = nil
            notResource = false
        }
        if let named = try readPrincipals("Principal") {
            principals = named
            notPrincipal = false
        } else {
            principals = try readPrincipals("NotPrincipal")
            notPrincipal = principals != nil
        }
        conditions = []
        if case .object(let operators)? = json["Condition"] {
            for op in operators {
                let keys = op.value.keys
                conditions += keys.isEmpty ? [op.key] : keys.map { "\(op.key) \($0)" }
            }
        }
    }

    /// How the report names it: `Sid` or its number.
    public var label: String { sid.map { "statement \"\($0)\"" } ?? "statement \(index + 1)" }
}
