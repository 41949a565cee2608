import InjectorBase
import InjectorConfig
import InjectorOutputs

/// What `migrate` writes to its folder. No value is in any of them: names, keys and ARNs only.
extension MigrationPlan {
    /// The injector's configuration (`check` accepts it).
    public var injectorConfig: JSONValue {
        let listed = secrets.filter { $0.templated || !$0.files.isEmpty }
        let secretEntries = listed.map { secret in
            let folder = apps.first { $0.name == secret.app }?.folder ?? ""
            let keyFiles = secret.files.compactMap { entry in
                entry.key.map { JSONValue.Member(key: $0, value: .string(entry.file)) }
            }
            return JSONValue.someFields([
                "id": .string(secret.name), "alias": .string(secret.alias),
                "file": .string(secret.files.first { $0.key == nil }?.file ?? "\(folder)\(secret.alias).json"),
                "keys": keyFiles.isEmpty ? nil : .object(keyFiles),
            ])
        }
        let templates = apps.flatMap(\.rebuilt).map {
            JSONValue.fields(["file": .string($0.file), "template": .string($0.template)])
        }
        let envFiles = apps.filter { !$0.envEntries.isEmpty }.map { app in
            JSONValue.fields([
                "file": .string(app.envFile),
                "entries": .array(
                    app.envEntries.map { .fields(["name": .string($0.name), "valueFrom": .string($0.valueFrom)]) }),
            ])
        }
        return .someFields([
            "region": region.map(JSONValue.string),
            "outputDir": .string(Self.outputDir),
            "defaults": defaults,
            "secrets": secretEntries.isEmpty ? nil : .array(secretEntries),
            "templates": templates.isEmpty ? nil : .array(templates),
            "env": envFiles.isEmpty ? nil : envFiles.count == 1 ? envFiles[0] : .array(envFiles),
            "server": options.mode == .sidecar
                ? .fields(["socketPath": .string("\(Self.outputDir)/injector.sock")]) : nil,
            "log": .fields(["level": .string("info"), "format": .string("json")]),
        ])
    }

    /// The files' mode and group. exec writes them as the app's own user, whose uid the task
    /// definition may not say (the image's `USER`): no group to give, and no other user reads them
    /// (but an official image's, which reads its files as its own user).
    var defaults: JSONValue {
        if options.mode == .exec { return .fields(["mode": .string(readableByAll ? "0444" : "0400")]) }
        return .fields(["mode": .string(readableByAll ? "0444" : "0440"), "gid": .number(String(appGroup))])
    }

    /// The files every app reads, in the order its variables come back.
    public var appFiles: [String] { apps.flatMap(\.appFiles) }

    /// The group the files get: the first app's, else 1000 (the injector runs in it, and can give
    /// its files no other: it is not root).
    var appGroup: Int { apps.lazy.compactMap(\.group).first ?? 1000 }

    /// The files must be readable by every uid: an official image reads its files as its own user
    /// (its entrypoint drops to it), and apps in other groups than the injector's could not read
    /// theirs. Every container of the task holds the task role anyway (docs/SECURITY.md).
    var readableByAll: Bool {
        let group = appGroup
        return apps.contains { $0.officialImage != nil } || Set(apps.map { $0.group ?? group }).count > 1
    }

    /// Every value that comes back through the app's dotenv files is one sh reads back exactly.
    func shellCanRead(_ app: AppMigration) -> Bool {
        app.moved.allSatisfy { variable in
            app.rebuilt.contains { $0.name == variable.name }
                || app.fileVariables.contains { $0.name == variable.name }
                || DotenvQuoting.quote(Array(variable.value.utf8)).shSafe
        }
    }

    /// The app container's new command: its own, after its files are read into the environment by
    /// sh, when the task definition names a command, no entry point, and sh reads every value back
    /// exactly. nil otherwise (the app reads the files itself: MIGRATION.md).
    func wrappedCommand(_ container: JSONValue, app: AppMigration) -> JSONValue? {
        guard options.mode != .exec, !app.appFiles.isEmpty, case .array(let command)? = container["command"],
            !command.isEmpty,
            container["entryPoint"] == nil, shellCanRead(app)
        else { return nil }
        let sources = app.appFiles.map { ". \(Self.outputDir)/\($0)" }.joined(separator: " && ")
        return .array(
            [.string("/bin/sh"), .string("-c"), .string("set -a && \(sources) && set +a && exec \"$0\" \"$@\"")]
                + command)
    }

    /// Register form, what `aws ecs register-task-definition --cli-input-json` takes.
    public var taskDefinitionJSON: JSONValue {
        var register = JSONValue.object(definition.register)
        let condition = options.mode == .sidecar ? "HEALTHY" : "SUCCESS"
        guard case .array(let containers)? = register["containerDefinitions"] else { return register }
        let first = apps.first.flatMap { app in containers.first { $0["name"] == .string(app.name) } }
        var newContainers: [JSONValue] = [injectorContainer(app: first)]
        for var container in containers {
            guard case .string(let name)? = container["name"], let app = apps.first(where: { $0.name == name }) else {
                newContainers.append(container)
                continue
            }
            let movedNames = Set(app.moved.map(\.name))
            let carriedNames = Set(app.carried.map(\.name))
            var environment = (container["environment"].flatMap(TaskDefinition.elements) ?? []).filter {
                guard case .string(let variable)? = $0["name"] else { return true }
                return !movedNames.contains(variable)
            }
            environment += app.fileVariables.map {
                .fields(["name": .string($0.name + "_FILE"), "value": .string("\(Self.outputDir)/\($0.file)")])
            }
            container = container.setting("environment", environment.isEmpty ? nil : .array(environment))
            let secretEntries = (container["secrets"].flatMap(TaskDefinition.elements) ?? []).filter {
                guard case .string(let variable)? = $0["name"] else { return true }
                return !carriedNames.contains(variable)
            }
            container = container.setting("secrets", secretEntries.isEmpty ? nil : .array(secretEntries))
            var mounts = container["mountPoints"].flatMap(TaskDefinition.elements) ?? []
            if options.mode == .exec {
                // exec writes the files itself, in the app's container; the injector it runs is the
                // one the init container installed.
                environment.append(
                    .fields(["name": .string("SECRETS_INJECTOR_CONFIG"), "value": .string(injectorConfig.serialized)]))
                container = container.setting("environment", .array(environment))
                mounts += [
                    Self.mount(readOnly: false),
                    .fields([
                        "sourceVolume": .string(Self.installVolumeName), "containerPath": .string(Self.installDir),
                        "readOnly": .bool(true),
                    ]),
                ]
                container = container.setting("entryPoint", Self.execEntryPoint(container["entryPoint"]))
            } else {
                mounts.append(Self.mount(readOnly: true))
            }
            container = container.setting("mountPoints", .array(mounts))
            let dependsOn =
                (container["dependsOn"].flatMap(TaskDefinition.elements) ?? []) + [
                    .fields(["containerName": .string(Self.injectorName), "condition": .string(condition)])
                ]
            container = container.setting("dependsOn", .array(dependsOn))
            if let command = wrappedCommand(container, app: app) { container = container.setting("command", command) }
            newContainers.append(container)
        }
        register = register.setting("containerDefinitions", .array(newContainers))
        let ours = options.mode == .exec ? [volume, installVolume] : [volume]
        let volumes = (register["volumes"].flatMap(TaskDefinition.elements) ?? []).filter { old in
            !ours.contains { $0["name"] == old["name"] }
        }
        register = register.setting("volumes", .array(volumes + ours))
        return register
    }

    /// The app's entry point under `--mode exec`: the installed injector's `exec --`, then the old
    /// entry point, if any; its `command` follows as it was.
    static func execEntryPoint(_ old: JSONValue?) -> JSONValue {
        .array(
            [.string("\(installDir)/secrets-injector"), .string("exec"), .string("--")]
                + (old.flatMap(TaskDefinition.elements) ?? []))
    }

    /// The volume the init container installs the injector's executable into, for `--mode exec`: the
    /// executable only, no secret, so on disk (it must outlive the init container, which a tmpfs
    /// does not on EC2).
    var installVolume: JSONValue {
        if isFargate { return .fields(["name": .string(Self.installVolumeName)]) }
        return .fields([
            "name": .string(Self.installVolumeName),
            "dockerVolumeConfiguration": .fields(["scope": .string("task"), "driver": .string("local")]),
        ])
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

    /// The output volume, as `task-definitions/` has it (docs/deploying.md, "EC2 or Fargate: where the
    /// files live"). Fargate: a bind mount on the task's ephemeral storage. EC2: a task-scoped Docker
    /// volume; the sidecar's a tmpfs, memory only, which stays mounted while the sidecar runs; the
    /// init container's without `driverOpts`, on the instance's disk (Docker unmounts a tmpfs,
    /// contents and all, when its last container stops: the app would start on an empty folder),
    /// filled from the image's `/run/secrets` on first mount, so its owner and mode are the image's.
    ///
    /// `--mode exec`: only the app's container mounts it, and exec, the app's own process, writes
    /// the files there before it starts the app; the tmpfs stays mounted while the app runs, so the
    /// files live in memory only, as the sidecar's. Its owner is the app's user when the container's
    /// `user` names one (`uid:gid`), else (the image's `USER`, which the task definition does not
    /// say) it is open to every user of that one container, sticky, as `/tmp` is.
    var volume: JSONValue {
        if isFargate { return .fields(["name": .string(Self.volumeName)]) }
        let owner: String
        if options.mode == .exec {
            owner = appUser.map { "mode=0700,uid=\($0.uid),gid=\($0.gid)" } ?? "mode=1777"
        } else {
            owner = "mode=\(readableByAll ? "0755" : "0750"),uid=10001,gid=\(appGroup)"
        }
        let tmpfs = JSONValue.fields([
            "type": .string("tmpfs"), "device": .string("tmpfs"), "o": .string("size=16m,\(owner)"),
        ])
        return .fields([
            "name": .string(Self.volumeName),
            "dockerVolumeConfiguration": .someFields([
                "scope": .string("task"), "driver": .string("local"),
                "driverOpts": options.mode == .initContainer ? nil : tmpfs,
            ]),
        ])
    }

    /// The app's `user`, when it is numbers (`uid:gid`).
    var appUser: (uid: Int, gid: Int)? {
        guard let app = apps.first,
            case .array(let containers)? = JSONValue.object(definition.register)["containerDefinitions"],
            case .string(let user)? = containers.first(where: { $0["name"] == .string(app.name) })?["user"]
        else { return nil }
        let parts = user.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let uid = Int(parts[0]), let gid = Int(parts[1]), uid >= 0, gid >= 0 else { return nil }
        return (uid, gid)
    }

    /// Where `volume` keeps the files, for MIGRATION.md.
    var volumeMedium: String {
        if isFargate {
            return
                "The volume is on the task's ephemeral storage: disk, encrypted at rest by Fargate, deleted with the task."
                + (options.mode == .exec
                    ? " exec writes the files as the app's user, which must be able to write `\(Self.outputDir)` (root can)."
                    : "")
        }
        if options.mode == .exec {
            return "The volume is a task-scoped tmpfs mounted in the app's container alone: `exec` writes the files "
                + "there, in memory only, kept mounted while the app runs, and gone with the task."
        }
        if options.mode == .sidecar {
            return "The volume is a task-scoped tmpfs: the files are in memory only, kept mounted while the injector "
                + "runs, and gone with the task."
        }
        return "The volume is a task-scoped Docker volume on the instance's disk: a tmpfs would be unmounted, contents "
            + "and all, when the init container exits, and the app would start on an empty folder. The files stay on "
            + "the instance's disk until the task stops (use an encrypted EBS volume); `--mode sidecar` keeps them in "
            + "memory only, on a tmpfs."
    }

    /// The injector's container, as `task-definitions/init-container.json` and `sidecar.json` have it.
    /// `--mode exec`: the init container runs `install /injector`, which copies the executable into
    /// the install volume and exits; as root (every capability dropped still), since the volume's
    /// folder is root's when ECS creates it.
    func injectorContainer(app: JSONValue?) -> JSONValue {
        let sidecar = options.mode == .sidecar
        let install = options.mode == .exec
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
            "command": .array(
                install
                    ? [.string("install"), .string(Self.installDir)] : [.string(sidecar ? "run" : "init")]),
            "user": .string(install ? "0:0" : "10001:\(appGroup)"),
            "environment": install
                ? nil
                : .array([
                    .fields(["name": .string("SECRETS_INJECTOR_CONFIG"), "value": .string(injectorConfig.serialized)])
                ]),
            "mountPoints": .array([
                install
                    ? .fields([
                        "sourceVolume": .string(Self.installVolumeName), "containerPath": .string(Self.installDir),
                        "readOnly": .bool(false),
                    ])
                    : Self.mount(readOnly: false)
            ]),
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
        return known.lazy.compactMap { ARN($0)?.account }.first(where: ARN.isAccountID) ?? "*"
    }

    /// The policy's resources that leave the account or the region open (`*`): what `migrate` warns
    /// about, since such a policy reaches every account's or region's secret of that name.
    public func wildcardResources(arns: [String: String]) -> [String] {
        guard case .array(let statements)? = taskRolePolicy(arns: arns)["Statement"] else { return [] }
        return statements.flatMap { statement -> [String] in
            guard case .array(let resources)? = statement["Resource"] else { return [] }
            return resources.compactMap { resource in
                guard case .string(let text) = resource, let arn = ARN(text) else { return nil }
                return arn.region == "*" || arn.account == "*" ? text : nil
            }
        }
    }

    /// The least policy on exactly these secrets: `GetSecretValue` (and `DescribeSecret` for
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
                    ?? ARN(
                        service: "ssm", region: region, account: account,
                        resource: "parameter/\(parameter.name.drop { $0 == "/" })"
                    ).description
                if !parameters.contains(resource) { parameters.append(resource) }
                continue
            }
            let id = Self.secretID(entry.valueFrom)
            // An ARN with its random suffix names the one secret; one without it, any suffix.
            let hasSuffix = ARN(id).map { SecretName(id).name != $0.resource.dropFirst("secret:".count) } ?? false
            let resource = ARN(id) != nil ? (hasSuffix ? id : id + "-??????") : pattern(id, account: account)
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
            // A SecureString with a customer key also needs kms:Decrypt through ssm (docs/outputs.md, "Parameter Store").
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
        ARN(service: "secretsmanager", region: region, account: account, resource: "secret:\(name)-??????").description
    }
}

extension MigrationPlan {
    /// The secret an ECS `valueFrom` names, as the configuration reads it (``ValueFrom``).
    static func secretID(_ valueFrom: String) -> String {
        (try? ValueFrom(parsing: valueFrom))?.secret.id ?? valueFrom
    }
}
