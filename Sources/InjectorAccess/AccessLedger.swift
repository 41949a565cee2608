public import FoundationEssentials
import InjectorBase
public import SecretsManager

/// A configured secret as `review access` matches records to it: its id as configured, its name,
/// and its full ARN (`DescribeSecret`'s; nil when Secrets Manager does not know it).
public struct AccessTarget: Sendable, Equatable {
    public var id: String
    public var name: String
    public var arn: String?

    public init(id: String, name: String, arn: String?) {
        self.id = id
        self.name = name
        self.arn = arn
    }

    /// Whether `reference` (a record's secret id: a name, a full ARN, or an ARN without the
    /// random suffix) names this secret. A name names a secret of the caller's own account, so
    /// a record of another account (`recipientAccount`) does not match by name.
    public func isNamed(by reference: String, recipientAccount: String? = nil) -> Bool {
        if reference.hasPrefix("arn:") {
            if let arn { return SecretName.names(reference, arn: arn) }
            return reference == id || SecretName(reference).name == name
        }
        if let recipientAccount, let account = arn.flatMap(ARN.init)?.account, !account.isEmpty,
            recipientAccount != account
        {
            return false
        }
        return reference == name
    }
}

/// What CloudTrail says of the configured secrets, record by record: who read each (successful
/// `GetSecretValue` records), from where and with what, and who was denied.
///
/// Counting: Secrets Manager writes a `GetSecretValue` record for each secret a
/// `BatchGetSecretValue` call returns, so reads are counted from `GetSecretValue` records only and
/// a batch's own record is not a read (else a batch read would count twice). A denied call of any
/// operation that names the secret is a denied attempt, listed with its operation.
public struct AccessLedger: Sendable {
    public let targets: [AccessTarget]
    /// Records read, and records that were not a JSON object (skipped).
    public private(set) var records = 0
    public private(set) var unreadable = 0
    var reads: [[ReaderKey: Tally]]
    var kinds: [String: String] = [:]
    var denials: [[DenialKey: Tally]]

    struct ReaderKey: Hashable {
        var principal: String
        var from: String
        var viaVPCEndpoint: Bool
        var userAgent: String
    }

    struct DenialKey: Hashable {
        var principal: String
        var operation: String
    }

    struct Tally {
        var count = 0
        var first: Date?
        var last: Date?

        mutating func add(_ time: Date?) {
            count += 1
            if let time {
                if first.map({ time < $0 }) ?? true { first = time }
                if last.map({ time > $0 }) ?? true { last = time }
            }
        }

        mutating func add(_ other: Tally) {
            count += other.count
            if let time = other.first, first.map({ time < $0 }) ?? true { first = time }
            if let time = other.last, last.map({ time > $0 }) ?? true { last = time }
        }
    }

    public init(targets: [AccessTarget]) {
        self.targets = targets
        reads = Array(repeating: [:], count: targets.count)
        denials = Array(repeating: [:], count: targets.count)
    }

    /// One `LookupEvents` event: its `CloudTrailEvent` decoded and counted.
    public mutating func add(_ event: LookupEvent) {
        records += 1
        guard let text = event.cloudTrailEvent, var record = CloudTrailRecord(json: text) else {
            unreadable += 1
            return
        }
        if record.eventTime == nil { record.eventTime = event.eventTime }
        if record.eventName == nil { record.eventName = event.eventName }
        count(record)
    }

    /// One decoded record, counted for each configured secret it names.
    public mutating func add(_ record: CloudTrailRecord) {
        records += 1
        count(record)
    }

    private mutating func count(_ record: CloudTrailRecord) {
        let indices = targets.indices.filter { index in
            record.secretIDs.contains {
                targets[index].isNamed(by: $0, recipientAccount: record.recipientAccountID)
            }
        }
        guard !indices.isEmpty else { return }
        let (principal, kind) = AccessPrincipal.reader(of: record.identity)
        let operation = record.eventName ?? "?"
        if record.isAccessDenied {
            for index in indices {
                denials[index][DenialKey(principal: principal, operation: operation), default: Tally()].add(
                    record.eventTime)
            }
            kinds[principal] = kind
            return
        }
        guard record.errorCode == nil, operation == "GetSecretValue" else { return }
        let key = ReaderKey(
            principal: principal, from: record.vpcEndpointID ?? record.sourceIPAddress ?? "unknown",
            viaVPCEndpoint: record.vpcEndpointID != nil, userAgent: record.userAgent ?? "unknown")
        for index in indices {
            reads[index][key, default: Tally()].add(record.eventTime)
        }
        kinds[principal] = kind
    }

    /// The report: each secret's readers (expected or not), denials and findings.
    public func report(
        expected: [String], requireVPCEndpoint: Bool, days: Int, start: Date, end: Date, region: String,
        lookup: CloudTrailClient.Totals
    ) -> AccessReport {
        let expectedSet = Set(expected.map(AccessPrincipal.normalize))
        var secrets: [SecretAccess] = []
        for (index, target) in targets.enumerated() {
            var byPrincipal: [String: [(ReaderKey, Tally)]] = [:]
            for (key, tally) in reads[index] { byPrincipal[key.principal, default: []].append((key, tally)) }
            var readers: [AccessReader] = byPrincipal.map { principal, channels in
                var total = Tally()
                for (_, tally) in channels { total.add(tally) }
                let sources = channels.map { key, tally in
                    AccessSource(
                        from: key.from, viaVPCEndpoint: key.viaVPCEndpoint, userAgent: key.userAgent,
                        reads: tally.count, first: tally.first, last: tally.last)
                }.sorted { ($1.reads, $0.from, $0.userAgent) < ($0.reads, $1.from, $1.userAgent) }
                return AccessReader(
                    principal: principal, kind: kinds[principal] ?? "Unknown",
                    expected: expectedSet.contains(AccessPrincipal.normalize(principal)), reads: total.count,
                    first: total.first, last: total.last, sources: sources)
            }
            readers.sort { ($1.reads, $0.principal) < ($0.reads, $1.principal) }
            let denied = denials[index].map { key, tally in
                AccessDenial(
                    principal: key.principal, operation: key.operation, attempts: tally.count, first: tally.first,
                    last: tally.last)
            }.sorted { ($0.principal, $0.operation) < ($1.principal, $1.operation) }
            var access = SecretAccess(target: target, readers: readers, denied: denied)
            access.findings = Self.findings(access, days: days, requireVPCEndpoint: requireVPCEndpoint)
            secrets.append(access)
        }
        return AccessReport(
            secrets: secrets, expected: expected, days: days, start: start, end: end, region: region,
            lookup: lookup, records: records, unreadable: unreadable)
    }

    static func findings(_ access: SecretAccess, days: Int, requireVPCEndpoint: Bool) -> [String] {
        var findings: [String] = []
        if access.target.arn == nil {
            findings.append("does not exist (deleted, or another region): records matched by its name only")
        } else if access.readers.isEmpty {
            findings.append("nobody read it in the last \(days) day\(days == 1 ? "" : "s")")
        }
        for reader in access.readers where !reader.expected {
            findings.append(
                "read by \(reader.principal), not an expected principal: \(times(reader.reads, "read")), last \(AccessReport.time(reader.last))"
            )
        }
        for denial in access.denied {
            findings.append(
                "access denied: \(denial.principal) tried \(denial.operation) \(times(denial.attempts, "time")), last \(AccessReport.time(denial.last))"
            )
        }
        if requireVPCEndpoint {
            for reader in access.readers {
                let outside = reader.sources.filter { !$0.viaVPCEndpoint }
                guard !outside.isEmpty else { continue }
                let count = outside.map(\.reads).reduce(0, +)
                let places = Array(Set(outside.map(\.from))).sorted().joined(separator: ", ")
                findings.append(
                    "read without a VPC endpoint by \(reader.principal): \(times(count, "read")) from \(places)")
            }
        }
        return findings
    }

    static func times(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}

/// One secret's access in the window.
public struct SecretAccess: Sendable {
    public var target: AccessTarget
    public var readers: [AccessReader]
    public var denied: [AccessDenial]
    public var findings: [String] = []
}

/// A principal that read the secret: how often, when, and each place and agent it read from.
public struct AccessReader: Sendable, Equatable {
    public var principal: String
    /// `userIdentity.type`: `AssumedRole`, `IAMUser`, `Root`, `AWSService`, …
    public var kind: String
    public var expected: Bool
    public var reads: Int
    public var first: Date?
    public var last: Date?
    public var sources: [AccessSource]
}

/// Where from (the VPC endpoint, else the source IP address) and with what (the user agent).
public struct AccessSource: Sendable, Equatable {
    public var from: String
    public var viaVPCEndpoint: Bool
    public var userAgent: String
    public var reads: Int
    public var first: Date?
    public var last: Date?
}

/// Denied calls naming the secret, by principal and operation.
public struct AccessDenial: Sendable, Equatable {
    public var principal: String
    public var operation: String
    public var attempts: Int
    public var first: Date?
    public var last: Date?
}
