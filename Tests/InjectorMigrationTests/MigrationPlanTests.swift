import InjectorBase
import InjectorConfig
import Testing

@testable import InjectorMigration

/// `migrate`'s decisions offline: carried `secrets[]`, the sidecar's deployment, the shell wrapper,
/// the describe form, and what `check` must accept.
struct MigrationPlanTests {
    static let describeForm = """
        {"taskDefinition": {
          "taskDefinitionArn": "arn:aws:ecs:ap-southeast-1:123456789012:task-definition/api:41",
          "family": "api", "revision": 41, "status": "ACTIVE", "compatibilities": ["EC2", "FARGATE"],
          "requiresAttributes": [{"name": "ecs.capability.secrets.asm.environment-variables"}],
          "registeredAt": 1700000000.0, "registeredBy": "arn:aws:iam::123456789012:user/ops",
          "executionRoleArn": "arn:aws:iam::123456789012:role/api-execution",
          "requiresCompatibilities": ["EC2"],
          "containerDefinitions": [{
            "name": "api", "image": "api:1", "user": "1000:2000", "command": ["python", "-m", "api"],
            "environment": [
              {"name": "LOG_LEVEL", "value": "info"},
              {"name": "STRIPE_API_KEY", "value": "a-plain-and-sh-safe-key"},
              {"name": "SESSION_SECRET", "value": "another plain value"}
            ],
            "secrets": [
              {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/db-AbCdEf:password::"},
              {"name": "LEGACY", "valueFrom": "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/legacy"},
              {"name": "FEATURE_FLAGS", "valueFrom": "arn:aws:ssm:ap-southeast-1:123456789012:parameter/api/flags"},
              {"name": "SMTP_PASSWORD", "valueFrom": "smtp-password"},
              {"name": "EU_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/api/eu-key"},
              {"name": "ODD", "valueFrom": "arn:aws:s3:::bucket/key"}
            ]
          }]
        }}
        """

    func plan(mode: MigrationOptions.Mode, launchType: String = "EC2") throws -> MigrationPlan {
        var options = MigrationOptions(taskDefinition: "api.json", prefix: "api/prod/", image: "injector:1")
        options.mode = mode
        options.region = "ap-southeast-1"
        let form = Self.describeForm.replacing(
            #""requiresCompatibilities": ["EC2"]"#, with: #""requiresCompatibilities": ["\#(launchType)"]"#)
        return try MigrationPlan(options: options, bytes: Array(form.utf8))
    }

    @Test func carriedSecretsAndTheSidecarsDeployment() throws {
        let plan = try plan(mode: .sidecar)
        #expect(plan.moved.map(\.name) == ["STRIPE_API_KEY", "SESSION_SECRET"])
        #expect(plan.secrets.map(\.name) == ["api/prod/stripe-api-key", "api/prod/session-secret"])
        #expect(plan.carried.map(\.name) == ["DB_PASSWORD", "LEGACY", "FEATURE_FLAGS", "SMTP_PASSWORD", "EU_KEY"])
        // ECS reads a bare valueFrom from Parameter Store: the injector's form says so.
        #expect(plan.carried[3].valueFrom == "parameter/smtp-password")
        // What is neither stays with ECS.
        #expect(plan.apps.first?.leftToECS.map(\.name) == ["ODD"])

        let config = plan.injectorConfig
        let entries = config["env"]?["entries"]
        #expect(
            entries
                == .array([
                    .fields(["name": .string("STRIPE_API_KEY"), "valueFrom": .string("api/prod/stripe-api-key")]),
                    .fields(["name": .string("SESSION_SECRET"), "valueFrom": .string("api/prod/session-secret")]),
                    .fields([
                        "name": .string("DB_PASSWORD"),
                        "valueFrom": .string(
                            "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/db-AbCdEf:password::"),
                    ]),
                    .fields([
                        "name": .string("LEGACY"),
                        "valueFrom": .string("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/legacy"),
                    ]),
                    .fields([
                        "name": .string("FEATURE_FLAGS"),
                        "valueFrom": .string("arn:aws:ssm:ap-southeast-1:123456789012:parameter/api/flags"),
                    ]),
                    .fields(["name": .string("SMTP_PASSWORD"), "valueFrom": .string("parameter/smtp-password")]),
                    .fields([
                        "name": .string("EU_KEY"),
                        "valueFrom": .string("arn:aws:ssm:eu-west-1:123456789012:parameter/api/eu-key"),
                    ]),
                ]))
        #expect(config["defaults"]?["gid"] == .number("2000"))
        #expect(config["server"]?["socketPath"] == .string("/run/secrets/injector.sock"))

        let policy = plan.taskRolePolicy()
        let statement = policy["Statement"].flatMap(TaskDefinition.elements)?.first
        #expect(
            statement?["Action"]
                == .array([.string("secretsmanager:GetSecretValue"), .string("secretsmanager:DescribeSecret")]))
        #expect(
            statement?["Resource"]
                == .array([
                    .string("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/prod/stripe-api-key-??????"),
                    .string("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/prod/session-secret-??????"),
                    .string("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/db-AbCdEf"),
                    .string("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:api/legacy-??????"),
                ]))
        let parameters = policy["Statement"].flatMap(TaskDefinition.elements)?.last
        #expect(parameters?["Action"] == .array([.string("ssm:GetParameters")]))
        #expect(
            parameters?["Resource"]
                == .array([
                    .string("arn:aws:ssm:ap-southeast-1:123456789012:parameter/api/flags"),
                    .string("arn:aws:ssm:ap-southeast-1:123456789012:parameter/smtp-password"),
                    .string("arn:aws:ssm:eu-west-1:123456789012:parameter/api/eu-key"),
                ]))

        let definition = plan.taskDefinitionJSON
        for key in TaskDefinition.readOnlyKeys { #expect(definition[key] == nil, "\(key)") }
        let containers = definition["containerDefinitions"].flatMap(TaskDefinition.elements) ?? []
        let injector = try #require(containers.first)
        #expect(injector["essential"] == .bool(true) && injector["command"] == .array([.string("run")]))
        #expect(
            injector["healthCheck"]?["command"]?.serialized == #"["CMD","/usr/local/bin/secrets-injector","health"]"#)
        let app = try #require(containers.last)
        #expect(app["dependsOn"]?.serialized == #"[{"containerName":"secrets-injector","condition":"HEALTHY"}]"#)
        #expect(app["environment"]?.serialized == #"[{"name":"LOG_LEVEL","value":"info"}]"#)
        // Only what is neither a secret nor a parameter stays with ECS.
        #expect(app["secrets"].flatMap(TaskDefinition.elements)?.compactMap { $0["name"]?.text } == ["ODD"])
        #expect(definition["volumes"]?.serialized.contains("uid=10001,gid=2000") == true)
    }

    @Test func theCommandIsWrappedWhenShReadsEveryValueBack() throws {
        let plan = try plan(mode: .initContainer)
        let app = try #require(plan.taskDefinitionJSON["containerDefinitions"].flatMap(TaskDefinition.elements)?.last)
        #expect(
            app["command"]?.serialized
                == #"["/bin/sh","-c","set -a && . /run/secrets/secrets.env && set +a && exec \"$0\" \"$@\"","python","-m","api"]"#
        )
        #expect(app["dependsOn"]?.serialized == #"[{"containerName":"secrets-injector","condition":"SUCCESS"}]"#)
        let guide = Migration.guide(plan, folder: "migration", applied: false, command: "secrets-injector migrate")
        #expect(guide.contains("No code change is needed"))
        #expect(guide.contains("ODD") && guide.contains("# Migration of api (revision 41)"))
    }

    /// The output volume by mode and launch type, as `task-definitions/` has it: Docker unmounts a
    /// tmpfs, contents and all, when its last container stops, so only the sidecar, which keeps it
    /// mounted, gets one on EC2; the init container's is a task-scoped volume on the instance's disk.
    @Test func eachModeGetsAVolumeThatOutlivesTheInjectorsWrite() throws {
        let tmpfs =
            #"{"name":"secrets","dockerVolumeConfiguration":{"scope":"task","driver":"local","driverOpts":"#
            + #"{"type":"tmpfs","device":"tmpfs","o":"size=16m,mode=0750,uid=10001,gid=2000"}}}"#
        let cases: [(MigrationOptions.Mode, String, String, String)] = [
            (.sidecar, "EC2", tmpfs, "a task-scoped tmpfs: the files are in memory only"),
            (
                .initContainer, "EC2",
                #"{"name":"secrets","dockerVolumeConfiguration":{"scope":"task","driver":"local"}}"#,
                "a task-scoped Docker volume on the instance's disk: a tmpfs would be unmounted"
            ),
            (.initContainer, "FARGATE", #"{"name":"secrets"}"#, "on the task's ephemeral storage"),
            (.sidecar, "FARGATE", #"{"name":"secrets"}"#, "on the task's ephemeral storage"),
        ]
        for (mode, launchType, volume, medium) in cases {
            let plan = try plan(mode: mode, launchType: launchType)
            let volumes = plan.taskDefinitionJSON["volumes"].flatMap(TaskDefinition.elements) ?? []
            #expect(volumes.map(\.serialized) == [volume], "\(mode) on \(launchType)")
            let guide = Migration.guide(plan, folder: "migration", applied: false, command: "secrets-injector migrate")
            #expect(guide.contains("The volume is " + medium), "\(mode) on \(launchType)")
            if launchType == "FARGATE" { #expect(!guide.contains("tmpfs"), "\(mode) on \(launchType)") }
        }
    }

    @Test func theConfigurationIsOneCheckAccepts() throws {
        let plan = try plan(mode: .sidecar)
        // The configuration reader `check` runs: every section valid, and the plan it prints.
        let config = try Config(document: plan.injectorConfig)
        #expect(
            config.env.first?.entries.map(\.name) == [
                "STRIPE_API_KEY", "SESSION_SECRET", "DB_PASSWORD", "LEGACY", "FEATURE_FLAGS", "SMTP_PASSWORD", "EU_KEY",
            ])
    }
}
