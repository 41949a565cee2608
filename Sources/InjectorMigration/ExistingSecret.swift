import InjectorBase
import SecretsManager

/// What `migrate --apply --overwrite` checks before it writes into a secret that exists already,
/// which someone else may have created: it must not carry the value where the operator did not ask.
/// Read with `DescribeSecret` and `GetResourcePolicy`, never `GetSecretValue`'s value alone.
struct ExistingSecret {
    static let familyTag = "secrets-injector:family"

    var description: SecretDescription
    /// The resource policy's text; nil when it has none.
    var policy: String?

    /// Why writing into it would hand the value to someone the operator did not choose, one phrase
    /// each; empty when it is as `migrate` would have created it.
    func exposures(region: String, kmsKeyID: String?, family: String?, tags: [SecretTag]) -> [String] {
        var reasons: [String] = []
        let account = Self.account(description.arn)
        if let policy {
            let foreign = Self.foreignPrincipals(policy, account: account)
            if !foreign.isEmpty {
                reasons.append("its resource policy admits \(foreign.joined(separator: ", "))")
            }
        }
        if let key = description.kmsKeyID, !key.isEmpty, !Self.isDefaultKey(key) {
            if let owner = Self.account(key), owner != account {
                reasons.append("its KMS key \(key) is account \(owner)'s")
            } else if !Self.sameKey(key, kmsKeyID) {
                reasons.append(
                    "its KMS key \(key) is not \(kmsKeyID.map { "--kms-key-id \($0)" } ?? "the default aws/secretsmanager")"
                )
            }
        } else if let kmsKeyID, !Self.isDefaultKey(kmsKeyID) {
            reasons.append("its KMS key is aws/secretsmanager, not --kms-key-id \(kmsKeyID)")
        }
        let replicas = description.replicationStatus.map(\.region).filter { $0 != region }
        if !replicas.isEmpty { reasons.append("it is replicated to \(replicas.joined(separator: ", "))") }
        if let primary = description.primaryRegion, !primary.isEmpty, primary != region {
            reasons.append("it is a replica of the secret in \(primary)")
        }
        for tag in description.tags {
            if tag.key == Self.familyTag, let family, tag.value != family {
                reasons.append("its tag \(tag.key)=\(tag.value) says task definition family \(tag.value) owns it")
            } else if let asked = tags.first(where: { $0.key == tag.key }), asked.value != tag.value {
                reasons.append("its tag \(tag.key)=\(tag.value) is not --tag \(asked.key)=\(asked.value)")
            } else if tag.key == "aws:cloudformation:stack-name" {
                reasons.append("CloudFormation stack \(tag.value) manages it")
            }
        }
        return reasons
    }

    /// The principals an `Allow` statement admits outside `account`: `*`, other accounts, services,
    /// federated or canonical users, and any `NotPrincipal`. Conditions are not weighed: a
    /// statement that needs one to be safe is still one to look at.
    static func foreignPrincipals(_ policy: String, account: String?) -> [String] {
        guard let document = try? JSONValue.parse(policy) else { return ["(an unreadable policy)"] }
        var statements: [JSONValue] = []
        switch document["Statement"] {
        case .array(let elements)?: statements = elements
        case let statement?: statements = [statement]
        case nil: break
        }
        var foreign: [String] = []
        func add(_ principal: String) { if !foreign.contains(principal) { foreign.append(principal) } }
        for statement in statements where statement["Effect"] == .string("Allow") {
            if statement["NotPrincipal"] != nil { add("everyone but a NotPrincipal") }
            switch statement["Principal"] {
            case .string(let text)?: add(text)
            case .object(let members)?:
                for member in members {
                    let values: [String]
                    switch member.value {
                    case .string(let text): values = [text]
                    case .array(let elements):
                        values = elements.compactMap { if case .string(let text) = $0 { text } else { nil } }
                    default: values = []
                    }
                    for value in values {
                        guard member.key == "AWS" else {
                            add("\(member.key) \(value)")
                            continue
                        }
                        let owner = ARN.isAccountID(value) ? value : Self.account(value)
                        if value == "*" || owner == nil || owner != account { add(value) }
                    }
                }
            default: break
            }
        }
        return foreign
    }

    /// The account field of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:…`), when it has one.
    static func account(_ text: String) -> String? {
        guard let arn = ARN(text), arn.account.count == 12 else { return nil }
        return arn.account
    }

    static func isDefaultKey(_ key: String) -> Bool {
        key == "alias/aws/secretsmanager" || key.hasSuffix(":alias/aws/secretsmanager")
    }

    /// The same key, named as a key id, an alias, or either's ARN.
    static func sameKey(_ existing: String, _ asked: String?) -> Bool {
        guard let asked else { return false }
        return existing == asked || existing.hasSuffix("/" + asked) || existing.hasSuffix(":" + asked)
            || asked.hasSuffix("/" + existing) || asked.hasSuffix(":" + existing)
    }
}
