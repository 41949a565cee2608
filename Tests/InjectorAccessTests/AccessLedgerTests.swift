import Foundation
import InjectorAccess
import InjectorBase
import SecretsManager
import Testing

/// Matching records to the configured secrets, naming readers, counting, and the findings.
@Suite struct AccessLedgerTests {
    static let account = "123456789012"
    static let databaseARN =
        "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-AbC123"
    static let jwtARN = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/jwt-Zz9Yy8"
    static let taskRole = "arn:aws:iam::123456789012:role/pipeline-pulse-task"
    static let database = AccessTarget(
        id: "pipeline-pulse/prod/database", name: "pipeline-pulse/prod/database", arn: databaseARN)
    static let jwt = AccessTarget(id: jwtARN, name: "pipeline-pulse/prod/jwt", arn: jwtARN)
    static let day: TimeInterval = 86_400
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func role(_ arn: String, session: String = "0f1e2d3c4b5a69788796a5b4c3d2e1f0") -> CloudTrailRecord.Identity {
        let name = arn.split(separator: "/").last!
        return CloudTrailRecord.Identity(
            type: "AssumedRole", arn: "arn:aws:sts::\(account):assumed-role/\(name)/\(session)", accountID: account,
            sessionIssuerARN: arn)
    }

    static func read(
        _ secretID: String, by identity: CloudTrailRecord.Identity, hoursAgo: Double = 1, vpce: String? = "vpce-1",
        ip: String = "10.0.1.23", agent: String = "secrets-injector/1.0", name: String = "GetSecretValue",
        error: String? = nil
    ) -> CloudTrailRecord {
        CloudTrailRecord(
            eventName: name, eventSource: "secretsmanager.amazonaws.com",
            eventTime: now.addingTimeInterval(-hoursAgo * 3600), recipientAccountID: account, identity: identity,
            sourceIPAddress: ip, vpcEndpointID: vpce, userAgent: agent, errorCode: error, secretIDs: [secretID])
    }

    static func report(_ records: [CloudTrailRecord], expected: [String] = [taskRole], vpc: Bool = false)
        -> AccessReport
    {
        var ledger = AccessLedger(targets: [database, jwt])
        for record in records { ledger.add(record) }
        return ledger.report(
            expected: expected, requireVPCEndpoint: vpc, days: 90, start: now.addingTimeInterval(-90 * day), end: now,
            region: "ap-southeast-1", lookup: CloudTrailClient.Totals())
    }

    // MARK: Names

    @Test func aSecretIsNamedByItsNameItsARNOrItsPartialARN() {
        let target = Self.database
        #expect(target.isNamed(by: "pipeline-pulse/prod/database"))
        #expect(target.isNamed(by: Self.databaseARN))
        #expect(target.isNamed(by: String(Self.databaseARN.dropLast(7))))  // without "-AbC123"
        #expect(!target.isNamed(by: "pipeline-pulse/prod/databas"))
        #expect(!target.isNamed(by: "pipeline-pulse/prod/database-old"))
        #expect(!target.isNamed(by: Self.databaseARN.replacing("123456789012", with: "210987654321")))
        #expect(!target.isNamed(by: String(Self.databaseARN.dropLast(8))))
        // A name in another account's record is that account's secret.
        #expect(!target.isNamed(by: "pipeline-pulse/prod/database", recipientAccount: "210987654321"))
        #expect(target.isNamed(by: "pipeline-pulse/prod/database", recipientAccount: Self.account))
    }

    @Test func principalsAreNormalized() {
        #expect(
            AccessPrincipal.normalize("arn:aws:sts::123456789012:assumed-role/pipeline-pulse-task/0f1e2d3c")
                == Self.taskRole)
        #expect(AccessPrincipal.normalize("arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task") == Self.taskRole)
        #expect(AccessPrincipal.normalize(" \(Self.taskRole) ") == Self.taskRole)
        #expect(
            AccessPrincipal.normalize("arn:aws:iam::123456789012:user/people/alice")
                == "arn:aws:iam::123456789012:user/alice")
        #expect(AccessPrincipal.normalize("arn:aws:iam::123456789012:root") == "arn:aws:iam::123456789012:root")
        #expect(AccessPrincipal.normalize("ecs.amazonaws.com") == "ecs.amazonaws.com")
        #expect(
            AccessPrincipal.normalize("arn:aws-cn:sts::123456789012:assumed-role/r/s")
                == "arn:aws-cn:iam::123456789012:role/r")
    }

    @Test func eachKindOfCallerIsNamed() {
        typealias Identity = CloudTrailRecord.Identity
        #expect(
            AccessPrincipal.reader(of: Self.role("arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task"))
                == (Self.taskRole, "AssumedRole"))
        // No sessionContext: the role from the session ARN.
        let bare = Identity(type: "AssumedRole", arn: "arn:aws:sts::123456789012:assumed-role/other/s1")
        #expect(AccessPrincipal.reader(of: bare) == ("arn:aws:iam::123456789012:role/other", "AssumedRole"))
        let user = Identity(type: "IAMUser", arn: "arn:aws:iam::123456789012:user/alice")
        #expect(AccessPrincipal.reader(of: user) == ("arn:aws:iam::123456789012:user/alice", "IAMUser"))
        #expect(
            AccessPrincipal.reader(of: Identity(type: "Root", accountID: "123456789012"))
                == ("arn:aws:iam::123456789012:root", "Root"))
        #expect(
            AccessPrincipal.reader(of: Identity(type: "AWSService", invokedBy: "ecs.amazonaws.com"))
                == ("ecs.amazonaws.com", "AWSService"))
        #expect(
            AccessPrincipal.reader(of: Identity(accountID: "123456789012", invokedBy: "secretsmanager.amazonaws.com"))
                == ("secretsmanager.amazonaws.com", "AWSService"))
        #expect(AccessPrincipal.reader(of: Identity()).name == "Unknown (no principal id)")
    }

    @Test func theExpectedPrincipalsComeFromFlagsOrTheTaskDefinition() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let registered = folder.appendingPathComponent("register.json").path
        try #"{"family":"pipeline-pulse","taskRoleArn":"arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task"}"#
            .write(toFile: registered, atomically: true, encoding: .utf8)
        let described = folder.appendingPathComponent("described.json").path
        try #"{"taskDefinition":{"family":"pipeline-pulse","taskRoleArn":"\#(Self.taskRole)"},"tags":[]}"#
            .write(toFile: described, atomically: true, encoding: .utf8)
        let none = folder.appendingPathComponent("none.json").path
        try #"{"family":"pipeline-pulse"}"#.write(toFile: none, atomically: true, encoding: .utf8)

        #expect(try AccessPrincipal.expected(arns: [], taskDefinition: registered) == [Self.taskRole])
        #expect(try AccessPrincipal.expected(arns: [], taskDefinition: described) == [Self.taskRole])
        #expect(
            try AccessPrincipal.expected(
                arns: [
                    "arn:aws:sts::123456789012:assumed-role/pipeline-pulse-task/abc",
                    "arn:aws:iam::123456789012:user/bob",
                ],
                taskDefinition: described) == [Self.taskRole, "arn:aws:iam::123456789012:user/bob"])
        for (arns, file) in [
            ([String](), nil as String?), ([], none), ([], folder.appendingPathComponent("absent").path),
        ] {
            #expect(throws: CommandExit.self) { try AccessPrincipal.expected(arns: arns, taskDefinition: file) }
            do {
                _ = try AccessPrincipal.expected(arns: arns, taskDefinition: file)
            } catch let error as CommandExit {
                #expect(error.exitStatus == .usage)
                #expect(
                    error.message?.contains("--expected-principal") == true
                        || error.message?.contains("--task-definition") == true)
            }
        }
    }

    // MARK: Counting and findings

    @Test func aCleanWindowHasNoFinding() {
        let report = Self.report([
            Self.read(
                "pipeline-pulse/prod/database", by: Self.role("arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task")),
            Self.read(Self.jwtARN, by: Self.role(Self.taskRole, session: "b"), hoursAgo: 5),
            Self.read(String(Self.jwtARN.dropLast(7)), by: Self.role(Self.taskRole, session: "c"), hoursAgo: 3),
        ])
        #expect(report.findingCount == 0)
        #expect(report.secrets.map(\.readers.count) == [1, 1])
        let jwt = report.secrets[1].readers[0]
        #expect(jwt.principal == Self.taskRole && jwt.expected && jwt.reads == 2)
        #expect(
            jwt.first == Self.now.addingTimeInterval(-5 * 3600) && jwt.last == Self.now.addingTimeInterval(-3 * 3600))
        #expect(report.render(.text).hasSuffix("no finding in 2 secrets\n"))
    }

    @Test func eachFinding() {
        let stranger = Self.role("arn:aws:iam::123456789012:role/service-role/data-export", session: "x")
        let alice = CloudTrailRecord.Identity(type: "IAMUser", arn: "arn:aws:iam::123456789012:user/alice")
        let report = Self.report(
            [
                Self.read("pipeline-pulse/prod/database", by: Self.role(Self.taskRole)),
                Self.read(Self.databaseARN, by: stranger, hoursAgo: 2, vpce: nil, ip: "203.0.113.7"),
                Self.read("pipeline-pulse/prod/database", by: alice, hoursAgo: 3, vpce: nil, ip: "198.51.100.4"),
                Self.read(
                    "pipeline-pulse/prod/jwt", by: Self.role("arn:aws:iam::123456789012:role/ci"), hoursAgo: 4,
                    error: "AccessDeniedException"),
                // Not reads: another call, another failure.
                Self.read("pipeline-pulse/prod/jwt", by: Self.role(Self.taskRole), name: "DescribeSecret"),
                Self.read("pipeline-pulse/prod/jwt", by: Self.role(Self.taskRole), error: "ResourceNotFoundException"),
            ], vpc: true)
        let database = report.secrets[0].findings
        #expect(
            database.contains(
                "read by arn:aws:iam::123456789012:role/data-export, not an expected principal: 1 read, last 2027-01-15T06:00:00Z"
            ),
            "\(database)")
        #expect(
            database.contains {
                $0.hasPrefix("read by arn:aws:iam::123456789012:user/alice, not an expected principal")
            })
        #expect(
            database.contains(
                "read without a VPC endpoint by arn:aws:iam::123456789012:role/data-export: 1 read from 203.0.113.7"))
        #expect(database.count == 4)
        let jwt = report.secrets[1].findings
        #expect(jwt.contains("nobody read it in the last 90 days"), "\(jwt)")
        #expect(
            jwt.contains(
                "access denied: arn:aws:iam::123456789012:role/ci tried GetSecretValue 1 time, last 2027-01-15T04:00:00Z"
            ))
        #expect(jwt.count == 2)
        #expect(report.findingCount == 6)
        // Without --require-vpc-endpoint, reads from outside one are no finding.
        let relaxed = Self.report(
            [
                Self.read("pipeline-pulse/prod/database", by: Self.role(Self.taskRole), vpce: nil),
                Self.read(Self.jwtARN, by: Self.role(Self.taskRole)),
            ])
        #expect(relaxed.findingCount == 0)
        let strict = Self.report(
            [
                Self.read("pipeline-pulse/prod/database", by: Self.role(Self.taskRole), vpce: nil),
                Self.read(Self.jwtARN, by: Self.role(Self.taskRole)),
            ], vpc: true)
        #expect(strict.findingCount == 1)
    }

    @Test func anExpectedPrincipalMatchesInAnyForm() {
        let records = [
            Self.read(
                "pipeline-pulse/prod/database", by: Self.role("arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task")),
            Self.read(Self.jwtARN, by: Self.role(Self.taskRole)),
        ]
        for form in [
            Self.taskRole, "arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task",
            "arn:aws:sts::123456789012:assumed-role/pipeline-pulse-task/some-session",
        ] {
            #expect(Self.report(records, expected: [form]).findingCount == 0, "\(form)")
        }
        #expect(Self.report(records, expected: ["arn:aws:iam::123456789012:role/other"]).findingCount == 2)
    }

    @Test func aBatchReadCountsOncePerSecret() {
        // A batch: its own record (secretIdList), and the GetSecretValue record Secrets Manager
        // writes for each secret it returned.
        var batch = Self.read("pipeline-pulse/prod/database", by: Self.role(Self.taskRole), name: "BatchGetSecretValue")
        batch.secretIDs = ["pipeline-pulse/prod/database", Self.jwtARN]
        let report = Self.report([
            batch, Self.read(Self.databaseARN, by: Self.role(Self.taskRole)),
            Self.read(Self.jwtARN, by: Self.role(Self.taskRole)),
        ])
        #expect(report.secrets.map { $0.readers.map(\.reads) } == [[1], [1]])
        // A denied batch is a denied attempt at each secret it names.
        var denied = batch
        denied.errorCode = "AccessDeniedException"
        let deniedReport = Self.report([denied])
        #expect(
            deniedReport.secrets.map { $0.denied.map(\.operation) } == [
                ["BatchGetSecretValue"], ["BatchGetSecretValue"],
            ])
    }

    @Test func readersAreListedByPlaceAndAgent() {
        let report = Self.report([
            Self.read(Self.databaseARN, by: Self.role(Self.taskRole, session: "a"), hoursAgo: 1),
            Self.read(Self.databaseARN, by: Self.role(Self.taskRole, session: "b"), hoursAgo: 2),
            Self.read(
                Self.databaseARN, by: Self.role(Self.taskRole, session: "c"), hoursAgo: 3, vpce: nil, ip: "54.1.2.3"),
            Self.read(Self.databaseARN, by: Self.role(Self.taskRole), hoursAgo: 4, agent: "aws-cli/2"),
        ])
        let reader = report.secrets[0].readers[0]
        #expect(reader.reads == 4 && report.secrets[0].readers.count == 1)
        #expect(
            reader.sources.map { "\($0.from) \($0.viaVPCEndpoint) \($0.userAgent) \($0.reads)" } == [
                "vpce-1 true secrets-injector/1.0 2", "54.1.2.3 false secrets-injector/1.0 1",
                "vpce-1 true aws-cli/2 1",
            ])
        let text = report.render(.text)
        #expect(
            text.contains(
                "  reader: \(Self.taskRole) (AssumedRole, expected): 4 reads, 2027-01-15T04:00:00Z to 2027-01-15T07:00:00Z\n    from vpce-1 (VPC endpoint) with secrets-injector/1.0: 2 reads,"
            ),
            "\(text)")
    }

    @Test func jsonIsStableAndMarkdownIsATable() throws {
        let records = [
            Self.read(Self.databaseARN, by: Self.role(Self.taskRole)),
            Self.read(
                Self.databaseARN,
                by: CloudTrailRecord.Identity(type: "IAMUser", arn: "arn:aws:iam::123456789012:user/a|b")),
        ]
        let json = Self.report(records).render(.json)
        #expect(json == Self.report(records.reversed()).render(.json))
        #expect(
            json.hasPrefix(
                #"{"window":{"start":"2026-10-17T08:00:00Z","end":"2027-01-15T08:00:00Z","days":90,"region":"ap-southeast-1"},"lookup":{"#
            ))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let secrets = try #require(object["secrets"] as? [[String: Any]])
        #expect(secrets.map { $0["secretId"] as? String } == ["pipeline-pulse/prod/database", Self.jwtARN])
        #expect((object["findings"] as? Int) == 2)
        let markdown = Self.report(records).render(.markdown)
        #expect(markdown.contains("| secret | reader | expected | reads | first | last | from | with |\n"))
        #expect(markdown.contains("arn:aws:iam::123456789012:user/a\\|b | **no** |"), "\(markdown)")
        #expect(markdown.contains("| `\(Self.jwtARN)` | nobody read it in the last 90 days |"))
    }

    @Test func aRecordThatCannotBeReadFailsTheReview() {
        var ledger = AccessLedger(targets: [Self.database, Self.jwt])
        ledger.add(Self.read(Self.databaseARN, by: Self.role(Self.taskRole)))
        ledger.add(LookupEvent(eventID: "x", eventName: "GetSecretValue", eventTime: Self.now, cloudTrailEvent: "{"))
        let report = ledger.report(
            expected: [Self.taskRole], requireVPCEndpoint: false, days: 90,
            start: Self.now.addingTimeInterval(-90 * Self.day),
            end: Self.now, region: "ap-southeast-1", lookup: CloudTrailClient.Totals())
        #expect(report.unreadable == 1 && report.failed)
        #expect(report.render(.text).contains("1 unreadable record (a finding: whose call each was is unknown)"))
    }
}
