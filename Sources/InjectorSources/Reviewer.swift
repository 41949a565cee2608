import FoundationEssentials
import InjectorBase
import SecretsManager

/// One secret as `review` sees it: what `DescribeSecret`, `ListSecretVersionIds` and
/// `GetResourcePolicy` say of it, never its value, and what in that needs a look.
public struct SecretReview: Sendable {
    public var id: String
    public var rotationEnabled = false
    /// `every 30 days`, or the schedule expression.
    public var schedule: String?
    public var lastRotated: Date?
    public var nextRotation: Date?
    public var lastChanged: Date?
    /// When the `AWSCURRENT` version was made; nil when `ListSecretVersionIds` is denied.
    public var currentVersionCreated: Date?
    public var lastAccessed: Date?
    /// nil: the AWS-managed key `aws/secretsmanager`.
    public var kmsKey: String?
    public var replicas: [(region: String, status: String)] = []
    /// nil when `GetResourcePolicy` is denied.
    public var hasResourcePolicy: Bool?
    public var deleted: Date?
    public var findings: [String] = []
}

/// `secrets-injector review`: the seed's quarterly review as one command.
public enum Reviewer {
    /// Words that make a secret a database credential by its name, description or tags.
    static let databaseWords: Set<String> = ["database", "db", "rds", "postgres", "postgresql", "mysql"]
    static let day: TimeInterval = 86_400

    /// Each secret's review. `buildsDatabaseURL`: a configured template builds a database URL from
    /// it. Throws when `DescribeSecret` itself fails (denied: exit 3); a denied
    /// `ListSecretVersionIds` or `GetResourcePolicy` only makes its field unknown.
    public static func review(
        _ secrets: [(id: String, buildsDatabaseURL: Bool)], client: SecretsManagerClient, failoverRegions: [String],
        maxAgeDays: Int, now: Date
    ) async throws(SecretsManagerError) -> [SecretReview] {
        var reviews: [SecretReview] = []
        for secret in secrets {
            var review = SecretReview(id: secret.id)
            let description: SecretDescription
            do {
                description = try await client.describeSecret(id: secret.id)
            } catch  where error.category == .notFound {
                review.findings.append("does not exist (deleted, or another region)")
                reviews.append(review)
                continue
            }
            review.rotationEnabled = description.rotationEnabled == true
            if let rules = description.rotationRules {
                review.schedule =
                    rules.scheduleExpression ?? rules.automaticallyAfterDays.map { "every \($0) days" }
            }
            review.lastRotated = description.lastRotatedDate
            review.nextRotation = description.nextRotationDate
            review.lastChanged = description.lastChangedDate
            review.lastAccessed = description.lastAccessedDate
            review.kmsKey = description.kmsKeyID
            review.replicas = description.replicationStatus.map { ($0.region, $0.status ?? "unknown") }
            review.deleted = description.deletedDate
            if let versions = try? await client.listSecretVersionIDs(id: secret.id) {
                review.currentVersionCreated = versions.first { $0.versionStages.contains("AWSCURRENT") }?.createdDate
            }
            do {
                let policy = try await client.getResourcePolicy(id: secret.id)
                review.hasResourcePolicy = !(policy ?? "").isEmpty
            } catch {
                review.hasResourcePolicy = nil  // denied (or failed): unknown, not a finding
            }
            review.findings = findings(
                review, description: description, buildsDatabaseURL: secret.buildsDatabaseURL,
                failoverRegions: failoverRegions, maxAgeDays: maxAgeDays, now: now)
            reviews.append(review)
        }
        return reviews
    }

    static func findings(
        _ review: SecretReview, description: SecretDescription, buildsDatabaseURL: Bool, failoverRegions: [String],
        maxAgeDays: Int, now: Date
    ) -> [String] {
        var findings: [String] = []
        if let deleted = review.deleted {
            findings.append("deleted or scheduled for deletion (\(day(deleted)))")
        }
        // The last change to the value: a rotation, a new version, or the secret's creation.
        if let changed = review.lastRotated ?? review.currentVersionCreated ?? review.lastChanged
            ?? description.createdDate
        {
            let days = Int(now.timeIntervalSince(changed) / Self.day)
            if days > maxAgeDays {
                findings.append("not rotated or changed for \(days) days (more than --max-age-days \(maxAgeDays))")
            }
        }
        if !review.rotationEnabled && (buildsDatabaseURL || looksLikeADatabase(description)) {
            findings.append(
                "rotation is off on a database credential"
                    + (buildsDatabaseURL ? " (a template builds a database URL from it)" : ""))
        }
        for region in failoverRegions {
            let status = review.replicas.first { $0.region == region }?.status
            if status != "InSync" {
                findings.append("failover region \(region) has no InSync replica (\(status ?? "no replica"))")
            }
        }
        if let accessed = review.lastAccessed {
            let days = Int(now.timeIntervalSince(accessed) / Self.day)
            if days > 90 { findings.append("last accessed \(days) days ago") }
        } else {
            findings.append("never accessed")
        }
        return findings
    }

    /// By its name, description or tags: a word among ``databaseWords``.
    static func looksLikeADatabase(_ description: SecretDescription) -> Bool {
        let texts = [description.name, description.summary ?? ""] + description.tags.flatMap { [$0.key, $0.value] }
        return texts.contains { text in
            text.lowercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber }).contains {
                databaseWords.contains(String($0))
            }
        }
    }

    static func day(_ date: Date) -> String { UTCTime(epochSeconds: date.timeIntervalSince1970).date }
}

extension Reviewer {
    public enum Format: String, Sendable, CaseIterable { case text, json, markdown }

    public static func render(_ reviews: [SecretReview], format: Format) -> String {
        switch format {
        case .text: text(reviews)
        case .json:
            JSONValue.fields(["secrets": .array(reviews.map(object))]).serialized.escapingControls(c0: false) + "\n"
        case .markdown: markdown(reviews)
        }
    }

    static func fields(_ review: SecretReview) -> [(String, String)] {
        let rotation =
            review.rotationEnabled ? "on" + (review.schedule.map { ", \($0)" } ?? "") : "off"
        return [
            ("rotation", rotation),
            ("last rotated", review.lastRotated.map(day) ?? "never"),
            ("next rotation", review.nextRotation.map(day) ?? "none"),
            ("current version made", review.currentVersionCreated.map(day) ?? "unknown"),
            ("last accessed", review.lastAccessed.map(day) ?? "never"),
            ("KMS key", review.kmsKey ?? "aws/secretsmanager (AWS-managed)"),
            (
                "replicas",
                review.replicas.isEmpty
                    ? "none" : review.replicas.map { "\($0.region) \($0.status)" }.joined(separator: ", ")
            ),
            ("resource policy", review.hasResourcePolicy.map { $0 ? "yes" : "none" } ?? "unknown"),
        ]
    }

    static func text(_ reviews: [SecretReview]) -> String {
        var out = ""
        for review in reviews {
            out += review.id.escapingControls() + "\n"
            for (name, value) in fields(review) { out += "  \(name): \(value.escapingControls())\n" }
            for finding in review.findings { out += "  finding: \(finding.escapingControls())\n" }
        }
        return out + summary(reviews) + "\n"
    }

    static func summary(_ reviews: [SecretReview]) -> String {
        let count = reviews.map(\.findings.count).reduce(0, +)
        let secrets = reviews.filter { !$0.findings.isEmpty }.count
        return count == 0
            ? "no finding in \(reviews.count) secret\(reviews.count == 1 ? "" : "s")"
            : "\(count) finding\(count == 1 ? "" : "s") in \(secrets) of \(reviews.count) secret\(reviews.count == 1 ? "" : "s")"
    }

    static func object(_ review: SecretReview) -> JSONValue {
        func date(_ value: Date?) -> JSONValue { value.map { .string(day($0)) } ?? .null }
        return .fields([
            "secretId": .string(review.id), "rotationEnabled": .bool(review.rotationEnabled),
            "schedule": review.schedule.map(JSONValue.string) ?? .null, "lastRotated": date(review.lastRotated),
            "nextRotation": date(review.nextRotation), "currentVersionCreated": date(review.currentVersionCreated),
            "lastAccessed": date(review.lastAccessed), "kmsKey": review.kmsKey.map(JSONValue.string) ?? .null,
            "replicas": .array(
                review.replicas.map { .fields(["region": .string($0.region), "status": .string($0.status)]) }),
            "resourcePolicy": review.hasResourcePolicy.map(JSONValue.bool) ?? .null,
            "deleted": date(review.deleted), "findings": .array(review.findings.map(JSONValue.string)),
        ])
    }

    static func markdown(_ reviews: [SecretReview]) -> String {
        let names = ["secret"] + fields(SecretReview(id: "")).map(\.0) + ["findings"]
        var out = "| " + names.joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: names.count) + "\n"
        for review in reviews {
            let cells =
                ["`\(review.id)`"] + fields(review).map(\.1)
                + [review.findings.isEmpty ? "—" : review.findings.joined(separator: "; ")]
            out +=
                "| " + cells.map { $0.markdownTableCell }.joined(separator: " | ") + " |\n"
        }
        return out + "\n" + summary(reviews) + "\n"
    }
}
