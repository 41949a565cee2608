import AWSCredentials
public import FoundationEssentials
import InjectorBase

/// One CloudTrail record (a `LookupEvents` event's `CloudTrailEvent`, decoded a second time), as
/// `review access` reads it. Every field is optional: record shapes differ by identity type,
/// service and year. Only the fields named here are kept: never `requestParameters` whole, never
/// `responseElements`.
public struct CloudTrailRecord: Sendable, Equatable {
    public var eventName: String?
    public var eventSource: String?
    public var eventTime: Date?
    public var recipientAccountID: String?
    public var identity: Identity
    public var sourceIPAddress: String?
    public var vpcEndpointID: String?
    public var userAgent: String?
    public var errorCode: String?
    /// Each secret the record names, as it names it (a name, a full ARN or a partial ARN):
    /// `requestParameters.secretId`, each of `requestParameters.secretIdList`,
    /// `additionalEventData.SecretId`, the ARN in `responseElements` (`arn`, or `aRN` in records
    /// before February 2024) and each `resources[]` ARN.
    public var secretIDs: [String]

    /// `userIdentity`: who made the call.
    public struct Identity: Sendable, Equatable {
        public var type: String?
        /// With the session name for an assumed role (`arn:aws:sts::…:assumed-role/ROLE/SESSION`).
        public var arn: String?
        public var accountID: String?
        public var principalID: String?
        /// The role an assumed-role session was made from (`sessionContext.sessionIssuer.arn`).
        public var sessionIssuerARN: String?
        /// The AWS service that made the call on the caller's behalf.
        public var invokedBy: String?

        public init(
            type: String? = nil, arn: String? = nil, accountID: String? = nil, principalID: String? = nil,
            sessionIssuerARN: String? = nil, invokedBy: String? = nil
        ) {
            self.type = type
            self.arn = arn
            self.accountID = accountID
            self.principalID = principalID
            self.sessionIssuerARN = sessionIssuerARN
            self.invokedBy = invokedBy
        }
    }

    public init(
        eventName: String? = nil, eventSource: String? = nil, eventTime: Date? = nil, recipientAccountID: String? = nil,
        identity: Identity = Identity(), sourceIPAddress: String? = nil, vpcEndpointID: String? = nil,
        userAgent: String? = nil, errorCode: String? = nil, secretIDs: [String] = []
    ) {
        self.eventName = eventName
        self.eventSource = eventSource
        self.eventTime = eventTime
        self.recipientAccountID = recipientAccountID
        self.identity = identity
        self.sourceIPAddress = sourceIPAddress
        self.vpcEndpointID = vpcEndpointID
        self.userAgent = userAgent
        self.errorCode = errorCode
        self.secretIDs = secretIDs
    }

    /// The record in `text` (a `CloudTrailEvent`), or nil when it is not a JSON object.
    public init?(json text: String) {
        guard let value = try? JSONValue.parse(text), case .object = value else { return nil }
        self.init(value)
    }

    init(_ record: JSONValue) {
        eventName = record["eventName"]?.string
        eventSource = record["eventSource"]?.string
        eventTime = record["eventTime"]?.string.flatMap(parseISO8601)
        recipientAccountID = record["recipientAccountId"]?.string
        let user = record["userIdentity"]
        identity = Identity(
            type: user?["type"]?.string, arn: user?["arn"]?.string, accountID: user?["accountId"]?.string,
            principalID: user?["principalId"]?.string,
            sessionIssuerARN: user?["sessionContext"]?["sessionIssuer"]?["arn"]?.string,
            invokedBy: user?["invokedBy"]?.string)
        sourceIPAddress = record["sourceIPAddress"]?.string
        vpcEndpointID = record["vpcEndpointId"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        userAgent = record["userAgent"]?.string
        errorCode = record["errorCode"]?.string.flatMap { $0.isEmpty ? nil : $0 }

        var ids: [String] = []
        let request = record["requestParameters"]
        if let id = request?["secretId"]?.string { ids.append(id) }
        if case .array(let list)? = request?["secretIdList"] { ids += list.compactMap(\.string) }
        if let id = record["additionalEventData"]?["SecretId"]?.string { ids.append(id) }
        if let response = record["responseElements"], let arn = response.member(caseInsensitive: "arn")?.string {
            ids.append(arn)
        }
        if case .array(let resources)? = record["resources"] {
            ids += resources.compactMap { $0.member(caseInsensitive: "arn")?.string }
        }
        var seen: Set<String> = []
        secretIDs = ids.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// Denied: an `errorCode` that starts with `AccessDenied` (`AccessDenied`, `AccessDeniedException`).
    public var isAccessDenied: Bool { errorCode?.hasPrefix("AccessDenied") == true }
}

extension JSONValue {
    var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// An object's member whose key is `key` in any case (`arn`, `aRN`, `ARN`).
    func member(caseInsensitive key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        let wanted = key.lowercased()
        return members.last { $0.key.lowercased() == wanted }?.value
    }
}
