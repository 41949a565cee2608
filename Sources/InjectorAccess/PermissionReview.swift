import InjectorBase
public import SecretsManager

/// The account's IAM principals as the evaluator needs them: each user's and role's identity
/// policies parsed (inline, attached managed at their default version, and for a user its groups'
/// inline and attached ones), and its permissions boundary noted.
public struct IAMAccount: Sendable {
    public struct Principal: Sendable {
        public var arn: String
        public var documents: [PolicyDocument]
        public var permissionsBoundary: String?

        public init(arn: String, documents: [PolicyDocument], permissionsBoundary: String? = nil) {
            self.arn = arn
            self.documents = documents
            self.permissionsBoundary = permissionsBoundary
        }
    }

    public var principals: [Principal]
    /// Documents that could not be read, said as ``PolicyDocument/Unreadable`` says them.
    public var unreadable: [String]

    public init(principals: [Principal], unreadable: [String] = []) {
        self.principals = principals
        self.unreadable = unreadable
    }

    public init(_ details: AccountAuthorizationDetails) {
        var unreadable: [String] = []
        func parse(_ text: String, _ source: String) -> PolicyDocument? {
            do {
                return try PolicyDocument.parse(text, source: source)
            } catch {
                unreadable.append(error.description)
                return nil
            }
        }
        func documents(_ entity: AccountAuthorizationDetails.Entity) -> [PolicyDocument] {
            let owner = "\(entity.kind.rawValue) \(entity.name)"
            var out = entity.inlinePolicies.compactMap { parse($0.document, "\(owner): inline policy \($0.name)") }
            for arn in entity.attachedPolicyARNs {
                guard let text = details.managedPolicies[arn] else {
                    unreadable.append("\(owner): managed policy \(arn) is not in the account's details")
                    continue
                }
                if let document = parse(text, "\(owner): managed policy \(arn)") { out.append(document) }
            }
            return out
        }
        let groups = Dictionary(details.groups.map { ($0.name, documents($0)) }) { first, _ in first }
        var principals: [Principal] = []
        for user in details.users {
            let inherited = user.groups.flatMap { name in
                (groups[name] ?? []).map {
                    PolicyDocument(source: "user \(user.name) via \($0.source)", statements: $0.statements)
                }
            }
            principals.append(
                Principal(
                    arn: user.arn, documents: documents(user) + inherited, permissionsBoundary: user.permissionsBoundary
                ))
        }
        for role in details.roles {
            principals.append(
                Principal(arn: role.arn, documents: documents(role), permissionsBoundary: role.permissionsBoundary))
        }
        self.principals = principals
        self.unreadable = unreadable
    }
}

/// One secret as `review permissions` reads it: its ARN, its key, its resource policy.
public struct SecretPolicies: Sendable {
    public enum Key: Sendable {
        /// `aws/secretsmanager` (no `KmsKeyId`, or a key whose manager is AWS): its policy, AWS's
        /// own, lets the account's principals decrypt through Secrets Manager, and no other account.
        case awsManaged(String?)
        /// A customer managed key: its ARN and its key policy.
        case customerManaged(arn: String, policy: PolicyDocument)
    }

    public var id: String
    public var arn: String
    public var key: Key
    public var resourcePolicy: PolicyDocument?

    public init(id: String, arn: String, key: Key, resourcePolicy: PolicyDocument?) {
        self.id = id
        self.arn = arn
        self.key = key
        self.resourcePolicy = resourcePolicy
    }
}

/// Who can read one secret, and what in that needs a look. Never a value: the review reads none.
public struct SecretPermissions: Sendable, Equatable {
    public struct Reader: Sendable, Equatable {
        /// A user or role ARN, an account root, or `*`.
        public var principal: String
        public var expected: Bool
        /// Conditions the read depends on (`operator key`); empty when it is unconditional.
        public var conditions: [String]
        /// The statements that let it read (Secrets Manager's, then KMS's).
        public var through: [String]
    }

    public var id: String
    public var arn: String
    /// The key's ARN, or `aws/secretsmanager`.
    public var kmsKey: String
    public var customerManagedKey: Bool
    public var hasResourcePolicy: Bool
    public var readers: [Reader] = []
    /// What is not a finding but limits what the review can say.
    public var notes: [String] = []
    public var findings: [String] = []
}

/// `review permissions`' evaluation: who can call `secretsmanager:GetSecretValue` on the secret
/// (`BatchGetSecretValue` needs it too) and decrypt with its key.
public enum PermissionReview {
    static let read = "secretsmanager:GetSecretValue"
    static let decrypt = "kms:Decrypt"
    /// What this review does not evaluate, and what settles it.
    public static let outOfScope =
        "not evaluated: SCPs and RCPs (AWS Organizations), permissions boundaries, session policies, KMS grants (kms:ListGrants) and the AWS managed key's own policy; iam:SimulatePrincipalPolicy per principal, or IAM Access Analyzer, settles them"

    public static func review(_ secret: SecretPolicies, account: IAMAccount, expected: Set<String>)
        -> SecretPermissions
    {
        let owner = ARN(secret.arn)?.account ?? ""
        var result = SecretPermissions(
            id: secret.id, arn: secret.arn, kmsKey: "aws/secretsmanager", customerManagedKey: false,
            hasResourcePolicy: secret.resourcePolicy.map { !$0.statements.isEmpty } ?? false)
        var keyARN = ""
        var keyPolicy: PolicyDocument?
        switch secret.key {
        case .awsManaged(let arn):
            result.kmsKey = arn ?? "aws/secretsmanager"
        case .customerManaged(let arn, let policy):
            result.kmsKey = arn
            result.customerManagedKey = true
            keyARN = arn
            keyPolicy = policy
        }
        var broad: [String] = []
        func noteBroad(_ grants: [PolicyGrant], _ principal: String) {
            for grant in grants where !grant.broadness.isEmpty {
                let text =
                    "a broad grant reaches it: \(grant.description) allows \(read) by \(grant.broadness.joined(separator: ", ")) (\(principal))"
                if !broad.contains(where: { $0.hasPrefix("a broad grant reaches it: \(grant.description) ") }) {
                    broad.append(text)
                }
            }
        }
        func conditionsOf(_ decision: PolicyDecision) -> [String] {
            decision.unconditional ? [] : Array(Set(decision.allows.flatMap(\.conditions))).sorted()
        }

        // The account's own users and roles: identity and resource grants together (same account).
        var secretsManagerReaders: Set<String> = []
        for principal in account.principals {
            let identity = PolicyEvaluator.identity(principal.documents, action: read, resource: secret.arn)
            let resource = secret.resourcePolicy.map {
                PolicyEvaluator.resource(
                    $0, action: read, resource: secret.arn, principal: principal.arn, account: owner)
            }
            let secretsManager = identity + (resource?.direct ?? PolicyDecision())
            if secretsManager.allowed { secretsManagerReaders.insert(principal.arn) }
            let key = decryption(
                keyPolicy, keyARN: keyARN, principal: principal.arn, account: owner, identity: principal.documents)
            if let key, key.decision.allowed, !secretsManager.allowed, let keyPolicy {
                let statements = key.decision.allows.filter { $0.source == keyPolicy.source }.map(\.statement)
                result.findings.append(
                    "the KMS key's policy lets \(principal.arn) decrypt (\(statements.joined(separator: ", "))\(key.viaAccount ? " and its IAM policies" : "")), but it cannot read the secret through Secrets Manager: the key admits more than the secret"
                )
            }
            for deny in secretsManager.denies where !deny.conditions.isEmpty && secretsManager.allowed {
                result.notes.append(
                    "\(principal.arn): a conditional Deny (\(deny.conditions.joined(separator: ", "))) in \(deny.description) may stop its read"
                )
            }
            if secretsManager.allowed, let key, !key.decision.allowed {
                result.notes.append(
                    "\(principal.arn) may call \(read), but the key's policy does not let it decrypt: only a KMS grant could (grants are not read here)"
                )
            }
            guard secretsManager.allowed, key.map({ $0.decision.allowed }) ?? true else { continue }
            noteBroad(secretsManager.allows, principal.arn)
            let conditions = Array(Set(conditionsOf(secretsManager) + (key.map { conditionsOf($0.decision) } ?? [])))
                .sorted()
            result.readers.append(
                SecretPermissions.Reader(
                    principal: principal.arn, expected: expected.contains(AccessPrincipal.normalize(principal.arn)),
                    conditions: conditions,
                    through: uniqued(
                        secretsManager.allows.map(\.description) + (key?.decision.allows.map(\.description) ?? []))))
            if let boundary = principal.permissionsBoundary {
                result.notes.append(
                    "\(principal.arn) has a permissions boundary (\(boundary)), not evaluated: it may cap this read")
            }
        }

        // Whom the resource policy admits beyond the account's users and roles: another account, or anyone.
        let known = Set(account.principals.map(\.arn))
        var admitted: [String] = []
        for statement in secret.resourcePolicy?.statements ?? [] where statement.effect == .allow {
            if statement.notPrincipal {
                // Allow with NotPrincipal admits every principal of every account but those listed.
                admitted.append("*")
                result.findings.append(
                    "the resource policy admits everyone except the principals it lists (Allow with NotPrincipal) in \(statement.label)"
                )
                continue
            }
            switch statement.principals {
            case .anyone?:
                admitted.append("*")
                result.findings.append(
                    "the resource policy admits anyone (*) in \(statement.label)"
                        + (statement.conditions.isEmpty
                            ? "" : " (conditional: \(statement.conditions.joined(separator: ", ")))"))
            case .named(let aws, _)?:
                for principal in aws where !known.contains(principal) {
                    let other = accountOf(principal)
                    guard other != owner else { continue }
                    admitted.append(principal)
                    result.findings.append(
                        "the resource policy admits another account (\(other)): \(principal) in \(statement.label)")
                }
            case nil: break
            }
        }
        for principal in uniqued(admitted) {
            let other = principal == "*" ? owner : accountOf(principal)
            guard let policy = secret.resourcePolicy else { continue }
            let resource = PolicyEvaluator.resource(
                policy, action: read, resource: secret.arn, principal: principal, account: other)
            let grants = resource.direct + resource.account
            guard grants.allowed, !resource.direct.explicitlyDenied else { continue }
            var conditions = conditionsOf(grants)
            var through = grants.allows.map(\.description)
            if let keyPolicy {
                let key = PolicyEvaluator.resource(
                    keyPolicy, action: decrypt, resource: keyARN, principal: principal, account: other)
                let decryption = key.direct + key.account
                guard decryption.allowed, !key.direct.explicitlyDenied else { continue }
                conditions += conditionsOf(decryption)
                through += decryption.allows.map(\.description)
            } else if principal != "*" {
                continue  // the AWS managed key serves no other account
            }
            noteBroad(grants.allows, principal)
            result.readers.append(
                SecretPermissions.Reader(
                    principal: principal, expected: expected.contains(AccessPrincipal.normalize(principal)),
                    conditions: Array(Set(conditions)).sorted(), through: uniqued(through)))
            result.notes.append(
                principal == "*"
                    ? "* reads through the resource policy: in this account anyone, in another account whoever its own IAM policies allow"
                        + (keyPolicy == nil ? " (not with the AWS managed key)" : "")
                    : "\(principal) is in another account: it reads only if its own account's IAM policies allow it too (not seen from here)"
            )
        }

        // The key beyond the secret: anyone, or a principal the secret's grants do not admit.
        if let keyPolicy {
            for statement in keyPolicy.statements where statement.effect == .allow {
                guard PolicyEvaluator.covers(action: decrypt, statement),
                    PolicyEvaluator.covers(resource: keyARN, statement)
                else { continue }
                if statement.notPrincipal {
                    result.findings.append(
                        "the KMS key's policy lets everyone but the principals it lists decrypt (Allow with NotPrincipal) in \(statement.label)"
                    )
                    continue
                }
                switch statement.principals {
                case .anyone?:
                    result.findings.append(
                        "the KMS key's policy lets anyone (*) decrypt in \(statement.label)"
                            + (statement.conditions.isEmpty
                                ? "" : " (conditional: \(statement.conditions.joined(separator: ", ")))"))
                case .named(let aws, _)?:
                    for principal in aws where !known.contains(principal) && accountOf(principal) != owner {
                        if admitted.contains(principal) || admitted.contains("*") { continue }
                        result.findings.append(
                            "the KMS key's policy lets \(principal) decrypt in \(statement.label), which the secret's own grants do not admit"
                        )
                    }
                case nil: break
                }
            }
        }

        for reader in result.readers where !reader.expected {
            result.findings.append(
                "\(reader.principal) can read it and is not an expected principal"
                    + (reader.conditions.isEmpty ? "" : " (conditional: \(reader.conditions.joined(separator: ", ")))"))
        }
        result.findings += broad
        // A document this review cannot read may grant the read: each is a finding, not a note.
        result.findings += account.unreadable.map { "\($0): its grants are not evaluated" }
        result.readers.sort { $0.principal < $1.principal }
        return result
    }

    /// Whether `principal` may use the customer managed key to decrypt: its key policy names it
    /// (or `*`), or names its account and its identity policies allow `kms:Decrypt` on the key; an
    /// unconditional Deny in either stops it. nil for the AWS managed key (in-account use through
    /// Secrets Manager is always allowed).
    static func decryption(
        _ keyPolicy: PolicyDocument?, keyARN: String, principal: String, account: String,
        identity: [PolicyDocument]
    ) -> (decision: PolicyDecision, viaAccount: Bool)? {
        guard let keyPolicy else { return nil }
        let key = PolicyEvaluator.resource(
            keyPolicy, action: decrypt, resource: keyARN, principal: principal, account: account)
        let own = PolicyEvaluator.identity(identity, action: decrypt, resource: keyARN)
        var decision = key.direct
        decision.denies += own.denies
        var viaAccount = false
        if !key.account.allows.isEmpty, !own.allows.isEmpty {
            // The key policy hands the decision to IAM, and IAM allows it.
            decision.allows += key.account.allows + own.allows
            viaAccount = true
        }
        return (decision, viaAccount)
    }

    /// The account in a principal: an id, a root or an ARN's account field.
    static func accountOf(_ principal: String) -> String {
        if principal.count == 12, principal.allSatisfy(\.isNumber) { return principal }
        return ARN(principal)?.account ?? principal
    }

    static func uniqued(_ items: [String]) -> [String] {
        var seen: Set<String> = []
        return items.filter { seen.insert($0).inserted }
    }
}
