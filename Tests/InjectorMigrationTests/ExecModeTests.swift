import Foundation
import InjectorBase
import InjectorConfig
import TestSupport
import Testing

@testable import InjectorMigration

/// `migrate --mode exec`: the init container that installs the injector, the app's entry point, its
/// configuration and volumes; and `migrate verify --mode exec`, which runs exec and compares what it
/// prints, byte for byte.
struct ExecModeTests {
    func plan(
        mode: MigrationOptions.Mode = .exec, launchType: String = "EC2", form: String = MigrationPlanTests.describeForm
    ) throws -> MigrationPlan {
        var options = MigrationOptions(taskDefinition: "api.json", prefix: "api/prod/", image: "injector:1")
        options.mode = mode
        options.region = "ap-southeast-1"
        let form = form.replacing(
            #""requiresCompatibilities": ["EC2"]"#, with: #""requiresCompatibilities": ["\#(launchType)"]"#)
        return try MigrationPlan(options: options, bytes: Array(form.utf8))
    }

    func containers(_ plan: MigrationPlan) -> [JSONValue] {
        plan.taskDefinitionJSON["containerDefinitions"].flatMap(TaskDefinition.elements) ?? []
    }

    @Test func carriedSecretsAndTheExecDeployment() throws {
        let plan = try plan()
        let sidecar = try self.plan(mode: .sidecar)
        #expect(plan.moved.map(\.name) == ["STRIPE_API_KEY", "SESSION_SECRET"])
        #expect(plan.secrets.map(\.name) == ["api/prod/stripe-api-key", "api/prod/session-secret"])
        #expect(plan.carried.map(\.name) == ["DB_PASSWORD", "LEGACY", "FEATURE_FLAGS", "SMTP_PASSWORD", "EU_KEY"])
        #expect(plan.carried[3].valueFrom == "parameter/smtp-password")
        #expect(plan.apps.first?.leftToECS.map(\.name) == ["ODD"])

        // The same entries as the other modes; the files are the app's user's own, no server.
        let config = plan.injectorConfig
        #expect(config["env"]?["entries"] == sidecar.injectorConfig["env"]?["entries"])
        #expect(config["env"]?["entries"].flatMap(TaskDefinition.elements)?.count == 7)
        #expect(config["defaults"]?.serialized == #"{"mode":"0400"}"#)
        #expect(config["server"] == nil)
        #expect(config["outputDir"] == .string("/run/secrets"))

        // GetSecretValue only, on the same resources.
        let policy = plan.taskRolePolicy()
        let statement = policy["Statement"].flatMap(TaskDefinition.elements)?.first
        #expect(statement?["Action"] == .array([.string("secretsmanager:GetSecretValue")]))
        #expect(
            statement?["Resource"]
                == sidecar.taskRolePolicy()["Statement"].flatMap(TaskDefinition.elements)?.first?["Resource"])
        #expect(
            policy["Statement"].flatMap(TaskDefinition.elements)?.last
                == sidecar.taskRolePolicy()["Statement"].flatMap(TaskDefinition.elements)?.last)

        let definition = plan.taskDefinitionJSON
        for key in TaskDefinition.readOnlyKeys { #expect(definition[key] == nil, "\(key)") }
        #expect(definition["executionRoleArn"] == .string("arn:aws:iam::123456789012:role/api-execution"))
        let containers = containers(plan)
        #expect(containers.count == 2)
        let injector = try #require(containers.first)
        #expect(injector["name"] == .string("secrets-injector") && injector["image"] == .string("injector:1"))
        #expect(injector["essential"] == .bool(false))
        #expect(injector["command"]?.serialized == #"["install","/injector"]"#)
        #expect(injector["user"] == .string("0:0"))
        #expect(injector["environment"] == nil && injector["healthCheck"] == nil)
        #expect(
            injector["mountPoints"]?.serialized
                == #"[{"sourceVolume":"injector","containerPath":"/injector","readOnly":false}]"#)
        #expect(injector["readonlyRootFilesystem"] == .bool(true))
        #expect(injector["linuxParameters"]?["capabilities"]?.serialized == #"{"drop":["ALL"]}"#)

        let app = try #require(containers.last)
        #expect(app["entryPoint"]?.serialized == #"["/injector/secrets-injector","exec","--"]"#)
        // The command stays as it was: exec puts the variables in the environment, no sh wrapper.
        #expect(app["command"]?.serialized == #"["python","-m","api"]"#)
        #expect(app["dependsOn"]?.serialized == #"[{"containerName":"secrets-injector","condition":"SUCCESS"}]"#)
        let environment = app["environment"].flatMap(TaskDefinition.elements) ?? []
        #expect(environment.compactMap { $0["name"]?.text } == ["LOG_LEVEL", "SECRETS_INJECTOR_CONFIG"])
        #expect(environment.first?.serialized == #"{"name":"LOG_LEVEL","value":"info"}"#)
        // The configuration, as the init container gets it in the other modes: inline, names only.
        let inline = try JSONValue.parse(Array((environment.last?["value"]?.text ?? "").utf8))
        #expect(inline == config)
        _ = try Config(document: inline)
        #expect(app["secrets"].flatMap(TaskDefinition.elements)?.compactMap { $0["name"]?.text } == ["ODD"])
        #expect(
            app["mountPoints"]?.serialized
                == #"[{"sourceVolume":"secrets","containerPath":"/run/secrets","readOnly":false},"#
                + #"{"sourceVolume":"injector","containerPath":"/injector","readOnly":true}]"#)
        // The task definition holds no moved value.
        for variable in plan.moved {
            #expect(!plan.taskDefinitionJSON.serialized.contains(variable.value), "\(variable.name)")
        }

        let guide = Migration.guide(plan, folder: "migration", applied: false, command: "secrets-injector migrate")
        #expect(guide.contains("/injector/secrets-injector exec --") && guide.contains("no code change is needed"))
        #expect(
            guide.contains("migrate verify --task-definition api.json --config migration/injector.json --mode exec"))
        #expect(!guide.contains("/bin/sh -c") && guide.contains("# Migration of api (revision 41)"))
    }

    @Test func anEntryPointRunsAfterExecAndTheCommandStays() throws {
        let form = MigrationPlanTests.describeForm.replacing(
            #""command": ["python", "-m", "api"]"#,
            with: #""entryPoint": ["/docker-entrypoint.sh", "--quiet"], "command": ["serve"]"#)
        let app = try #require(containers(try plan(form: form)).last)
        #expect(
            app["entryPoint"]?.serialized
                == #"["/injector/secrets-injector","exec","--","/docker-entrypoint.sh","--quiet"]"#)
        #expect(app["command"]?.serialized == #"["serve"]"#)

        let entryOnly = MigrationPlanTests.describeForm.replacing(
            #""command": ["python", "-m", "api"]"#, with: #""entryPoint": ["/app/run"]"#)
        let only = try #require(containers(try plan(form: entryOnly)).last)
        #expect(only["entryPoint"]?.serialized == #"["/injector/secrets-injector","exec","--","/app/run"]"#)
        #expect(only["command"] == nil)
    }

    /// The image's entry point and command would both be dropped for exec's: refused, saying so.
    @Test func anAppThatNamesNothingToRunIsRefused() throws {
        let form = MigrationPlanTests.describeForm.replacing(#""command": ["python", "-m", "api"],"#, with: "")
        #expect(throws: InputError.self) { try plan(form: form) }
        do {
            _ = try plan(form: form)
        } catch {
            #expect("\(error)".contains("neither a command nor an entryPoint"))
        }
        // The other modes keep taking it.
        _ = try plan(mode: .initContainer, form: form)
    }

    @Test func severalAppsAreRefusedUnlessOneIsChosen() throws {
        let two = """
            {"family": "two", "requiresCompatibilities": ["EC2"], "containerDefinitions": [
              {"name": "web", "image": "web:1", "command": ["web"],
               "environment": [{"name": "STRIPE_API_KEY", "value": "sk-one"}]},
              {"name": "worker", "image": "worker:1", "command": ["work"],
               "environment": [{"name": "JWT_SECRET", "value": "jwt-two"}]}
            ]}
            """
        var options = MigrationOptions(taskDefinition: "two.json", prefix: "two/", image: "injector:1")
        options.mode = .exec
        options.region = "ap-southeast-1"
        do {
            _ = try MigrationPlan(options: options, bytes: Array(two.utf8))
            Issue.record("several apps were taken")
        } catch {
            #expect("\(error)".contains("web, worker") && "\(error)".contains("--container"))
        }
        options.container = "worker"
        let plan = try MigrationPlan(options: options, bytes: Array(two.utf8))
        #expect(plan.apps.map(\.name) == ["worker"])
        #expect(containers(plan).compactMap { $0["name"]?.text } == ["secrets-injector", "web", "worker"])
        #expect(containers(plan)[1]["entryPoint"] == nil)
    }

    /// The secrets' volume is only the app's, and exec writes it as the app's user; the install
    /// volume outlives the init container (disk, the executable only).
    @Test func theVolumesOfExec() throws {
        let install = #"{"name":"injector","dockerVolumeConfiguration":{"scope":"task","driver":"local"}}"#
        let cases: [(String, String, [String], String)] = [
            (
                "EC2", MigrationPlanTests.describeForm,
                [
                    #"{"name":"secrets","dockerVolumeConfiguration":{"scope":"task","driver":"local","driverOpts":"#
                        + #"{"type":"tmpfs","device":"tmpfs","o":"size=16m,mode=0700,uid=1000,gid=2000"}}}"#, install,
                ], "a task-scoped tmpfs mounted in the app's container alone"
            ),
            (
                "EC2", MigrationPlanTests.describeForm.replacing(#""user": "1000:2000", "#, with: ""),
                [
                    #"{"name":"secrets","dockerVolumeConfiguration":{"scope":"task","driver":"local","driverOpts":"#
                        + #"{"type":"tmpfs","device":"tmpfs","o":"size=16m,mode=1777"}}}"#, install,
                ], "a task-scoped tmpfs mounted in the app's container alone"
            ),
            (
                "FARGATE", MigrationPlanTests.describeForm, [#"{"name":"secrets"}"#, #"{"name":"injector"}"#],
                "on the task's ephemeral storage"
            ),
        ]
        for (launchType, form, volumes, medium) in cases {
            let plan = try plan(launchType: launchType, form: form)
            let written = plan.taskDefinitionJSON["volumes"].flatMap(TaskDefinition.elements) ?? []
            #expect(written.map(\.serialized) == volumes, "\(launchType)")
            let guide = Migration.guide(plan, folder: "migration", applied: false, command: "secrets-injector migrate")
            #expect(guide.contains("The volume is " + medium), "\(launchType)")
            if launchType == "FARGATE" {
                #expect(!guide.contains("tmpfs") && guide.contains("must be able to write `/run/secrets`"))
            }
        }
    }

    // MARK: verify --mode exec

    /// The old values, hostile: a newline, `$`, both quotes, a backslash, UTF-8, and one that is a
    /// JSON key of a secret (`ZOHO_CLIENT_SECRET`, grouped under `zoho`).
    static let hostile: [(name: String, value: String)] = [
        ("DATABASE_URL", "postgres://u:p%40ss@db:5432/app?x=$HOME"),
        ("MULTI_LINE_KEY", "-----BEGIN KEY-----\nline two\n-----END KEY-----\n"),
        ("QUOTED_SECRET", #"it's a "quoted" $VALUE \ with a backslash\n"#),
        ("JWT_SECRET", "jwt-sïgning-sécret-日本 ✓"),
        ("ZOHO_CLIENT_SECRET", #"zoho"client'secret"#),
        ("PLAIN_SETTING", "unchanged"),
    ]

    static func oldDefinition() -> [UInt8] {
        let environment = hostile.map { JSONValue.fields(["name": .string($0.name), "value": .string($0.value)]) }
        let definition = JSONValue.fields([
            "family": .string("hostile"),
            "containerDefinitions": .array([
                .fields([
                    "name": .string("app"), "image": .string("app:1"), "command": .array([.string("run")]),
                    "environment": .array(environment),
                    "secrets": .array([
                        .fields(["name": .string("CARRIED"), "valueFrom": .string("parameter/carried")])
                    ]),
                ])
            ]),
        ])
        return Array(definition.serialized.utf8)
    }

    /// A stand-in for the daemon: it records its arguments, prints `printed` (what exec adds) and
    /// then its own environment, NUL-separated, as `env -0` after exec would (less the `PWD` sh adds).
    static func fakeDaemon(printing printed: [(String, [UInt8])], in folder: String) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var bytes: [UInt8] = []
        for (name, value) in printed { bytes += Array("\(name)=".utf8) + value + [0] }
        try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/printed"))
        let script = "\(folder)/secrets-injector"
        try """
        #!/bin/sh
        printf '%s\\n' "$@" > "\(folder)/arguments"
        /usr/bin/env -u PWD -0 > "\(folder)/inherited"
        cat "\(folder)/printed" "\(folder)/inherited"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        return script
    }

    @Test func verifyExecComparesWhatExecPrintsByteForByte() async throws {
        let folder = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var printed = Self.hostile.filter { $0.name != "PLAIN_SETTING" }.map { ($0.name, Array($0.value.utf8)) }
        printed[0].1 += Array("#".utf8)  // one differs, by a byte at the end
        printed += [("CARRIED", Array("from ssm".utf8)), ("NEW_ONE", Array("x".utf8))]
        let daemon = try Self.fakeDaemon(printing: printed, in: folder)
        let environment = [
            "PATH": "/usr/bin:/bin", "AWS_REGION": "eu-west-1", "SECRETS_INJECTOR_CONFIG": "{}",
            "PLAIN_SETTING": "the operator's own", "JWT_SECRET": "the operator's own",
        ]
        let results = try await Migration.verifyExec(
            taskDefinition: Self.oldDefinition(), file: "old.json", configFile: "\(folder)/injector.json",
            environment: environment, daemon: daemon)
        #expect(results.map(\.name) == printed.map(\.0))
        #expect(results.map(\.equal) == [false, true, true, true, true, nil, nil])

        // exec ran once, writing nothing, with env -0 as the app.
        let arguments = try String(contentsOfFile: "\(folder)/arguments", encoding: .utf8)
        #expect(
            arguments.split(separator: "\n")
                == [
                    "exec", "--once", "--config", "\(folder)/injector.json", "--log-level", "error", "--",
                    "/usr/bin/env", "-0",
                ])
        // It got neither SECRETS_INJECTOR_* nor a name the old task definition sets: each name it
        // prints came from its configuration.
        let inherited = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/inherited"))
        let names = inherited.split(separator: 0).map {
            String(decoding: $0.prefix { $0 != UInt8(ascii: "=") }, as: UTF8.self)
        }
        #expect(names.contains("AWS_REGION") && names.contains("PATH"))
        #expect(!names.contains("SECRETS_INJECTOR_CONFIG") && !names.contains("PLAIN_SETTING"))
        #expect(!names.contains("JWT_SECRET"))
    }

    @Test func verifyExecEndsWithExecsCode() async throws {
        let folder = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let daemon = "\(folder)/secrets-injector"
        try "#!/bin/sh\necho 'secrets-injector: error: denied' >&2\nexit 3\n".write(
            toFile: daemon, atomically: true, encoding: .utf8)
        chmod(daemon, 0o755)
        do {
            _ = try await Migration.verifyExec(
                taskDefinition: Self.oldDefinition(), file: "old.json", configFile: "c.json", environment: [:],
                daemon: daemon)
            Issue.record("a failed exec compared")
        } catch let end as CommandExit {
            #expect(end.exitStatus == .notFoundOrDenied)
            #expect(end.message?.contains("exited 3") == true)
        }
        await #expect(throws: InputError.self) {
            _ = try await Migration.verifyExec(
                taskDefinition: Self.oldDefinition(), file: "old.json", configFile: "c.json", environment: [:],
                daemon: "\(folder)/missing")
        }
    }
}
