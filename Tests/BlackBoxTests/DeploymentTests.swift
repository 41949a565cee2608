import Foundation
import TestSupport
import Testing

/// The deployment artifacts, checked offline by `scripts/deploy_checks.py` (botocore, parliament,
/// docker-compose) and by the binary itself.
@Suite struct DeploymentTests {
    static let script = Repository.root.appendingPathComponent("scripts/deploy_checks.py").path
    static let environment = ProcessInfo.processInfo.environment

    func check(_ what: String) async throws -> CommandResult {
        try await run("/usr/bin/env", ["python3", Self.script, what], environment: Self.environment, timeout: 120)
    }

    @Test(.enabled(if: pythonHasModule("botocore"), "botocore is not installed"))
    func taskDefinitionsPassBotocoreAndTheCrossChecks() async throws {
        let result = try await check("task-definitions")
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test(.enabled(if: pythonHasModule("parliament"), "parliament is not installed"))
    func policiesPassParliamentAndCoverTheExampleWithNoMore() async throws {
        let result = try await check("iam")
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/docker-compose"),
            "docker-compose is not installed"))
    func composeFileIsValidAndMatchesTheReadme() async throws {
        let result = try await check("compose")
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test func everyInlineConfigurationPassesCheck() async throws {
        let listed = try await check("inline-configs")
        try #require(listed.status == 0, "\(listed.stderr)")
        let lines = listed.stdout.split(separator: "\n")
        #expect(lines.count == 4, "init-container, sidecar, fargate and exec")
        for line in lines {
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            let result = try await run(
                BlackBox.binary, ["check"], environment: ["SECRETS_INJECTOR_CONFIG": entry["config"] ?? ""])
            #expect(result.status == 0, "\(entry["file"] ?? ""): \(result.stderr)")
        }
    }

    /// The image ships what the tests ran: its build stage uses the compiler these tests were built
    /// with (6.3.1's -O once miscompiled a refresh round that 6.2 might not, or the other
    /// way round).
    @Test func theImageIsBuiltWithTheCompilerTheTestsUse() async throws {
        let dockerfile = try String(
            contentsOf: Repository.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let image = dockerfile.split(separator: "\n").first { $0.hasPrefix("FROM swift:") && $0.hasSuffix(" AS build") }
        let tag = try #require(image?.dropFirst("FROM swift:".count).split(separator: " ").first)
        let version = try await run("/usr/bin/env", ["swift", "--version"], environment: Self.environment)
        let compiler = try #require(
            version.stdout.split(separator: " ").drop { $0 != "version" }.dropFirst().first, "\(version.stdout)")
        #expect(
            tag == "\(compiler)-bookworm", "the Dockerfile builds with swift:\(tag), the tests with Swift \(compiler)")
    }

    /// The files the checker reads, copied, for a test to break.
    func copyOfTheArtifacts() throws -> String {
        let folder = try BlackBox.temporaryFolder()
        for item in ["scripts", "examples", "task-definitions", "Dockerfile", "docs", "docker-compose.yml"] {
            try FileManager.default.copyItem(
                atPath: Repository.root.appendingPathComponent(item).path, toPath: "\(folder)/\(item)")
        }
        return folder
    }

    @Test(.enabled(if: pythonHasModule("parliament"), "parliament is not installed"))
    func theChecksCatchAPolicyThatCannotReadTheSecrets() async throws {
        // A Resource without the ARN's random suffix matches no real secret; an extra action is
        // more than the configuration calls.
        let folder = try copyOfTheArtifacts()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let policy = #"""
            {"Version": "2012-10-17", "Statement": [
              {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
               "Resource": ["arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database",
                            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/zoho-*",
                            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/currency-*",
                            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/jwt-*"]},
              {"Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"}]}
            """#
        try policy.write(
            toFile: "\(folder)/task-definitions/iam/task-role-policy-minimal.json", atomically: true, encoding: .utf8)
        let result = try await run(
            "/usr/bin/env", ["python3", "\(folder)/scripts/deploy_checks.py", "iam"], environment: Self.environment)
        #expect(result.status == 1)
        for expected in [
            "task-role-policy-minimal.json: does not allow secretsmanager:GetSecretValue on arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-Xy9AbC",
            "task-role-policy-minimal.json: grants ['secretsmanager:ListSecrets'], which the configuration never calls",
            "task-role-policy-minimal.json: must be exactly the migration document's policy",
        ] {
            #expect(result.stdout.contains(expected), "\(expected): \(result.stdout)")
        }
        #expect(!result.stdout.contains("pipeline-pulse/prod/zoho"), "zoho-* covers the real ARN")
    }

    @Test func theChecksCatchABrokenTaskDefinition() async throws {
        // The checker itself: a task definition with a dangling volume, a secret in the
        // environment and a wrong dependsOn must be reported (run on a copy).
        let folder = try copyOfTheArtifacts()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/task-definitions/sidecar.json"
        var task =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var containers = task["containerDefinitions"] as! [[String: Any]]
        containers[1]["environment"] = [["name": "DB_PASSWORD", "value": "hunter2-hunter2"]]
        containers[1]["dependsOn"] = [["containerName": "secrets-injector", "condition": "START"]]
        containers[1]["mountPoints"] = [["sourceVolume": "nowhere", "containerPath": "/run/secrets", "readOnly": true]]
        task["containerDefinitions"] = containers
        task["cpu"] = 512  // botocore: must be a string
        var volumes = task["volumes"] as! [[String: Any]]
        var volume = volumes[0]["dockerVolumeConfiguration"] as! [String: Any]
        volume["driverOpts"] = ["type": "tmpfs", "device": "tmpfs", "o": "size=16m,mode=0777,uid=0,gid=1000"]
        volumes[0]["dockerVolumeConfiguration"] = volume
        task["volumes"] = volumes
        try JSONSerialization.data(withJSONObject: task).write(to: URL(fileURLWithPath: path))
        if pythonHasModule("botocore") {
            let result = try await run(
                "/usr/bin/env", ["python3", "\(folder)/scripts/deploy_checks.py", "task-definitions"],
                environment: Self.environment)
            #expect(result.status == 1)
            for expected in [
                "botocore", "DB_PASSWORD looks like a secret", "mounts unknown volume nowhere",
                "does not wait for the injector (HEALTHY)", "is not owned by the injector's uid 10001",
                "mode 0o777 lets others write into the output folder",
            ] {
                #expect(result.stdout.contains(expected), "\(expected): \(result.stdout)")
            }
        }
    }

    static let hasTemplateCheckers =
        pythonHasModule("botocore") && pythonHasModule("parliament") && pythonHasModule("yaml")

    /// The CloudFormation template rendered with test parameters: each mode's task
    /// definition equal to its JSON file and through the same checks, the roles' policies equal to
    /// task-definitions/iam (parliament, botocore's CreateRole and PutRolePolicy), the alarms equal
    /// to alarms.json on metrics the injector writes, rotation as alternating users when asked.
    @Test(.enabled(if: hasTemplateCheckers, "botocore, parliament or PyYAML is not installed"))
    func theTemplateIsTheJSONDeployment() async throws {
        let result = try await check("cloudformation")
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test(.enabled(if: hasTemplateCheckers, "botocore, parliament or PyYAML is not installed"))
    func theChecksCatchABrokenTemplate() async throws {
        let folder = try copyOfTheArtifacts()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/task-definitions/cloudformation/secrets-injector.yaml"
        var template = try String(contentsOfFile: path, encoding: .utf8)
        for (from, to) in [
            ("ReadonlyRootFilesystem: true", "ReadonlyRootFilesystem: false"),
            ("MetricName: FetchFailure\n", "MetricName: FetchFailures\n"),
            (
                "[secretsmanager:GetSecretValue, secretsmanager:DescribeSecret]",
                "[secretsmanager:GetSecretValue, secretsmanager:ListSecrets]"
            ),
            ("RotationType: PostgreSQLMultiUser", "RotationType: PostgreSQLSingleUser"),
            ("User: !Ref AppUser", "User: \"0:1000\""),
            ("\"aws:RequestedRegion\"", "\"aws:SourceVpc\""),
        ] {
            #expect(template.contains(from), "\(from)")
            template = template.replacingOccurrences(of: from, with: to)
        }
        try template.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await run(
            "/usr/bin/env", ["python3", "\(folder)/scripts/deploy_checks.py", "cloudformation"],
            environment: Self.environment, timeout: 120)
        #expect(result.status == 1)
        for expected in [
            "containerDefinitions[0].readonlyRootFilesystem is false, init-container.json has true",
            "(sidecar.json): the injector's root filesystem is writable",
            "(init on FARGATE): pipeline-pulse-backend runs as root",
            "pipeline-pulse-secrets-fetch-failures: the injector writes no metric FetchFailures",
            "TaskRole's policy is not task-role-policy.json",
            "grants ['secretsmanager:ListSecrets'], which the configuration never calls",
            "with FailoverRegions, reads must be limited to the regions named",
            "rotation must be PostgreSQLMultiUser",
        ] {
            #expect(result.stdout.contains(expected), "\(expected): \(result.stdout)")
        }
    }

    /// Each mode's volume on EC2 (docs/deploying.md, "A tmpfs volume does not outlive its last
    /// container"): Docker unmounts a tmpfs volume, contents and all, when its last container stops,
    /// so an init container's tmpfs would leave the app an empty folder; the sidecar keeps its tmpfs
    /// mounted. The JSON file and the template turned back to a tmpfs for the init container
    /// together (equal to each other) are still caught, and so is a sidecar on the instance's disk
    /// or a volume that outlives the task.
    @Test(.enabled(if: hasTemplateCheckers, "botocore, parliament or PyYAML is not installed"))
    func theChecksKeepEachModesVolume() async throws {
        let folder = try copyOfTheArtifacts()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func edit(_ file: String, _ change: (inout [String: Any]) -> Void) throws {
            let path = "\(folder)/task-definitions/\(file)"
            var task =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
            var volumes = task["volumes"] as! [[String: Any]]
            var volume = volumes[0]["dockerVolumeConfiguration"] as! [String: Any]
            change(&volume)
            volumes[0]["dockerVolumeConfiguration"] = volume
            task["volumes"] = volumes
            try JSONSerialization.data(withJSONObject: task).write(to: URL(fileURLWithPath: path))
        }
        try edit("init-container.json") {
            #expect($0["driverOpts"] == nil, "init-container.json's volume is disk-backed")
            $0["driverOpts"] = ["type": "tmpfs", "device": "tmpfs", "o": "size=16m,mode=0750,uid=10001,gid=1000"]
        }
        try edit("sidecar.json") {
            #expect(($0["driverOpts"] as? [String: String])?["type"] == "tmpfs", "sidecar.json's volume is a tmpfs")
            $0["driverOpts"] = nil
            $0["scope"] = "shared"
        }
        let path = "\(folder)/task-definitions/cloudformation/secrets-injector.yaml"
        var template = try String(contentsOfFile: path, encoding: .utf8)
        let perMode = """
                          DriverOpts: !If
                            - IsSidecar
                            - type: tmpfs
                              device: tmpfs
                              o: !Sub "size=16m,mode=0750,uid=10001,gid=${SecretsGroupId}"
                            - !Ref AWS::NoValue
            """
        let alwaysTmpfs = """
                          DriverOpts:
                            type: tmpfs
                            device: tmpfs
                            o: !Sub "size=16m,mode=0750,uid=10001,gid=${SecretsGroupId}"
            """
        #expect(template.contains(perMode))
        template = template.replacingOccurrences(of: perMode, with: alwaysTmpfs)
        try template.write(toFile: path, atomically: true, encoding: .utf8)

        let files = try await run(
            "/usr/bin/env", ["python3", "\(folder)/scripts/deploy_checks.py", "task-definitions"],
            environment: Self.environment)
        #expect(files.status == 1)
        for expected in [
            "init-container.json: volume secrets is a tmpfs, unmounted with its contents when the init container exits",
            "sidecar.json: volume secrets is not task-scoped",
            "sidecar.json: volume secrets puts the sidecar's secrets on the instance's disk",
        ] {
            #expect(files.stdout.contains(expected), "\(expected): \(files.stdout)")
        }
        let rendered = try await run(
            "/usr/bin/env", ["python3", "\(folder)/scripts/deploy_checks.py", "cloudformation"],
            environment: Self.environment, timeout: 120)
        #expect(rendered.status == 1)
        #expect(
            rendered.stdout.contains(
                "secrets-injector.yaml (init-container.json): volume secrets is a tmpfs, unmounted with its contents"),
            "\(rendered.stdout)")
        #expect(!rendered.stdout.contains("(fargate.json)"), "\(rendered.stdout)")
    }

    @Test(.enabled(if: pythonHasModule("botocore"), "botocore is not installed"))
    func theChecksCatchBrokenAlarms() async throws {
        let folder = try copyOfTheArtifacts()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/task-definitions/alarms.json"
        var alarms =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [[String: Any]]
        alarms[0]["Threshold"] = "zero"  // botocore: a number
        alarms[0]["Namespace"] = "SecretInjector"
        alarms.removeAll { $0["MetricName"] as? String == "RequestsRefused" }
        alarms.removeAll { ($0["AlarmName"] as? String)?.hasSuffix("-jwt") == true }
        try JSONSerialization.data(withJSONObject: alarms).write(to: URL(fileURLWithPath: path))
        let result = try await run(
            "/usr/bin/env", ["python3", "\(folder)/scripts/deploy_checks.py", "task-definitions"],
            environment: Self.environment)
        #expect(result.status == 1)
        for expected in [
            "Invalid type for parameter Threshold", "namespace SecretInjector is not the example's SecretsInjector",
            "no alarm on RequestsRefused", "no SecretAge alarm for pipeline-pulse/prod/jwt",
        ] {
            #expect(result.stdout.contains(expected), "\(expected): \(result.stdout)")
        }
    }
}
