import FoundationEssentials
import InjectorBase

/// Principals as `review access` compares them: one name per IAM identity, whatever form an ARN
/// takes in a flag, a task definition or a CloudTrail record.
public enum AccessPrincipal {
    /// One name for a principal: an assumed-role session (`arn:aws:sts::A:assumed-role/ROLE/SESSION`)
    /// is its role (`arn:aws:iam::A:role/ROLE`); a role or user with a path (`role/service-role/R`)
    /// is the role or user without it (names are unique in an account, paths are not part of them).
    /// Anything else (the account's root, an AWS service's name) stays as it is.
    public static func normalize(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: " ")
        guard var arn = ARN(trimmed) else { return trimmed }
        let parts = arn.resource.split(separator: "/", omittingEmptySubsequences: false)
        switch (arn.service, parts.first) {
        case ("sts", "assumed-role") where parts.count >= 2:
            arn.service = "iam"
            arn.region = ""
            arn.resource = "role/\(parts[1])"
        case ("iam", "role"), ("iam", "user"):
            guard parts.count >= 2, let last = parts.last else { return trimmed }
            arn.resource = "\(parts[0])/\(last)"
        default:
            return trimmed
        }
        return arn.description
    }

    /// Who made the call in `identity`, and their kind: an assumed role is its role (from
    /// `sessionContext.sessionIssuer.arn`, else from the session ARN); an IAM user its user ARN;
    /// the root user the account's root ARN; an AWS service (`invokedBy`) its service name; any
    /// other identity its ARN, else its type and principal id.
    public static func reader(of identity: CloudTrailRecord.Identity) -> (name: String, kind: String) {
        let kind = identity.type ?? (identity.invokedBy != nil ? "AWSService" : "Unknown")
        switch kind {
        case "AssumedRole":
            if let issuer = identity.sessionIssuerARN, !issuer.isEmpty { return (normalize(issuer), kind) }
            if let arn = identity.arn, !arn.isEmpty { return (normalize(arn), kind) }
        case "IAMUser":
            if let arn = identity.arn, !arn.isEmpty { return (normalize(arn), kind) }
        case "Root":
            if let arn = identity.arn, !arn.isEmpty { return (arn, kind) }
            if let account = identity.accountID { return ("arn:aws:iam::\(account):root", kind) }
        case "AWSService":
            if let service = identity.invokedBy, !service.isEmpty { return (service, kind) }
        default:
            if let arn = identity.arn, !arn.isEmpty { return (normalize(arn), kind) }
        }
        if let service = identity.invokedBy, !service.isEmpty { return (service, kind) }
        return ("\(kind) \(identity.principalID ?? "(no principal id)")", kind)
    }

    /// The expected principals: each `--expected-principal`, and the task role of the task
    /// definition at `taskDefinition` (as registered, or as `describe-task-definition` prints it),
    /// normalized. Throws a usage error (exit 2) when there are none, or the file has no task role.
    public static func expected(arns: [String], taskDefinition: String?) throws -> [String] {
        var names = arns.map(normalize).filter { !$0.isEmpty }
        if let path = taskDefinition {
            names.append(normalize(try taskRole(path: path)))
        }
        guard !names.isEmpty else {
            throw CommandExit(
                .usage,
                "no expected principal: name the roles whose reads are expected with --expected-principal ARN (repeatable) or --task-definition FILE (its taskRoleArn)"
            )
        }
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }
    }

    /// The `taskRoleArn` of the task definition at `path`.
    static func taskRole(path: String) throws -> String {
        let contents: SmallFile.Contents
        do {
            contents = try SmallFile.read(path, limit: 4 << 20, followingLinks: true)
        } catch {
            throw CommandExit(.usage, "--task-definition \(error)")
        }
        guard let document = try? JSONValue.parse(contents.bytes) else {
            throw CommandExit(.usage, "--task-definition \(path) is not JSON")
        }
        return try taskRole(document, path: path)
    }

    static func taskRole(_ document: JSONValue, path: String) throws -> String {
        let definition = document["taskDefinition"] ?? document
        guard let role = definition["taskRoleArn"]?.string, !role.isEmpty else {
            throw CommandExit(
                .usage, "--task-definition \(path) has no taskRoleArn: name the expected role with --expected-principal"
            )
        }
        guard let arn = ARN(role), arn.service == "iam", arn.resource.hasPrefix("role/") else {
            throw CommandExit(.usage, "--task-definition \(path): taskRoleArn \"\(role)\" is not a role ARN")
        }
        return role
    }
}
