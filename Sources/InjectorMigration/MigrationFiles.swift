import InjectorBase
import InjectorOutputs

/// What `migrate` writes to its folder. No value is in any of them: names, keys and ARNs only.
extension MigrationPlan {
    /// The injector's configuration (`check` accepts it).
    public var injectorConfig: JSONValue {
        let templated = secrets.filter { secret in rebuilt.contains { $0.secret == secret.name } }
        let secretEntries = templated.map { secret in
            let alias = rebuilt.first { $0.secret == secret.name }!.alias
            return JSONValue.fields([
                "id": .string(secret.name), "alias": .string(alias), "file": .string("\(alias).json"),
            ])
        }
        let templates = rebuilt.map { JSONValue.fields(["file": .string($0.file), "template": .string($0.template)]) }
        let entries = envEntries.map {
            JSONValue.fields(["name": .string($0.name), "valueFrom": .string($0.valueFrom)])
        }
        return .someFields([
            "region": options.region.map(JSONValue.string),
            "outputDir": .string(Self.outputDir),
            "defaults": .fields(["mode": .string("0440"), "gid": .number(String(appGroup))]),
            "secrets": templated.isEmpty ? nil : .array(secretEntries),
            "templates": templates.isEmpty ? nil : .array(templates),
            "env": entries.isEmpty ? nil : .fields(["file": .string(Self.envFile), "entries": .array(entries)]),
            "server": options.mode == .sidecar
                ? .fields(["socketPath": .string("\(Self.outputDir)/injector.sock")]) : nil,
            "log": .fields(["level": .string("info"), "format": .string("json")]),
        ])
    }

    /// The files the app reads, in the order its variables come back.
    public var appFiles: [String] {
        (envEntries.isEmpty ? [] : [Self.envFile])
            + rebuilt.map(\.file).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// The app container's group, from its `user` (`uid:gid`), else 1000.
    var appGroup: Int {
        guard let container,
            case .array(let containers)? = definition.register.first(where: { $0.key == "containerDefinitions" })?.value,
            let app = containers.first(where: { $0["name"] == .string(container) }),
            case .string(let user)? = app["user"]
        else { return 1000 }
        let parts = user.split(separator: ":")
        return parts.count == 2 ? Int(parts[1]) ?? 1000 : 1000
    }

    /// Every value that comes back through the app's files is one sh reads back exactly.
    var shellCanRead: Bool {
        moved.allSatisfy { variable in
            rebuilt.contains { $0.name == variable.name } || DotenvQuoting.quote(Array(variable.value.utf8)).shSafe
        }
    }

    /// The app container's new command: its own, after the files are read into the environment by
    /// sh, when the task definition names a command, no entry point, and sh reads every value back
    /// exactly. nil otherwise (the app reads the files itself: MIGRATION.md).
    func wrappedCommand(_ app: JSONValue) -> JSONValue? {
        guard case .array(let command)? = app["command"], !command.isEmpty, app["entryPoint"] == nil, shellCanRead
        else { return nil }
        let sources = appFiles.map { ". \(Self.outputDir)/\($0)" }.joined(separator: " && ")
        return .array(
            [.string("/bin/sh"), .string("-c"), .string("set -a && \(sources) && set +a && exec \"$0\" \"$@\"")]
                + command)
    }

    /// Register form, what `aws ecs register-task-definition --cli-input-json` takes.
    public var taskDefinitionJSON: JSONValue {
        var register = JSONValue.object(definition.register)
        let condition = options.mode == .sidecar ? "HEALTHY" : "SUCCESS"
        guard case .array(let containers)? = register["containerDefinitions"] else { return register }
        var newContainers: [JSONValue] = [
            injectorContainer(app: containers.first { $0["name"] == container.map(JSONValue.string) })
        ]
        for var app in containers {
            guard case .string(let name)? = app["name"], name == container else {
                newContainers.append(app)
                continue
            }
            let movedNames = Set(moved.map(\.name))
            let carriedNames = Set(carried.map(\.name))
            let environment = (app["environment"].flatMap(TaskDefinition.elements) ?? []).filter {
                guard case .string(let variable)? = $0["name"] else { return true }
                return !movedNames.contains(variable)
            }
            app = app.setting("environment", environment.isEmpty ? nil : .array(environment))
            let secretEntries = (app["secrets"].flatMap(TaskDefinition.elements) ?? []).filter {
                guard case .string(let variable)? = $0["name"] else { return true }
                return !carriedNames.contains(variable)
            }
            app = app.setting("secrets", secretEntries.isEmpty ? nil : .array(secretEntries))
            let mounts = (app["mountPoints"].flatMap(TaskDefinition.elements) ?? []) + [Self.mount(readOnly: true)]
            app = app.setting("mountPoints", .array(mounts))
            let dependsOn =
                (app["dependsOn"].flatMap(TaskDefinition.elements) ?? []) + [
                    .fields(["containerName": .string(Self.injectorName), "condition": .string(condition)])
                ]
            app = app.setting("dependsOn", .array(dependsOn))
            if let command = wrappedCommand(app) { app = app.setting("command", command) }
            newContainers.append(app)
        }
        register = register.setting("containerDefinitions", .array(newContainers))
        let volumes = (register["volumes"].flatMap(TaskDefinition.elements) ?? []).filter {
            $0["name"] != .string(Self.volumeName)
        }
        register = register.setting("volumes", .array(volumes + [volume]))
        return register
    }

    var isFargate: Bool {
        JSONValue.object(definition.register)["requiresCompatibilities"].flatMap(TaskDefinition.elements)?
            .contains(.string("FARGATE")) ?? false
    }

    static func mount(readOnly: Bool) -> JSONValue {
        .fields([
            "sourceVolume": .string(volumeName), "containerPath": .string(outputDir), "readOnly": .bool(readOnly),
        ])
    }

    /// Fargate: the task's ephemeral storage; EC2: a tmpfs, as `task-definitions/` has them.
    var volume: JSONValue {
        if isFargate { return .fields(["name": .string(Self.volumeName)]) }
        return .fields([
            "name": .string(Self.volumeName),
            "dockerVolumeConfiguration": .fields([
                "scope": .string("task"), "driver": .string("local"),
                "driverOpts": .fields([
                    "type": .string("tmpfs"), "device": .string("tmpfs"),
                    "o": .string("size=16m,mode=0750,uid=10001,gid=\(appGroup)"),
                ]),
            ]),
        ])
    }

    /// The injector's container, as `task-definitions/init-container.json` and `sidecar.json` have it.
    func injectorContainer(app: JSONValue?) -> JSONValue {
        let sidecar = options.mode == .sidecar
        var logging: JSONValue?
        if let configuration = app?["logConfiguration"], configuration["logDriver"] == .string("awslogs"),
            let logOptions = configuration["options"]
        {
            logging = configuration.setting(
                "options", logOptions.setting("awslogs-stream-prefix", .string(Self.injectorName)))
        }
        let health = JSONValue.fields([
            "command": .array([.string("CMD"), .string("/usr/local/bin/secrets-injector"), .string("health")]),
            "interval": .number("10"), "timeout": .number("5"), "retries": .number("3"), "startPeriod": .number("15"),
        ])
        return .someFields([
            "name": .string(Self.injectorName),
            "image": .string(options.image),
            "essential": .bool(sidecar),
            "command": .array([.string(sidecar ? "run" : "init")]),
            "user": .string("10001:\(appGroup)"),
            "environment": .array([
                .fields(["name": .string("SECRETS_INJECTOR_CONFIG"), "value": .string(injectorConfig.serialized)])
            ]),
            "mountPoints": .array([Self.mount(readOnly: false)]),
            "readonlyRootFilesystem": .bool(true),
            "linuxParameters": .fields([
                "capabilities": .fields(["drop": .array([.string("ALL")])]), "initProcessEnabled": .bool(true),
            ]),
            "memoryReservation": .number("32"),
            "stopTimeout": .number("10"),
            "logConfiguration": logging,
            "healthCheck": sidecar ? health : nil,
        ])
    }

    /// The account the ARNs are in: `--account`, else the task definition's roles, else one of the
    /// secrets' own ARNs (after `--apply`), else `*`.
    public func account(arns: [String: String]) -> String {
        if let account = options.account { return account }
        let register = JSONValue.object(definition.register)
        let known =
            ["taskRoleArn", "executionRoleArn", "taskDefinitionArn"].compactMap { key -> String? in
                if case .string(let arn)? = register[key] { return arn } else { return nil }
            } + arns.values.sorted()
        for arn in known {
            let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count > 4, parts[4].count == 12, parts[4].allSatisfy(\.isASCIIDigit) { return String(parts[4]) }
        }
        return "*"
    }

    /// The policy's resources that leave the account or the region open (`*`): what `migrate` warns
    /// about, since such a policy reaches every account's or region's secret of that name.
    public func wildcardResources(arns: [String: String]) -> [String] {
        guard case .array(let statements)? = taskRolePolicy(arns: arns)["Statement"] else { return [] }
        return statements.flatMap { statement -> [String] in
            guard case .array(let resources)? = statement["Resource"] else { return [] }
            return resources.compactMap { resource in
                guard case .string(let arn) = resource else { return nil }
                let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
                return parts.count > 4 && (parts[3] == "*" || parts[4] == "*") ? arn : nil
            }
        }
    }

    /// SPEC §3's least policy on exactly these secrets: `GetSecretValue` (and `DescribeSecret` for
    /// the sidecar's cheap rounds), each secret by the ARN it has (`arns`) or the pattern it will
    /// have (`…:secret:NAME-??????`).
    public func taskRolePolicy(arns: [String: String] = [:]) -> JSONValue {
        let account = account(arns: arns)
        var resources: [String] = []
        for secret in secrets {
            resources.append(arns[secret.name] ?? pattern(secret.name, account: account))
        }
        var parameters: [String] = []
        for entry in carried {
            if let parameter = SecretName(entry.valueFrom).parameter {
                let resource =
                    parameter.arn
                    ?? "arn:aws:ssm:\(options.region ?? "*"):\(account):parameter/\(parameter.name.drop { $0 == "/" })"
                if !parameters.contains(resource) { parameters.append(resource) }
                continue
            }
            let id = ValueFromText.secretID(entry.valueFrom)
            let hasSuffix = SecretName(id).name != id.split(separator: ":", maxSplits: 6).last.map(String.init)
            let resource = id.hasPrefix("arn:") ? (hasSuffix ? id : id + "-??????") : pattern(id, account: account)
            if !resources.contains(resource) { resources.append(resource) }
        }
        let actions: [JSONValue] =
            options.mode == .sidecar
            ? [.string("secretsmanager:GetSecretValue"), .string("secretsmanager:DescribeSecret")]
            : [.string("secretsmanager:GetSecretValue")]
        var statements: [JSONValue] = []
        if !resources.isEmpty {
            statements.append(
                .fields([
                    "Sid": .string("ReadTheMigratedSecrets"), "Effect": .string("Allow"), "Action": .array(actions),
                    "Resource": .array(resources.map(JSONValue.string)),
                ]))
        }
        if !parameters.isEmpty {
            // A SecureString with a customer key also needs kms:Decrypt through ssm (README, "Parameter Store").
            statements.append(
                .fields([
                    "Sid": .string("ReadTheCarriedParameters"), "Effect": .string("Allow"),
                    "Action": .array([.string("ssm:GetParameters")]),
                    "Resource": .array(parameters.map(JSONValue.string)),
                ]))
        }
        return .fields(["Version": .string("2012-10-17"), "Statement": .array(statements)])
    }

    func pattern(_ name: String, account: String) -> String {
        "arn:aws:secretsmanager:\(options.region ?? "*"):\(account):secret:\(name)-??????"
    }
}

/// The secret part of an ECS `valueFrom`: an ARN's first seven `:` parts, else the first.
enum ValueFromText {
    static func secretID(_ valueFrom: String) -> String {
        let parts = valueFrom.split(separator: ":", omittingEmptySubsequences: false)
        return parts.prefix(valueFrom.hasPrefix("arn:") ? 7 : 1).joined(separator: ":")
    }
}
