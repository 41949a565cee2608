import InjectorBase
import InjectorOutputs

/// The migration of a task definition, decided offline: which containers' variables move, into
/// which secrets, and how each app gets its own back. Every container with a secret moves in one
/// run, with one injector.
public struct MigrationPlan {
    public static let envFile = "secrets.env"
    public static let injectorName = "secrets-injector"
    public static let volumeName = "secrets"
    public static let outputDir = "/run/secrets"
    /// `--mode exec`: the volume the init container installs the injector into, and where the app
    /// mounts it (read-only).
    public static let installVolumeName = "injector"
    public static let installDir = "/injector"

    let options: MigrationOptions
    let definition: TaskDefinition
    /// The app containers whose secrets move, in the task definition's order.
    public private(set) var apps: [AppMigration] = []
    public internal(set) var secrets: [PlannedSecret] = []

    /// The secrets' region: `--region`, else the task definition's (its ARNs, `awslogs-region`),
    /// else the shell's.
    public let region: String?

    /// The moved variables of every app.
    public var moved: [(name: String, value: String)] { apps.flatMap(\.moved) }
    public var carried: [(name: String, valueFrom: String)] { apps.flatMap(\.carried) }
    public var isEmpty: Bool { apps.isEmpty }

    public init(options: MigrationOptions, bytes: [UInt8]) throws(InputError) {
        self.options = options
        definition = try TaskDefinition(bytes: bytes, file: options.taskDefinition)
        let placeholders = definition.placeholderARNs
        guard placeholders.isEmpty else {
            throw InputError(
                "\(options.taskDefinition): \(placeholders.joined(separator: "; ")): put the real values in the task definition (or use describe-task-definition's output)"
            )
        }
        region = options.region ?? definition.region ?? options.environmentRegion
        if let region, !KnownRegions.all.contains(region) {
            let origin =
                options.region != nil
                ? "--region" : definition.region != nil ? "the task definition's region" : "AWS_REGION"
            throw InputError("\(origin) \(region): not an AWS region (like ap-southeast-1)")
        }
        try Self.checkPrefix(options.prefix)
        for name in options.include + options.exclude
        where !definition.containers.contains(where: { $0.environment.contains { $0.name == name } }) {
            throw InputError("--include/--exclude \(name): no container of the task definition sets it")
        }
        // A container with a variable to move or a secrets[] entry the injector can read; an official
        // database image moves only what its entrypoint reads through NAME_FILE, and keeps its secrets[].
        let candidates = definition.containers.filter { container in
            let image = container.image.flatMap(OfficialImage.init(image:))
            let movable = container.environment.contains { variable in
                options.moves(variable) && (image?.fileVariables.contains(variable.name) ?? true)
            }
            let readable = image == nil && container.secrets.contains { Self.injectorValueFrom($0.valueFrom) != nil }
            return container.name != Self.injectorName && (movable || readable)
        }
        if definition.containers.contains(where: { $0.name == Self.injectorName }) && !candidates.isEmpty {
            throw InputError(
                "\(options.taskDefinition): has a \(Self.injectorName) container already, and \(candidates.map(\.name).joined(separator: ", ")) still hold secrets: migrate the task definition from before the migration (every container moves in one run)"
            )
        }
        var chosen = candidates
        if let wanted = options.container {
            guard definition.containers.contains(where: { $0.name == wanted }) else {
                throw InputError(
                    "--container \(wanted): the task definition's containers are \(definition.containers.map(\.name).joined(separator: ", "))"
                )
            }
            guard let found = candidates.first(where: { $0.name == wanted }) else {
                throw InputError(
                    "--container \(wanted): has no secret to move"
                        + (candidates.isEmpty
                            ? "; no container of the task definition has one"
                            : "; \(candidates.map(\.name).joined(separator: ", ")) \(candidates.count == 1 ? "has" : "have")")
                )
            }
            chosen = [found]
        }
        for container in chosen {
            var app = AppMigration(
                name: container.name, folder: chosen.count > 1 ? Self.folderName(container.name) + "/" : "",
                officialImage: container.image.flatMap(OfficialImage.init(image:)), group: container.group)
            for variable in container.environment {
                if options.moves(variable) {
                    if let image = app.officialImage, !image.fileVariables.contains(variable.name) {
                        app.keptForImage.append(variable.name)
                        app.stayed.append(variable.name)
                    } else {
                        app.moved.append((variable.name, variable.value))
                    }
                } else {
                    app.stayed.append(variable.name)
                }
            }
            for secret in container.secrets {
                if let valueFrom = Self.injectorValueFrom(secret.valueFrom), app.officialImage == nil {
                    app.carried.append((secret.name, valueFrom))
                } else {
                    app.leftToECS.append(secret)
                }
            }
            try group(&app)
            app.envEntries += app.carried
            if !app.moved.isEmpty || !app.carried.isEmpty { apps.append(app) }
        }
        // exec puts every variable of its configuration into its app's environment: one configuration
        // for several apps would hand each the others' variables.
        if options.mode == .exec && apps.count > 1 {
            throw InputError(
                "--mode exec: \(apps.map(\.name).joined(separator: ", ")) hold secrets, and exec moves one app container per task definition: give --container NAME, or use --mode init or sidecar"
            )
        }
        // ECS gives Docker the entry point: the image's command is then dropped too, so exec would
        // start nothing unless the task definition names what runs.
        if options.mode == .exec, let app = apps.first,
            case .array(let containers)? = JSONValue.object(definition.register)["containerDefinitions"],
            let container = containers.first(where: { $0["name"] == .string(app.name) }),
            container["command"] == nil && container["entryPoint"] == nil
        {
            throw InputError(
                "--mode exec: \(app.name) names neither a command nor an entryPoint (its image's run): exec's entry point would replace the image's entry point and command, so put them in the task definition's command (docker image inspect shows them)"
            )
        }
    }

    /// The other containers' variables that `scan` flags, when `--container` chose one: their values
    /// stay in the new task definition, which `migrate` says (standard error and MIGRATION.md).
    public var leftInOtherContainers: [(container: String, variables: [String])] {
        definition.containers.compactMap { other in
            guard !apps.contains(where: { $0.name == other.name }), other.name != Self.injectorName else { return nil }
            let flagged = other.environment.filter { options.moves($0) }.map(\.name)
            return flagged.isEmpty ? nil : (other.name, flagged)
        }
    }

    /// An ECS `valueFrom` as the injector's configuration takes it, or nil when the injector cannot
    /// read it. ECS takes a Secrets Manager secret by its ARN, and a Parameter Store parameter by its
    /// ARN or, in the task's region, its name: a name without a leading slash is
    /// `parameter/NAME` to the injector, whose bare names are Secrets Manager's (docs/outputs.md, "Parameter
    /// Store"). Anything else (an ARN of another service) stays with ECS.
    static func injectorValueFrom(_ valueFrom: String) -> String? {
        if let service = ARN.service(of: valueFrom) {
            if service == "secretsmanager" { return valueFrom }
            return service == "ssm" && SecretName(valueFrom).parameter != nil ? valueFrom : nil
        }
        return valueFrom.hasPrefix("/") || valueFrom.hasPrefix("parameter/") ? valueFrom : "parameter/" + valueFrom
    }

    static func checkPrefix(_ prefix: String) throws(InputError) {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+=.@-")
        guard !prefix.isEmpty, prefix.allSatisfy(allowed.contains) else {
            throw InputError(
                "--prefix \"\(prefix)\": a secret name holds only A–Z a–z 0–9 and /_+=.@- (e.g. pipeline-pulse/prod/)")
        }
    }

    /// A container's name as a folder: `[A-Za-z0-9_-]` (``TaskDefinition``), as it is, since ECS
    /// tells `Web` from `web`.
    static func folderName(_ container: String) -> String { container }
}

extension String {
    func replacingAll(_ target: Character, _ replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
