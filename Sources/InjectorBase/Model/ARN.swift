/// An Amazon Resource Name, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`: the one place one is
/// split or built. The resource may hold `:` and `/` (`secret:NAME-AbCdEf`, `parameter/a/b`,
/// `role/NAME`); the region and account may be empty (IAM, S3).
public struct ARN: Sendable, Hashable, CustomStringConvertible {
    public var partition: String
    public var service: String
    public var region: String
    public var account: String
    public var resource: String

    /// `text` as an ARN, or nil when it is not one (not `arn:`, fewer than six parts, no
    /// partition or service).
    public init?(_ text: some StringProtocol) {
        guard text.hasPrefix("arn:") else { return nil }
        let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        partition = String(parts[1])
        service = String(parts[2])
        region = String(parts[3])
        account = String(parts[4])
        resource = String(parts[5])
    }

    /// An ARN in the partition of `region` (``partition(region:)``) unless one is given; `*` for a
    /// region or account not known.
    public init(partition: String? = nil, service: String, region: String?, account: String?, resource: String) {
        self.partition = partition ?? Self.partition(region: region)
        self.service = service
        self.region = region ?? "*"
        self.account = account ?? "*"
        self.resource = resource
    }

    public var description: String { "arn:\(partition):\(service):\(region):\(account):\(resource)" }

    /// The service an `arn:` text names, whole or not (`arn:aws:ssm:…` with parts missing): what it
    /// meant to be, for a message saying why it is not one.
    public static func service(of text: String) -> Substring? {
        guard text.hasPrefix("arn:") else { return nil }
        return text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).dropFirst(2).first
    }

    /// An account id: twelve digits.
    public static func isAccountID(_ text: some StringProtocol) -> Bool {
        text.utf8.count == 12 && text.utf8.allSatisfy { (0x30...0x39).contains($0) }
    }

    /// AWS's partitions, by their regions' names: `aws-cn` for `cn-…`, `aws-us-gov` for `us-gov-…`,
    /// else `aws`.
    public static func partition(region: String?) -> String {
        guard let region else { return "aws" }
        if region.hasPrefix("cn-") { return "aws-cn" }
        if region.hasPrefix("us-gov-") { return "aws-us-gov" }
        return "aws"
    }

    /// A Secrets Manager ARN at the start of `text` and what follows it: a secret's ARN is its first
    /// seven `:` parts (`arn:aws:secretsmanager:R:A:secret:NAME`), as ECS's `valueFrom` takes it
    /// before `:json-key:version-stage:version-id`. nil when `text` does not start with one.
    public static func secretPrefix(of text: String) -> (arn: String, rest: [String])? {
        guard let arn = ARN(text), arn.service == "secretsmanager" else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 7 else { return nil }
        return (parts[..<7].joined(separator: ":"), Array(parts[7...]))
    }
}
