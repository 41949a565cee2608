import InjectorBase

/// A statement that applies to a request: where it is, what makes it conditional, and what makes
/// it broad.
public struct PolicyGrant: Sendable, Hashable {
    /// The document's source (`role/app: inline policy read`).
    public var source: String
    /// The statement's label (`statement "ReadAll"`, `statement 2`).
    public var statement: String
    /// Its conditions as `operator key`; empty when it applies unconditionally.
    public var conditions: [String]
    /// What makes it broad: `action *`, `action secretsmanager:*`, `NotAction`, and in an
    /// identity policy `Resource *`, `NotResource`.
    public var broadness: [String]

    public init(source: String, statement: String, conditions: [String] = [], broadness: [String] = []) {
        self.source = source
        self.statement = statement
        self.conditions = conditions
        self.broadness = broadness
    }

    /// `role/app: inline policy read, statement 1`.
    public var description: String { "\(source), \(statement)" }
}

/// What a set of policies says of one request: the statements that allow it and those that deny
/// it. An unconditional Deny wins over every Allow; a conditional Deny does not cancel an
/// unconditional Allow, but is reported.
public struct PolicyDecision: Sendable, Equatable {
    public var allows: [PolicyGrant] = []
    public var denies: [PolicyGrant] = []

    public init(allows: [PolicyGrant] = [], denies: [PolicyGrant] = []) {
        self.allows = allows
        self.denies = denies
    }

    public var explicitlyDenied: Bool { denies.contains { $0.conditions.isEmpty } }
    /// Some statement allows it (perhaps under a condition), and no unconditional Deny stops it.
    public var allowed: Bool { !explicitlyDenied && !allows.isEmpty }
    /// An unconditional Allow, and no unconditional Deny.
    public var unconditional: Bool { !explicitlyDenied && allows.contains { $0.conditions.isEmpty } }

    static func + (left: PolicyDecision, right: PolicyDecision) -> PolicyDecision {
        PolicyDecision(allows: left.allows + right.allows, denies: left.denies + right.denies)
    }
}

/// IAM's evaluation, as far as the documents go: identity policies for their principal, resource
/// and key policies for the principals they name.
public enum PolicyEvaluator {
    /// `*` any run, `?` one character; actions are compared case-insensitively, ARNs as written.
    public static func glob(_ pattern: String, matches text: String, caseInsensitive: Bool = false) -> Bool {
        let pattern = Array((caseInsensitive ? pattern.lowercased() : pattern).unicodeScalars)
        let text = Array((caseInsensitive ? text.lowercased() : text).unicodeScalars)
        var p = 0
        var t = 0
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                resume = t
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }

    /// The statement's Action (or NotAction) covers `action`.
    static func covers(action: String, _ statement: PolicyStatement) -> Bool {
        let listed = statement.actions.contains { glob($0, matches: action, caseInsensitive: true) }
        return statement.notAction ? !listed : listed
    }

    /// The statement's Resource (or NotResource) covers `resource`; a statement with neither
    /// (a resource policy's) covers its own resource. A pattern with a policy variable
    /// (`${aws:username}`) may match whatever the variable becomes: it is taken to match, and the
    /// grant is conditional on it (``variables(_:resource:)``).
    static func covers(resource: String, _ statement: PolicyStatement) -> Bool {
        guard let resources = statement.resources else { return true }
        let listed = resources.contains { glob(withoutVariables($0), matches: resource) }
        // NotResource with a variable: it may or may not exclude the resource; taken as not excluding.
        let excluded = resources.contains { !$0.contains("${") && glob($0, matches: resource) }
        return statement.notResource ? !excluded : listed
    }

    /// The patterns of `statement` that cover `resource` only through a policy variable, as
    /// conditions (`policy variable ${aws:username} in Resource`).
    static func variables(_ statement: PolicyStatement, resource: String) -> [String] {
        guard let resources = statement.resources, !statement.notResource else {
            return statement.resources?.contains { $0.contains("${") } == true
                ? ["policy variable in NotResource"] : []
        }
        guard !resources.contains(where: { !$0.contains("${") && glob($0, matches: resource) }) else { return [] }
        return resources.filter { $0.contains("${") && glob(withoutVariables($0), matches: resource) }
            .map { "policy variable in Resource \($0)" }
    }

    /// `pattern` with each `${…}` as `*`: what the variable could become.
    static func withoutVariables(_ pattern: String) -> String {
        guard pattern.contains("${") else { return pattern }
        var result = ""
        var rest = Substring(pattern)
        while let open = rest.firstRange(of: "${") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                result += rest[open.lowerBound...]
                return result
            }
            result += "*"
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    static func grant(
        _ statement: PolicyStatement, in document: PolicyDocument, action: String, resource: String,
        principalConditions: [String] = []
    ) -> PolicyGrant {
        var broadness: [String] = []
        let service = action.split(separator: ":").first.map { "\($0.lowercased()):*" } ?? "*"
        if statement.notAction {
            broadness.append("NotAction")
        } else {
            for pattern in statement.actions where pattern == "*" || pattern.lowercased() == service {
                broadness.append("action \(pattern)")
            }
        }
        // In a resource or key policy `Resource: *` is the resource itself: only an identity
        // policy's is broad.
        if statement.principals == nil {
            if statement.notResource {
                broadness.append("NotResource")
            } else if statement.resources?.contains("*") == true {
                broadness.append("Resource *")
            }
        }
        return PolicyGrant(
            source: document.source, statement: statement.label,
            conditions: statement.conditions + variables(statement, resource: resource) + principalConditions,
            broadness: broadness)
    }

    /// What `documents`, a principal's identity policies, say of `action` on `resource`.
    public static func identity(_ documents: [PolicyDocument], action: String, resource: String) -> PolicyDecision {
        var decision = PolicyDecision()
        for document in documents {
            for statement in document.statements
            where covers(action: action, statement) && covers(resource: resource, statement) {
                let grant = grant(statement, in: document, action: action, resource: resource)
                if statement.effect == .allow { decision.allows.append(grant) } else { decision.denies.append(grant) }
            }
        }
        return decision
    }

    /// How a resource or key policy statement names a principal.
    public enum PrincipalMatch: Sendable, Equatable {
        /// By its ARN, or `*`.
        case direct
        /// By its account (`123456789012`, `arn:aws:iam::123456789012:root`): the account's IAM decides.
        case account
        /// By one session of the role (`arn:aws:sts::A:assumed-role/ROLE/SESSION`): only that session.
        case session(String)
    }

    /// Whether `principals` names `principal` (an IAM user or role ARN in `account`), and how;
    /// `principal` may also be `*` (anyone) or an account root. A role is named with or without its
    /// path (role names are unique in an account), or by one of its sessions.
    public static func match(_ principals: PolicyStatement.Principals, principal: String, account: String)
        -> PrincipalMatch?
    {
        switch principals {
        case .anyone: return .direct
        case .named(let aws, _):
            if aws.contains(principal) { return .direct }
            let name = AccessPrincipal.normalize(principal)
            let same = aws.filter { AccessPrincipal.normalize($0) == name }
            if same.contains(where: { ARN($0)?.service != "sts" }) { return .direct }
            if let session = same.first.flatMap(ARN.init) {
                return .session(session.resource.split(separator: "/").dropFirst(2).joined(separator: "/"))
            }
            return aws.contains { roots(of: account).contains($0) } ? .account : nil
        }
    }

    /// The ways a policy names an account as a whole.
    static func roots(of account: String) -> [String] {
        [
            account, "arn:aws:iam::\(account):root", "arn:aws-cn:iam::\(account):root",
            "arn:aws-us-gov:iam::\(account):root",
        ]
    }

    /// Whether `NotPrincipal` lists `principal` itself: only its own ARN (or a session of the
    /// role) excludes it. An account listed there excludes only the account's root, not its users
    /// and roles, as IAM reads it.
    static func excludes(_ principals: PolicyStatement.Principals, principal: String) -> Bool {
        guard case .named(let aws, _) = principals else { return false }
        let name = AccessPrincipal.normalize(principal)
        return aws.contains(principal) || aws.contains { AccessPrincipal.normalize($0) == name }
    }

    /// What a resource or key policy says of `action` on `resource` by `principal` (in `account`):
    /// the statements that name it directly (or `*`), and those that name its account, which only
    /// hand the decision to the account's IAM policies. A Deny that names the account or `*` denies it.
    public static func resource(
        _ document: PolicyDocument, action: String, resource: String, principal: String, account: String
    ) -> (direct: PolicyDecision, account: PolicyDecision) {
        var direct = PolicyDecision()
        var delegated = PolicyDecision()
        for statement in document.statements
        where covers(action: action, statement) && covers(resource: resource, statement) {
            guard let principals = statement.principals else { continue }
            let how: PrincipalMatch?
            if statement.notPrincipal {
                how = excludes(principals, principal: principal) ? nil : .direct
            } else {
                how = match(principals, principal: principal, account: account)
            }
            guard let how else { continue }
            var only: [String] = []
            if case .session(let session) = how { only = ["only its session \(session)"] }
            let grant = grant(statement, in: document, action: action, resource: resource, principalConditions: only)
            switch (statement.effect, how) {
            case (.deny, _): direct.denies.append(grant)
            case (.allow, .direct), (.allow, .session): direct.allows.append(grant)
            case (.allow, .account): delegated.allows.append(grant)
            }
        }
        return (direct, delegated)
    }
}
