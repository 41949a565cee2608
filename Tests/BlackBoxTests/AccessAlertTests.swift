import Foundation
import TestSupport
import Testing

/// The access alerts of task-definitions/cloudformation (access-alerts.yaml, and the same rules in
/// secrets-injector.yaml) through `scripts/harness/access_alerts.py`: both templates rendered for a
/// sample account, their rules equal, then created on moto's EventBridge with an SQS queue each, and
/// CloudTrail-shaped Secrets Manager events put through them. Each case says which rules must fire;
/// the harness reports what moto delivered and what its own matcher (EventBridge's documented
/// semantics) says, and both must agree with the case.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct AccessAlertTests {
    static let harness = Repository.root.appendingPathComponent("scripts/harness/access_alerts.py").path

    struct Report: Decodable {
        struct Case: Decodable {
            let expected: [String]
            let delivered: [String]
            let matched: [String]
        }
        let ok: Bool
        let templateDifferences: [String]
        let rules: [String: String]
        let states: [String: String]
        let patternLengths: [String: Int]
        let patternLimit: Int
        let cases: [String: Case]
    }

    static let reads = "SecretReadsRule"
    static let denied = "SecretDeniedRule"
    static let rotationFailed = "SecretRotationFailedRule"
    static let protection = "SecretProtectionRule"

    /// Each case of the harness and the rules it must raise: the expected readers are silent, every
    /// other reader (a role, an IAM user with or without a console session, the root user) raises
    /// the reads rule whichever way it names the secret, and another app's secrets raise nothing.
    static let cases: [String: [String]] = [
        "task-role-read-by-name": [],
        "task-role-batch-read": [],
        "rotation-role-read-by-arn": [],
        "operator-read": [],
        "stranger-read-by-arn": [reads],
        "stranger-read-by-name": [reads],
        "stranger-read-by-partial-arn": [reads],
        "stranger-batch-read": [reads],
        // A batch by filters names no secret; the per-secret GetSecretValue records Secrets
        // Manager also writes are the stranger-read-by-arn case.
        "stranger-batch-read-by-filters": [],
        "stranger-read-of-listed-arn": [reads],
        "iam-user-read": [reads],
        "console-iam-user-read": [reads],
        "root-read": [reads],
        "stranger-denied-read": [denied],
        "task-role-denied-read": [denied],
        "rotation-failed": [rotationFailed],
        "put-resource-policy": [protection],
        "put-resource-policy-aRN": [protection],
        "delete-resource-policy": [protection],
        "delete-secret": [protection],
        "remove-regions-from-replication": [protection],
        "update-secret-new-kms-key": [protection],
        "update-secret-description": [],
        "other-app-read": [],
        "other-app-read-by-name": [],
        "other-app-denied-read": [],
        "other-app-rotation-failed": [],
        "other-app-put-resource-policy": [],
    ]

    @Test func rulesRaiseOnStrangersAndStaySilentOnExpectedReaders() async throws {
        let result = try await run(
            "/usr/bin/env", ["python3", Self.harness], environment: ProcessInfo.processInfo.environment,
            timeout: 180)
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(report.ok)
        // One source of truth: the stack's rules are the standalone template's.
        #expect(report.templateDifferences.isEmpty, "\(report.templateDifferences)")
        #expect(Set(report.rules.keys) == [Self.reads, Self.denied, Self.rotationFailed, Self.protection])
        // moto runs every rule whatever its State. On AWS, GetSecretValue, BatchGetSecretValue and
        // their refusals are read-only management events, which EventBridge hands only to rules in
        // state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS: a plain ENABLED reads rule would
        // never fire. RotationFailed and the protection changes are not read-only: ENABLED is enough
        // (and does not pay for every read-only event of the account).
        #expect(report.states[Self.reads] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
        #expect(report.states[Self.denied] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS")
        #expect(report.states[Self.rotationFailed] == "ENABLED")
        #expect(report.states[Self.protection] == "ENABLED")
        // EventBridge refuses a pattern over 4096 characters; the harness renders a large deployment.
        #expect(report.patternLimit == 4096)
        #expect(report.patternLengths.count == 4)
        for (rule, length) in report.patternLengths {
            #expect(length < report.patternLimit, "\(rule): \(length) characters")
        }
        #expect(Set(report.cases.keys) == Set(Self.cases.keys))
        for (name, expected) in Self.cases {
            let reported = try #require(report.cases[name], "no case \(name)")
            #expect(reported.expected == expected.sorted(), "\(name)")
            #expect(reported.delivered == expected.sorted(), "\(name): moto delivered it to \(reported.delivered)")
            #expect(
                reported.matched == expected.sorted(), "\(name): the documented semantics match \(reported.matched)")
        }
    }

    @Test func demoShowsTheStrangersReadAndTheRule() async throws {
        let result = try await run(
            "/usr/bin/env", ["python3", Self.harness, "--demo"], environment: ProcessInfo.processInfo.environment,
            timeout: 180)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("CloudTrail: GetSecretValue of arn:aws:secretsmanager:"), "\(result.stdout)")
        #expect(result.stdout.contains("assumed-role/data-export/"), "\(result.stdout)")
        #expect(
            result.stdout.contains(
                "EventBridge rule pipeline-pulse-secret-reads (ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS) matched it"
            ),
            "\(result.stdout)")
        #expect(result.stdout.contains("(3 of 3 silent)"), "\(result.stdout)")
    }
}
