import Foundation
import HTTPTransport
import InjectorSources
import SecretsManager
import TestSupport
import Testing

/// `review`'s findings from what Secrets Manager describes, against a fake that answers
/// each secret's own description: a clean secret, and one state per finding. (moto never fills
/// `LastAccessedDate`, so the clean case needs this fake; `ReviewTests` runs moto.)
@Suite struct ReviewFindingTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let day = 86_400.0

    static func client(_ descriptions: [String: String], versions: String? = nil, policy: Bool = true) throws
        -> SecretsManagerClient
    {
        try testClient(
            FakeTransport { request, _ in
                let target = request.headers.first { $0.name == "X-Amz-Target" }?.value ?? ""
                let body = try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any] ?? [:]
                let id = body["SecretId"] as? String ?? ""
                switch target {
                case "secretsmanager.DescribeSecret":
                    guard let description = descriptions[id] else {
                        return .json(400, #"{"__type":"ResourceNotFoundException","message":"not found"}"#)
                    }
                    return .json(200, description)
                case "secretsmanager.ListSecretVersionIds":
                    return versions.map { .json(200, $0) }
                        ?? .json(400, #"{"__type":"AccessDeniedException","message":"denied"}"#)
                case "secretsmanager.GetResourcePolicy":
                    return policy
                        ? .json(200, #"{"ARN":"arn:x","Name":"x"}"#)
                        : .json(400, #"{"__type":"AccessDeniedException","message":"denied"}"#)
                default:
                    return .json(400, #"{"__type":"InvalidRequestException","message":"unexpected"}"#)
                }
            })
    }

    static func description(_ name: String, _ extra: String) -> String {
        #"{"ARN":"arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:\#(name)-AbCdEf","Name":"\#(name)","VersionIdsToStages":{"v1":["AWSCURRENT"]},"CreatedDate":\#(now.timeIntervalSince1970 - 400 * day),"LastChangedDate":\#(now.timeIntervalSince1970 - 10 * day)\#(extra)}"#
    }

    static let accessed = #","LastAccessedDate":\#(now.timeIntervalSince1970 - day)"#
    static let rotating =
        #","RotationEnabled":true,"RotationRules":{"AutomaticallyAfterDays":30},"LastRotatedDate":\#(now.timeIntervalSince1970 - 5 * day),"NextRotationDate":\#(now.timeIntervalSince1970 + 25 * day)"#

    @Test func aCleanSecretHasNoFindingAndEveryField() async throws {
        let client = try Self.client(
            [
                "app/db": Self.description(
                    "app/db",
                    Self.accessed + Self.rotating
                        + #","KmsKeyId":"alias/app","ReplicationStatus":[{"Region":"ap-south-1","Status":"InSync"}]"#)
            ],
            versions:
                #"{"Versions":[{"VersionId":"v1","VersionStages":["AWSCURRENT"],"CreatedDate":\#(Self.now.timeIntervalSince1970 - 5 * Self.day)}]}"#
        )
        let reviews = try await Reviewer.review(
            [("app/db", true)], client: client, failoverRegions: ["ap-south-1"], maxAgeDays: 365, now: Self.now)
        let review = try #require(reviews.first)
        #expect(review.findings == [])
        #expect(review.rotationEnabled && review.schedule == "every 30 days")
        #expect(review.kmsKey == "alias/app" && review.hasResourcePolicy == false)
        #expect(review.currentVersionCreated == Self.now.addingTimeInterval(-5 * Self.day))
        let text = Reviewer.render(reviews, format: .text)
        #expect(
            text.contains("  rotation: on, every 30 days\n") && text.hasSuffix("no finding in 1 secret\n"), "\(text)")
        #expect(Reviewer.render(reviews, format: .markdown).contains("| `app/db` | on, every 30 days |"))
    }

    @Test func eachFindingFromItsOwnState() async throws {
        let client = try Self.client(
            [
                // Not changed for 400 days (its only version is as old), accessed yesterday.
                "app/old": Self.description("app/old", Self.accessed).replacingOccurrences(
                    of: #""LastChangedDate":\#(Self.now.timeIntervalSince1970 - 10 * Self.day)"#,
                    with: #""LastChangedDate":\#(Self.now.timeIntervalSince1970 - 400 * Self.day)"#),
                // A database credential by its tags, rotation off.
                "app/creds": Self.description("app/creds", Self.accessed + #","Tags":[{"Key":"kind","Value":"rds"}]"#),
                // Last accessed 120 days ago.
                "app/idle": Self.description(
                    "app/idle", #","LastAccessedDate":\#(Self.now.timeIntervalSince1970 - 120 * Self.day)"#),
                // Never accessed, and scheduled for deletion.
                "app/gone": Self.description(
                    "app/gone", #","DeletedDate":\#(Self.now.timeIntervalSince1970 + 7 * Self.day)"#),
                // A replica that failed.
                "app/replica": Self.description(
                    "app/replica", Self.accessed + #","ReplicationStatus":[{"Region":"ap-south-1","Status":"Failed"}]"#),
            ], policy: false)
        let ids = ["app/old", "app/creds", "app/idle", "app/gone", "app/replica", "app/missing"]
        let reviews = try await Reviewer.review(
            ids.map { ($0, false) }, client: client, failoverRegions: ["ap-south-1"], maxAgeDays: 365, now: Self.now)
        let findings = Dictionary(uniqueKeysWithValues: reviews.map { ($0.id, $0.findings) })
        let replicaMissing = "failover region ap-south-1 has no InSync replica (no replica)"
        #expect(
            findings["app/old"] == [
                "not rotated or changed for 400 days (more than --max-age-days 365)", replicaMissing,
            ])
        #expect(findings["app/creds"] == ["rotation is off on a database credential", replicaMissing])
        #expect(findings["app/idle"] == [replicaMissing, "last accessed 120 days ago"])
        #expect(
            findings["app/gone"] == [
                "deleted or scheduled for deletion (2027-01-22)", replicaMissing, "never accessed",
            ])
        #expect(findings["app/replica"] == ["failover region ap-south-1 has no InSync replica (Failed)"])
        #expect(findings["app/missing"] == ["does not exist (deleted, or another region)"])
        // A denied GetResourcePolicy or ListSecretVersionIds makes the field unknown, not a failure.
        #expect(reviews.allSatisfy { $0.hasResourcePolicy == nil && $0.currentVersionCreated == nil })
        let json = Reviewer.render(reviews, format: .json)
        #expect(json.contains(#""resourcePolicy":null"#) && json.contains(#""secretId":"app/old""#))
    }
}
