import InjectorBase

/// IAM's one operation the permission review reads, over the query protocol: typed answers from
/// its XML. Every call throws an ``IAMError``.
public struct IAMClient: ServiceClient {
    public typealias Failure = IAMError
    public let jsonClient: AWSJSONClient
    public init(holding jsonClient: AWSJSONClient) { self.jsonClient = jsonClient }

    /// Most pages followed before the answer is taken to loop.
    static let pageLimit = 1000

    /// `GetAccountAuthorizationDetails`, every page (`Marker` while `IsTruncated`): the account's
    /// users, groups and roles with their inline policies and attachments, and its managed
    /// policies (customer and AWS managed, attached or not) with each one's default version only.
    /// Documents come percent-decoded, as JSON text.
    public func accountAuthorizationDetails() async throws(IAMError) -> AccountAuthorizationDetails {
        let operation = "GetAccountAuthorizationDetails"
        var details = AccountAuthorizationDetails()
        var marker: String?
        var seen: Set<String> = []
        for _ in 0..<Self.pageLimit {
            let body: [UInt8]
            do {
                body = try await jsonClient.callQuery(
                    operation, parameters: marker.map { [("Marker", $0)] } ?? [])
            } catch {
                throw IAMError(error)
            }
            let root: XMLTree
            do {
                root = try XMLTree.parse(body)
            } catch {
                throw IAMError(
                    jsonClient.failure(.service, operation, nil, detail: "the answer is not XML (\(error))"))
            }
            guard let result = root.child("\(operation)Result") else {
                throw IAMError(
                    jsonClient.failure(.service, operation, nil, detail: "the answer has no \(operation)Result"))
            }
            details.add(page: result)
            guard result.child("IsTruncated")?.text.trimmed == "true" else { return details }
            guard let next = result.child("Marker")?.text.trimmed, !next.isEmpty, seen.insert(next).inserted else {
                throw IAMError(
                    jsonClient.failure(
                        .service, operation, nil,
                        detail: "\(operation) is truncated but its Marker is missing or repeats"))
            }
            marker = next
        }
        throw IAMError(jsonClient.failure(.service, operation, nil, detail: "more than \(Self.pageLimit) pages"))
    }

    /// A policy document as IAM sends it (URL-encoded, RFC 3986) decoded: `%XX` to its byte; a
    /// `%` not followed by two hex digits stays as it is.
    public static func percentDecoded(_ text: String) -> String { PercentDecoding.decode(text) }
}

/// A failed IAM call: what ``IAMClient`` throws. Its message names IAM, the `iam:` permission and
/// `AWS_ENDPOINT_URL_IAM`.
public struct IAMError: ServiceError {
    public static let service = AWSService.identity
    public var underlying: AWSCallError
    public init(holding underlying: AWSCallError) { self.underlying = underlying }
}

/// What `GetAccountAuthorizationDetails` says of an account, every page put together.
public struct AccountAuthorizationDetails: Sendable, Equatable {
    /// A user, group or role: its inline policies, the managed policies attached to it, and for a
    /// user the names of its groups.
    public struct Entity: Sendable, Equatable {
        public enum Kind: String, Sendable { case user, group, role }
        public var kind: Kind
        public var name: String
        public var arn: String
        /// Inline policies: name and document (JSON text).
        public var inlinePolicies: [(name: String, document: String)]
        public var attachedPolicyARNs: [String]
        /// A user's groups, by name.
        public var groups: [String]
        /// The permissions boundary's policy ARN, when it has one.
        public var permissionsBoundary: String?

        public init(
            kind: Kind, name: String, arn: String, inlinePolicies: [(name: String, document: String)] = [],
            attachedPolicyARNs: [String] = [], groups: [String] = [], permissionsBoundary: String? = nil
        ) {
            self.kind = kind
            self.name = name
            self.arn = arn
            self.inlinePolicies = inlinePolicies
            self.attachedPolicyARNs = attachedPolicyARNs
            self.groups = groups
            self.permissionsBoundary = permissionsBoundary
        }

        public static func == (left: Entity, right: Entity) -> Bool {
            left.kind == right.kind && left.name == right.name && left.arn == right.arn
                && left.inlinePolicies.map(\.name) == right.inlinePolicies.map(\.name)
                && left.inlinePolicies.map(\.document) == right.inlinePolicies.map(\.document)
                && left.attachedPolicyARNs == right.attachedPolicyARNs && left.groups == right.groups
                && left.permissionsBoundary == right.permissionsBoundary
        }
    }

    public var users: [Entity] = []
    public var groups: [Entity] = []
    public var roles: [Entity] = []
    /// Managed policies by ARN: the default version's document (JSON text).
    public var managedPolicies: [String: String] = [:]

    public init() {}

    /// One page's lists added: `result` is its `GetAccountAuthorizationDetailsResult` element.
    public mutating func add(page result: XMLTree) {
        func text(_ node: XMLTree, _ name: String) -> String { node.child(name)?.text.trimmed ?? "" }
        func inline(_ node: XMLTree, _ list: String) -> [(name: String, document: String)] {
            (node.child(list)?.members ?? []).map {
                (text($0, "PolicyName"), IAMClient.percentDecoded(text($0, "PolicyDocument")))
            }
        }
        func entity(_ node: XMLTree, _ kind: Entity.Kind, _ name: String, _ policies: String) -> Entity {
            Entity(
                kind: kind, name: text(node, name), arn: text(node, "Arn"), inlinePolicies: inline(node, policies),
                attachedPolicyARNs: (node.child("AttachedManagedPolicies")?.members ?? []).map {
                    text($0, "PolicyArn")
                },
                groups: (node.child("GroupList")?.members ?? []).map(\.text.trimmed),
                permissionsBoundary: node["PermissionsBoundary", "PermissionsBoundaryArn"].map(\.text.trimmed))
        }
        users += (result.child("UserDetailList")?.members ?? []).map { entity($0, .user, "UserName", "UserPolicyList") }
        groups += (result.child("GroupDetailList")?.members ?? []).map {
            entity($0, .group, "GroupName", "GroupPolicyList")
        }
        roles += (result.child("RoleDetailList")?.members ?? []).map { entity($0, .role, "RoleName", "RolePolicyList") }
        for policy in result.child("Policies")?.members ?? [] {
            let versions = policy.child("PolicyVersionList")?.members ?? []
            let defaultID = text(policy, "DefaultVersionId")
            // Only the default version is in force.
            if let version = versions.first(where: { text($0, "IsDefaultVersion") == "true" })
                ?? versions.first(where: { text($0, "VersionId") == defaultID })
            {
                managedPolicies[text(policy, "Arn")] = IAMClient.percentDecoded(text(version, "Document"))
            }
        }
    }
}

extension String {
    fileprivate var trimmed: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
