import InjectorBase
public import InjectorConfig
import InjectorJob
import InjectorSources
import Logging
import SecretsManager

/// `review permissions`: who can read each configured secret, evaluated locally from IAM's
/// account authorization details, the secret's resource policy and its KMS key's policy.
public struct PermissionReviewCommand: Sendable {
    public var expectedPrincipals: [String]
    public var taskDefinition: String?
    public var format: String

    public init(expectedPrincipals: [String], taskDefinition: String?, format: String) {
        self.expectedPrincipals = expectedPrincipals
        self.taskDefinition = taskDefinition
        self.format = format
    }

    /// The flags checked first, then the configured secrets resolved, the account's details read
    /// (every page), each secret's ARN, key, resource policy and key policy read, and the report
    /// printed. Exit 1 when there is a finding; 3 when a call is refused, naming its permission.
    public func run(environment: [String: String], config: () throws -> Config) async throws {
        guard let format = Reviewer.Format(rawValue: format) else {
            throw CommandExit(.usage, "--format \(format): use text, json or markdown")
        }
        let expected = try expectedSet()
        let targets = try await ReviewTargets.resolve(environment: environment, config: config)
        let logger = Logger(label: "secrets-injector.review")
        let secretsManager = targets.clients.primary
        let iam = IAMClient(
            try AWSSetup.client(
                for: .identity, beside: secretsManager.jsonClient, environment: environment,
                allowInsecureEndpoint: targets.config.allowInsecureEndpoint, logger: logger))
        let kms = KMSClient(
            try AWSSetup.client(
                for: .keyManagement, beside: secretsManager.jsonClient, environment: environment,
                allowInsecureEndpoint: targets.config.allowInsecureEndpoint, logger: logger))
        var secrets: [SecretPolicies] = []
        let account: IAMAccount
        do {
            account = IAMAccount(try await iam.accountAuthorizationDetails())
            for secret in targets.secrets {
                secrets.append(try await Self.policies(of: secret.id, secretsManager: secretsManager, kms: kms))
            }
        } catch {
            throw Self.refusal(error)
        }
        let reviews = secrets.map { PermissionReview.review($0, account: account, expected: expected) }
        StandardStream.output.write(Array(PermissionReport.render(reviews, format: format).utf8))
        if reviews.contains(where: { !$0.findings.isEmpty }) { throw CommandExit(.failure) }
    }

    /// The principals whose reads are expected (``AccessPrincipal/expected(arns:taskDefinition:)``,
    /// normalized: a role or user without its path). Neither flag is a usage error: without them
    /// every reader would be a finding.
    func expectedSet() throws -> Set<String> {
        Set(try AccessPrincipal.expected(arns: expectedPrincipals, taskDefinition: taskDefinition))
    }

    /// What one secret's review reads: `DescribeSecret` (ARN, `KmsKeyId`), `GetResourcePolicy`,
    /// and for a key other than the default `DescribeKey`, then for a customer managed one
    /// `GetKeyPolicy`.
    static func policies(of id: String, secretsManager: SecretsManagerClient, kms: KMSClient) async throws
        -> SecretPolicies
    {
        let description = try await secretsManager.describeSecret(id: id)
        let resourcePolicy = try await secretsManager.getResourcePolicy(id: id).flatMap {
            $0.isEmpty ? nil : try PolicyDocument.parse($0, source: "\(description.name): resource policy")
        }
        var key = SecretPolicies.Key.awsManaged(nil)
        if let keyID = description.kmsKeyID, !keyID.isEmpty {
            let described = try await kms.describeKey(id: keyID)
            if described.customerManaged {
                let policy = try PolicyDocument.parse(
                    try await kms.keyPolicy(id: described.arn), source: "key policy of \(described.arn)")
                key = .customerManaged(arn: described.arn, policy: policy)
            } else {
                key = .awsManaged(described.arn)
            }
        }
        return SecretPolicies(id: id, arn: description.arn, key: key, resourcePolicy: resourcePolicy)
    }

    /// A refused call as one line naming the permission the reviewer needs (exit 3); any other
    /// failure as it is.
    static func refusal(_ error: any Error) -> any Error {
        if let unreadable = error as? PolicyDocument.Unreadable {
            return CommandExit(.failure, "review permissions: \(unreadable)")
        }
        guard let failure = AWSCallError(error), failure.category == .accessDenied, let service = failure.service
        else { return error }
        let operation = failure.operation ?? "the call"
        let resource = failure.resourceID.map { " on \($0)" } ?? ""
        let aws = failure.awsMessage.map { $0.isEmpty ? "" : " (AWS: \($0))" } ?? ""
        return CommandExit(
            .notFoundOrDenied,
            "review permissions: \(failure.code ?? "AccessDenied") for \(service.name) \(operation): the reviewer needs \(service.signingName):\(operation)\(resource)\(aws)"
        )
    }
}
