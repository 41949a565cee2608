public import FoundationEssentials
import InjectorBase
public import InjectorConfig
import InjectorJob
import InjectorSources
public import Logging
public import SecretsManager

/// `review access`: who read each configured secret, from where and with what, from CloudTrail's
/// event history (`LookupEvents`, the primary region, the last `days` days); and the findings: a
/// reader outside the expected principals, denied attempts, a secret nobody read, and (with
/// `requireVPCEndpoint`) reads that did not come through a VPC endpoint. Exit 1 with a finding.
public struct AccessReviewCommand: Sendable {
    /// CloudTrail's event history keeps 90 days.
    public static let maxDays = 90
    public static let eventSource = "secretsmanager.amazonaws.com"

    public var days: Int
    public var expectedPrincipals: [String]
    public var taskDefinition: String?
    public var requireVPCEndpoint: Bool
    public var format: String

    public init(
        days: Int, expectedPrincipals: [String], taskDefinition: String?, requireVPCEndpoint: Bool, format: String
    ) {
        self.days = days
        self.expectedPrincipals = expectedPrincipals
        self.taskDefinition = taskDefinition
        self.requireVPCEndpoint = requireVPCEndpoint
        self.format = format
    }

    /// The flags, checked before the configuration is read: the format, the window, and the
    /// expected principals (normalized).
    public func checkedFlags() throws -> (format: AccessReport.Format, expected: [String]) {
        guard let format = AccessReport.Format(rawValue: format) else {
            throw CommandExit(.usage, "--format \(format): use text, json or markdown")
        }
        guard (1...Self.maxDays).contains(days) else {
            throw CommandExit(
                .usage,
                "--days \(days): CloudTrail's event history keeps 90 days, so use 1 to 90 (older events need a trail delivering to S3, queried with Athena)"
            )
        }
        let expected = try AccessPrincipal.expected(arns: expectedPrincipals, taskDefinition: taskDefinition)
        return (format, expected)
    }

    public func run(environment: [String: String], config: () throws -> Config, now: Date = Date()) async throws {
        let (format, expected) = try checkedFlags()
        let targets = try await ReviewTargets.resolve(environment: environment, config: config)
        let logger = Logger(label: "secrets-injector.access")
        let secretsManager = targets.clients.primary

        // Every setting checked before the first call: CloudTrail's endpoint too.
        let cloudTrail = try Self.cloudTrailClient(
            over: secretsManager.jsonClient, environment: environment,
            allowInsecureEndpoint: targets.config.allowInsecureEndpoint, logger: logger)

        // Each configured secret's full ARN, once: records name a secret by name, ARN or partial ARN.
        var resolved: [AccessTarget] = []
        for secret in targets.secrets {
            let description: SecretDescription?
            do {
                description = try await secretsManager.describeSecret(id: secret.id)
            } catch {
                guard error.category == .notFound else { throw error }
                description = nil
            }
            resolved.append(
                AccessTarget(
                    id: secret.id, name: description?.name ?? SecretName(secret.id).name, arn: description?.arn))
        }

        let start = now.addingTimeInterval(-TimeInterval(days) * 86_400)
        var ledger = AccessLedger(targets: resolved)
        let totals: CloudTrailClient.Totals
        do {
            totals = try await cloudTrail.lookupEvents(.eventSource(Self.eventSource, from: start, to: now)) {
                for event in $0 { ledger.add(event) }
            }
        } catch {
            guard error.category == .accessDenied else { throw error }
            throw CommandExit(
                .notFoundOrDenied,
                "CloudTrail denied LookupEvents (\(error.code ?? "AccessDenied")): these credentials need cloudtrail:LookupEvents on *\(error.awsMessage.map { " (AWS: \($0))" } ?? "")"
            )
        }
        let report = ledger.report(
            expected: expected, requireVPCEndpoint: requireVPCEndpoint, days: days, start: start, end: now,
            region: cloudTrail.configuration.region, lookup: totals)
        StandardStream.output.write(Array(report.render(format).utf8))
        if report.failed { throw CommandExit(.failure) }
    }

    /// CloudTrail in the primary region, with the Secrets Manager client's credentials, transport,
    /// clock and retry budget: `AWS_ENDPOINT_URL_CLOUDTRAIL`, `AWS_ENDPOINT_URL`, else the regional
    /// endpoint, under the same rule (plain http only to loopback, unless `allowInsecureEndpoint`).
    public static func cloudTrailClient(
        over primary: AWSJSONClient, environment: [String: String], allowInsecureEndpoint: Bool, logger: Logger
    ) throws -> CloudTrailClient {
        let endpoint = try AWSSetup.checked(
            Endpoint.resolve(
                environment: environment, configured: nil, region: primary.configuration.region, service: .cloudTrail),
            allowInsecureEndpoint, logger)
        return CloudTrailClient(primary.client(for: .cloudTrail, endpoint: endpoint))
    }
}
