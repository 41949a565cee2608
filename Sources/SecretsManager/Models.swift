public import FoundationEssentials

/// The version of this program, sent in `User-Agent` so its calls stand out in CloudTrail.
public let secretsInjectorVersion = "0.1.0"

/// One version of a secret, as `GetSecretValue` returns it. Its description never shows the value.
public struct SecretValue: Sendable, Equatable, Decodable, CustomStringConvertible {
    public var arn: String
    public var name: String
    public var versionID: String
    public var secretString: String?
    public var secretBinary: [UInt8]?
    public var versionStages: [String]
    public var createdDate: Date?

    public init(
        arn: String, name: String, versionID: String, secretString: String? = nil, secretBinary: [UInt8]? = nil,
        versionStages: [String] = ["AWSCURRENT"], createdDate: Date? = nil
    ) {
        self.arn = arn
        self.name = name
        self.versionID = versionID
        self.secretString = secretString
        self.secretBinary = secretBinary
        self.versionStages = versionStages
        self.createdDate = createdDate
    }

    enum CodingKeys: String, CodingKey {
        case arn = "ARN", name = "Name", versionID = "VersionId", secretString = "SecretString", secretBinary =
            "SecretBinary"
        case versionStages = "VersionStages", createdDate = "CreatedDate"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        arn = try container.decode(String.self, forKey: .arn)
        name = try container.decode(String.self, forKey: .name)
        versionID = try container.decodeIfPresent(String.self, forKey: .versionID) ?? ""
        secretString = try container.decodeIfPresent(String.self, forKey: .secretString)
        if let base64 = try container.decodeIfPresent(String.self, forKey: .secretBinary) {
            guard let data = Data(base64Encoded: base64) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .secretBinary, in: container, debugDescription: "SecretBinary is not base64")
            }
            secretBinary = Array(data)
        }
        versionStages = try container.decodeIfPresent([String].self, forKey: .versionStages) ?? []
        createdDate = try container.decodeIfPresent(Date.self, forKey: .createdDate)
    }

    /// The value's bytes: `SecretString` as UTF-8, or the decoded `SecretBinary`.
    public var bytes: [UInt8] { secretString.map { Array($0.utf8) } ?? secretBinary ?? [] }

    public var description: String {
        "SecretValue(name: \(name), versionID: \(versionID), stages: \(versionStages), value: <redacted>)"
    }
}

/// One entry of `ListSecrets`: enough to tell whether a secret changed without reading it.
public struct SecretListEntry: Sendable, Equatable, Decodable {
    public var arn: String
    public var name: String
    public var versionIDsToStages: [String: [String]]
    public var lastChangedDate: Date?
    public var nextRotationDate: Date?
    public var rotationEnabled: Bool?
    public var deletedDate: Date?

    enum CodingKeys: String, CodingKey {
        case arn = "ARN", name = "Name", versionIDsToStages = "SecretVersionsToStages", lastChangedDate =
            "LastChangedDate"
        case nextRotationDate = "NextRotationDate", rotationEnabled = "RotationEnabled", deletedDate = "DeletedDate"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        arn = try container.decode(String.self, forKey: .arn)
        name = try container.decode(String.self, forKey: .name)
        versionIDsToStages = try container.decodeIfPresent([String: [String]].self, forKey: .versionIDsToStages) ?? [:]
        lastChangedDate = try container.decodeIfPresent(Date.self, forKey: .lastChangedDate)
        nextRotationDate = try container.decodeIfPresent(Date.self, forKey: .nextRotationDate)
        rotationEnabled = try container.decodeIfPresent(Bool.self, forKey: .rotationEnabled)
        deletedDate = try container.decodeIfPresent(Date.self, forKey: .deletedDate)
    }

    /// The version that carries `AWSCURRENT`.
    public var currentVersionID: String? { versionIDsToStages.first { $0.value.contains("AWSCURRENT") }?.key }
}

/// What `DescribeSecret` says of a secret (never its value).
public struct SecretDescription: Sendable, Equatable, Decodable {
    public var arn: String
    public var name: String
    public var versionIDsToStages: [String: [String]]
    public var nextRotationDate: Date?
    public var rotationEnabled: Bool?
    public var lastChangedDate: Date?
    public var deletedDate: Date?
    /// What a review reads; the rounds read only the fields above.
    public var rotationRules: RotationRules?
    public var lastRotatedDate: Date?
    /// A day, not a time: Secrets Manager records access once a day.
    public var lastAccessedDate: Date?
    public var createdDate: Date?
    /// Absent: the AWS-managed key `aws/secretsmanager`.
    public var kmsKeyID: String?
    public var primaryRegion: String?
    public var replicationStatus: [ReplicaStatus]
    public var summary: String?
    public var tags: [SecretTag]

    public struct RotationRules: Sendable, Equatable, Decodable {
        public var automaticallyAfterDays: Int?
        public var scheduleExpression: String?
        public var duration: String?
        enum CodingKeys: String, CodingKey {
            case automaticallyAfterDays = "AutomaticallyAfterDays", scheduleExpression = "ScheduleExpression"
            case duration = "Duration"
        }
    }

    public struct ReplicaStatus: Sendable, Equatable, Decodable {
        public var region: String
        /// `InSync`, `Failed` or `InProgress`.
        public var status: String?
        public var statusMessage: String?
        enum CodingKeys: String, CodingKey {
            case region = "Region", status = "Status", statusMessage = "StatusMessage"
        }
    }

    enum CodingKeys: String, CodingKey {
        case arn = "ARN", name = "Name", versionIDsToStages = "VersionIdsToStages", nextRotationDate =
            "NextRotationDate"
        case rotationEnabled = "RotationEnabled", lastChangedDate = "LastChangedDate", deletedDate = "DeletedDate"
        case rotationRules = "RotationRules", lastRotatedDate = "LastRotatedDate", lastAccessedDate = "LastAccessedDate"
        case createdDate = "CreatedDate", kmsKeyID = "KmsKeyId", primaryRegion = "PrimaryRegion"
        case replicationStatus = "ReplicationStatus", summary = "Description", tags = "Tags"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        arn = try container.decode(String.self, forKey: .arn)
        name = try container.decode(String.self, forKey: .name)
        versionIDsToStages = try container.decodeIfPresent([String: [String]].self, forKey: .versionIDsToStages) ?? [:]
        nextRotationDate = try container.decodeIfPresent(Date.self, forKey: .nextRotationDate)
        rotationEnabled = try container.decodeIfPresent(Bool.self, forKey: .rotationEnabled)
        lastChangedDate = try container.decodeIfPresent(Date.self, forKey: .lastChangedDate)
        deletedDate = try container.decodeIfPresent(Date.self, forKey: .deletedDate)
        rotationRules = try container.decodeIfPresent(RotationRules.self, forKey: .rotationRules)
        lastRotatedDate = try container.decodeIfPresent(Date.self, forKey: .lastRotatedDate)
        lastAccessedDate = try container.decodeIfPresent(Date.self, forKey: .lastAccessedDate)
        createdDate = try container.decodeIfPresent(Date.self, forKey: .createdDate)
        kmsKeyID = try container.decodeIfPresent(String.self, forKey: .kmsKeyID)
        primaryRegion = try container.decodeIfPresent(String.self, forKey: .primaryRegion)
        replicationStatus = try container.decodeIfPresent([ReplicaStatus].self, forKey: .replicationStatus) ?? []
        summary = try container.decodeIfPresent(String.self, forKey: .summary)
        tags = try container.decodeIfPresent([SecretTag].self, forKey: .tags) ?? []
    }

    /// The version that carries `AWSCURRENT`.
    public var currentVersionID: String? { versionIDsToStages.first { $0.value.contains("AWSCURRENT") }?.key }
}

/// One version as `ListSecretVersionIds` lists it: never its value.
public struct SecretVersionEntry: Sendable, Equatable, Decodable {
    public var versionID: String
    public var versionStages: [String]
    public var createdDate: Date?
    public var lastAccessedDate: Date?
    enum CodingKeys: String, CodingKey {
        case versionID = "VersionId", versionStages = "VersionStages", createdDate = "CreatedDate"
        case lastAccessedDate = "LastAccessedDate"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        versionID = try container.decode(String.self, forKey: .versionID)
        versionStages = try container.decodeIfPresent([String].self, forKey: .versionStages) ?? []
        createdDate = try container.decodeIfPresent(Date.self, forKey: .createdDate)
        lastAccessedDate = try container.decodeIfPresent(Date.self, forKey: .lastAccessedDate)
    }
}

struct ListSecretVersionIdsRequest: Encodable {
    var SecretId: String
    var MaxResults: Int
    var NextToken: String?
}

struct ListSecretVersionIdsResponse: Decodable {
    var Versions: [SecretVersionEntry]?
    var NextToken: String?
}

struct GetResourcePolicyResponse: Decodable {
    var ResourcePolicy: String?
}

/// The outcome of `BatchGetSecretValue` over any number of ids: the values found, and one error
/// per secret that could not be read.
public struct BatchGetResult: Sendable {
    public var values: [SecretValue]
    public var errors: [SecretsManagerError]
}

// MARK: Wire shapes

struct GetSecretValueRequest: Encodable {
    var SecretId: String
    var VersionStage: String?
    var VersionId: String?
}

struct BatchGetSecretValueRequest: Encodable {
    var SecretIdList: [String]
    var NextToken: String?
}

struct BatchGetSecretValueResponse: Decodable {
    struct APIError: Decodable {
        var SecretId: String?
        var ErrorCode: String?
        var Message: String?
    }
    var SecretValues: [SecretValue]?
    var Errors: [APIError]?
    var NextToken: String?
}

struct ListSecretsRequest: Encodable {
    struct Filter: Encodable {
        var Key: String
        var Values: [String]
    }
    var Filters: [Filter]?
    var MaxResults: Int
    var NextToken: String?
}

struct ListSecretsResponse: Decodable {
    var SecretList: [SecretListEntry]?
    var NextToken: String?
}

struct DescribeSecretRequest: Encodable {
    var SecretId: String
}

/// A tag on a secret (`CreateSecret`'s `Tags`).
public struct SecretTag: Sendable, Equatable, Codable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
    enum CodingKeys: String, CodingKey { case key = "Key", value = "Value" }
}

/// What `CreateSecret` and `PutSecretValue` answer: the secret and the version they made.
public struct SecretVersionCreated: Sendable, Equatable, Decodable {
    public var arn: String
    public var name: String
    public var versionID: String?
    enum CodingKeys: String, CodingKey { case arn = "ARN", name = "Name", versionID = "VersionId" }
}

struct CreateSecretRequest: Encodable {
    var Name: String
    var SecretString: String
    var ClientRequestToken: String
    var Description: String?
    var KmsKeyId: String?
    var Tags: [SecretTag]?
}

struct PutSecretValueRequest: Encodable {
    var SecretId: String
    var SecretString: String
    var ClientRequestToken: String
}
