import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// Finding 8: on ECS the task role is every container's, the app's too. The stack granted
    /// `GetSecretValue` on `SecretNamePrefix*` by default, so the app could read, straight from
    /// Secrets Manager, secrets the injector never serves; and it lacked `ssm:GetParametersByPath`,
    /// parameters in other regions and `kms:ViaService` for the failover regions. The template is
    /// rendered as CloudFormation would (`scripts/deploy_checks.py render`) and its task role read
    /// as IAM evaluates it.
    @Test(
        "8. the stack's task role reads the secrets named by ARN unless the prefix is chosen, and each region it reads in",
        .enabled(if: pythonHasModule("yaml"), "PyYAML is not installed"))
    func stackTaskRoleReadsOnlyTheNamedSecrets() async throws {
        let (region, replica, account) = ("ap-southeast-1", "ap-south-1", "123456789012")
        func secret(_ name: String, in region: String = region) -> String {
            "arn:aws:secretsmanager:\(region):\(account):secret:pipeline-pulse/prod/\(name)"
        }
        let arns = ["database-Ab12Cd", "zoho-Ef34Gh", "currency-Ij56Kl", "jwt-Mn78Op"].map { secret($0) }
        let other = secret("billing-Qr90St")

        // By default nothing is deployed until the secrets are named: one line says how.
        let refused = try await Self.render([:])
        #expect(refused.status == 1, "the defaults deploy a task role: \(refused.stdout)")
        #expect(
            refused.stdout.contains("SecretArns") && refused.stdout.contains("SecretAccess=prefix"), "\(refused.stdout)"
        )

        // Named by ARN: those secrets alone; `*` only for BatchGetSecretValue, which has no
        // resource-level permissions (AWS checks GetSecretValue on each secret it returns).
        let named = try await Self.taskRole(["SecretArns": arns.joined(separator: ",")])
        for arn in arns {
            #expect(Self.allows(named, "secretsmanager:GetSecretValue", arn, in: region), "\(arn)")
        }
        #expect(!Self.allows(named, "secretsmanager:GetSecretValue", other, in: region), "the app reads \(other)")
        for statement in named {
            let resources = Self.list(statement["Resource"])
            #expect(
                !resources.contains { $0.contains(":secret:") && ($0.contains("*") || $0.contains("?")) },
                "a wildcard secret: \(resources)")
            if resources.contains(where: { $0.contains("*") }) {
                #expect(Self.list(statement["Action"]) == ["secretsmanager:BatchGetSecretValue"], "\(statement)")
            }
        }

        // The prefix is an explicit choice.
        let prefix = try await Self.taskRole(["SecretAccess": "prefix"])
        #expect(Self.allows(prefix, "secretsmanager:GetSecretValue", other, in: region))

        // Parameter Store: discovery under the path, and parameters in another region.
        let withParameters = try await Self.taskRole([
            "SecretArns": (arns + [secret("database-Ab12Cd", in: replica)]).joined(separator: ","),
            "FailoverRegions": replica, "ParameterNamePrefix": "/pipeline-pulse/prod/", "ParameterRegions": "us-east-1",
            "KmsKeyArn": "arn:aws:kms:\(region):\(account):key/1111,arn:aws:kms:\(replica):\(account):key/2222",
        ])
        let path = "arn:aws:ssm:\(region):\(account):parameter/pipeline-pulse/prod/"
        #expect(Self.allows(withParameters, "ssm:GetParametersByPath", path, in: region), "parameterPath discovery")
        #expect(
            Self.allows(
                withParameters, "ssm:GetParameters", "arn:aws:ssm:us-east-1:\(account):parameter/pipeline-pulse/prod/x",
                in: "us-east-1"), "a parameter in us-east-1")
        #expect(
            !Self.allows(
                withParameters, "ssm:GetParameters", "arn:aws:ssm:eu-west-1:\(account):parameter/pipeline-pulse/prod/x",
                in: "eu-west-1"), "a parameter in a region not named")
        #expect(
            Self.allows(
                withParameters, "secretsmanager:GetSecretValue", secret("database-Ab12Cd", in: replica), in: replica))

        // kms:Decrypt on each region's key, through the services of each region that reads.
        let decrypt = withParameters.filter { Self.list($0["Action"]).contains("kms:Decrypt") }
        #expect(decrypt.count == 1)
        let condition = decrypt.first?["Condition"] as? [String: [String: Any]]
        let via = Set(Self.list(condition?["StringEquals"]?["kms:ViaService"]))
        #expect(
            via == [
                "secretsmanager.\(region).amazonaws.com", "secretsmanager.\(replica).amazonaws.com",
                "ssm.\(region).amazonaws.com", "ssm.us-east-1.amazonaws.com",
            ], "\(via)")
        #expect(Set(decrypt.flatMap { Self.list($0["Resource"]) }).count == 2)
    }

    /// `deploy_checks.py render` with `parameters`: its status and output.
    static func render(_ parameters: [String: String]) async throws -> CommandResult {
        try await run(
            "/usr/bin/env",
            ["python3", Repository.root.appendingPathComponent("scripts/deploy_checks.py").path, "render"]
                + parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" },
            environment: ProcessInfo.processInfo.environment, timeout: 120)
    }

    /// The task role's statements, the template rendered with `parameters`.
    static func taskRole(_ parameters: [String: String]) async throws -> [[String: Any]] {
        let result = try await render(parameters)
        try #require(result.status == 0, "\(parameters): \(result.stdout)\(result.stderr)")
        let stack = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let role = (stack["Resources"] as? [String: Any])?["TaskRole"] as? [String: Any]
        let policy = (role?["Policies"] as? [[String: Any]])?.first?["PolicyDocument"] as? [String: Any]
        return try #require(policy?["Statement"] as? [[String: Any]])
    }

    static func list(_ value: Any?) -> [String] {
        (value as? [String]) ?? (value as? String).map { [$0] } ?? []
    }

    /// IAM's answer for `action` on `resource` in `region`, for the policies the template writes:
    /// Allow statements, `*` and `?` in actions and resources, and `aws:RequestedRegion`.
    static func allows(_ statements: [[String: Any]], _ action: String, _ resource: String, in region: String) -> Bool {
        statements.contains { statement in
            let regions =
                ((statement["Condition"] as? [String: [String: Any]])?["StringEquals"]?["aws:RequestedRegion"])
            return statement["Effect"] as? String == "Allow"
                && list(statement["Action"]).contains { glob($0, matches: action) }
                && list(statement["Resource"]).contains { glob($0, matches: resource) }
                && (regions == nil || list(regions).contains(region))
        }
    }

    /// IAM's wildcards: `*` any run of characters, `?` one.
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let (pattern, text) = (Array(pattern), Array(text))
        var reachable = [true] + Array(repeating: false, count: text.count)
        for character in pattern {
            var next = Array(repeating: false, count: text.count + 1)
            for index in 0...text.count {
                if character == "*" {
                    next[index] = reachable[index] || (index > 0 && next[index - 1])
                } else if index > 0 {
                    next[index] = reachable[index - 1] && (character == "?" || character == text[index - 1])
                }
            }
            reachable = next
        }
        return reachable[text.count]
    }
}
