import FoundationEssentials
import HTTPTransport
import InjectorBase
import InjectorConfig
import InjectorInit
import InjectorOutputs
import Logging
import SecretsManager

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// `migrate` and `migrate verify`: the files, the secrets, the comparison.
public enum Migration {
    // MARK: The folder

    /// Writes the four files to `folder` (created when missing), each through a temporary file and
    /// a rename, so that an interrupted run leaves either the old file or the new one.
    public static func write(_ plan: MigrationPlan, to folder: String, arns: [String: String], command: String)
        throws(MigrationInputError)
    {
        if mkdir(folder, 0o755) != 0 && errno != EEXIST {
            throw MigrationInputError("--out \(folder): cannot be created: \(String(cString: strerror(errno)))")
        }
        let files: [(String, String)] = [
            ("injector.json", plan.injectorConfig.pretty() + "\n"),
            ("task-definition.json", plan.taskDefinitionJSON.pretty() + "\n"),
            ("task-role-policy.json", plan.taskRolePolicy(arns: arns).pretty() + "\n"),
            ("MIGRATION.md", guide(plan, folder: folder, applied: !arns.isEmpty, command: command)),
        ]
        for (name, text) in files { try writeFile("\(folder)/\(name)", text) }
    }

    /// Writes `text` to `path` through a temporary file beside it and a rename: an interrupted run
    /// leaves the old file or the new one, never half of one.
    public static func writeFile(_ path: String, _ text: String) throws(MigrationInputError) {
        let slash = path.lastIndex(of: "/")
        let temporary =
            slash.map { String(path[...$0]) + "." + String(path[path.index(after: $0)...]) } ?? ".\(path)"
        let descriptor = open(temporary + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw MigrationInputError("\(path): cannot be written: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                close(descriptor)
                unlink(temporary + ".tmp")
                throw MigrationInputError("\(path): cannot be written: \(String(cString: strerror(errno)))")
            }
            written += count
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0, rename(temporary + ".tmp", path) == 0 else {
            unlink(temporary + ".tmp")
            throw MigrationInputError("\(path): cannot be written: \(String(cString: strerror(errno)))")
        }
    }

    // MARK: --apply

    public enum Outcome: Sendable, Equatable {
        case created, unchanged, updated
        /// It holds another value, and `overwrite` was not given.
        case refused
        /// Writing into it would reach whom the operator did not choose (``ExistingSecret``).
        case exposed([String])

        public var word: String {
            switch self {
            case .created: "created"
            case .unchanged: "unchanged"
            case .updated: "updated"
            case .refused: "refused"
            case .exposed: "refused"
            }
        }
    }

    /// Creates each planned secret (tagged with the task definition's family), or leaves it when it
    /// holds the same value already (no new version), or puts a new version with `overwrite`; a
    /// different value without it is refused. Before a new version goes into a secret that exists,
    /// its description and resource policy are read, and one that another account, key, region or
    /// owner could reach is left alone unless `acceptExistingAccess`. Safe to run again after an
    /// interruption. Returns each secret's ARN and what happened.
    public static func apply(
        _ plan: MigrationPlan, client: SecretsManagerClient, region: String, kmsKeyID: String?, tags: [SecretTag],
        overwrite: Bool, acceptExistingAccess: Bool = false
    ) async throws(SecretsManagerError) -> [(name: String, arn: String?, outcome: Outcome)] {
        let family = plan.definition.family ?? "(no family)"
        let revision = plan.definition.revision.map { " revision \($0)" } ?? ""
        let description =
            "Moved out of the environment of ECS task definition \(family)\(revision) by secrets-injector migrate"
        var created = tags
        if let family = plan.definition.family, !tags.contains(where: { $0.key == ExistingSecret.familyTag }) {
            created.append(SecretTag(key: ExistingSecret.familyTag, value: family))
        }
        var results: [(name: String, arn: String?, outcome: Outcome)] = []
        for secret in plan.secrets {
            do {
                let existing = try await client.getSecretValue(id: secret.name)
                if existing.secretString == secret.value {
                    results.append((secret.name, existing.arn, .unchanged))
                } else if overwrite {
                    if !acceptExistingAccess {
                        let vetted = ExistingSecret(
                            description: try await client.describeSecret(id: existing.arn),
                            policy: try await client.getResourcePolicy(id: existing.arn))
                        let reasons = vetted.exposures(
                            region: region, kmsKeyID: kmsKeyID, family: plan.definition.family, tags: tags)
                        if !reasons.isEmpty {
                            results.append((secret.name, existing.arn, .exposed(reasons)))
                            continue
                        }
                    }
                    let put = try await client.putSecretValue(
                        id: existing.arn, value: secret.value, token: UUID().uuidString.lowercased())
                    results.append((secret.name, put.arn, .updated))
                } else {
                    results.append((secret.name, existing.arn, .refused))
                }
            } catch  where error.code == "ResourceNotFoundException" {
                let made = try await client.createSecret(
                    name: secret.name, value: secret.value, token: UUID().uuidString.lowercased(),
                    description: description, kmsKeyID: kmsKeyID, tags: created)
                results.append((secret.name, made.arn, .created))
            }
        }
        return results
    }

    // MARK: verify

    /// Renders `config` from Secrets Manager in memory and compares every variable its dotenv
    /// files give with the old task definition's value: `(name, equal)` in the files' order. No
    /// file is written.
    public static func verify(
        taskDefinition bytes: [UInt8], file: String, config: Config, environment: [String: String],
        transport: any HTTPTransport, logger: Logger
    ) async throws -> [(name: String, equal: Bool?)] {
        let old = try TaskDefinition(bytes: bytes, file: file)
        let injector = try await Injector.build(
            config: config, environment: environment, transport: transport, logger: logger)
        let outputs = try await injector.render()
        let appFiles = Set(config.env.map(\.file.path) + config.templates.map(\.file.path))
        var rendered: [(name: String, value: String)] = []
        for output in outputs where appFiles.contains(output.path) {
            for binding in Dotenv.parse(String(decoding: output.bytes, as: UTF8.self)).bindings {
                if let value = binding.value, binding.name != "SECRETS_INJECTOR_SH_GUARD" {
                    rendered.append((binding.name, value))
                }
            }
        }
        // The container the variables came from: the one that sets most of them.
        let container = old.containers.max { first, second in
            first.environment.filter { variable in rendered.contains { $0.name == variable.name } }.count
                < second.environment.filter { variable in rendered.contains { $0.name == variable.name } }.count
        }
        return rendered.map { variable in
            guard let before = container?.environment.first(where: { $0.name == variable.name }) else {
                return (variable.name, nil)
            }
            return (variable.name, Array(before.value.utf8) == Array(variable.value.utf8))
        }
    }

    // MARK: MIGRATION.md

    static func guide(_ plan: MigrationPlan, folder: String, applied: Bool, command: String) -> String {
        let folder = folder.escapingControls()
        let command = command.escapingControls()
        var out = "# Migration of \((plan.definition.family ?? "the task definition").escapingControls())"
        if let revision = plan.definition.revision { out += " (revision \(revision))" }
        out += "\n\nWritten by `\(command)`. This file names variables, secrets and keys only, never a value.\n\n"
        out += "## What moved\n\n"
        out +=
            "The container `\((plan.container ?? "").escapingControls())` loses these variables from its `environment`; each is now in "
        out += "AWS Secrets Manager:\n\n| Variable | Secret | Key |\n|---|---|---|\n"
        for secret in plan.secrets {
            for variable in secret.variables {
                let key: String
                if secret.keys.isEmpty {
                    key = "(the whole value)"
                } else if plan.rebuilt.contains(where: { $0.name == variable }) {
                    key =
                        secret.keys.filter(DatabaseURL.keys.contains).map { "`\($0)`" }.joined(separator: ", ")
                        + " (rebuilt by a template)"
                } else {
                    key = "`\(MigrationPlan.key(variable))`"
                }
                out += "| `\(variable.escapingControls())` | `\(secret.name.escapingControls())` | \(key) |\n"
            }
        }
        for entry in plan.carried {
            out +=
                "| `\(entry.name.escapingControls())` | `\(ValueFromText.secretID(entry.valueFrom).escapingControls())` | from the old `secrets[]` |\n"
        }
        if plan.secrets.contains(where: \.rotationShape) {
            out +=
                "\nA database URL became a secret in the shape AWS's rotation functions read (`engine`, `host`, `port`, "
                + "`username`, `password`, `dbname`), so rotation can be turned on; a template rebuilds the URL byte for byte.\n"
        }
        out += "\n## What stayed\n\n"
        out +=
            plan.stayed.isEmpty
            ? "No other variable.\n"
            : "These variables are not secrets and stay in `environment`: "
                + plan.stayed.map { "`\($0.escapingControls())`" }.joined(separator: ", ") + ".\n"
        for (other, variables) in plan.leftInOtherContainers {
            out +=
                "\n**Still in plain text:** container `\(other.escapingControls())` was not migrated (one container at a time), and its "
            out += variables.map { "`\($0.escapingControls())`" }.joined(separator: ", ")
            out +=
                " keep their values in `task-definition.json`'s `environment`: `secrets-injector scan` flags them there.\n"
        }
        if !plan.leftToECS.isEmpty {
            out += "\nThese `secrets[]` entries name neither a Secrets Manager secret nor a Parameter Store parameter "
            out += "the injector can read; ECS keeps injecting them: "
            out += plan.leftToECS.map { "`\($0.name.escapingControls())`" }.joined(separator: ", ") + ".\n"
        }
        out += "\n## How the app gets its variables back\n\n"
        out +=
            "The injector writes them, under their old names and with the same values byte for byte, to dotenv files "
        out += "in `\(MigrationPlan.outputDir)`, mounted read-only in the app: "
        out += plan.appFiles.map { "`\(MigrationPlan.outputDir)/\($0)`" }.joined(separator: ", ") + ".\n\n"
        out +=
            "In Python, before the settings are read (python-dotenv; `interpolate=False` keeps a `$` in a value as it is):\n\n"
        out += "```python\nfrom dotenv import load_dotenv\n"
        for file in plan.appFiles {
            out += "load_dotenv(\"\(MigrationPlan.outputDir)/\(file)\", override=True, interpolate=False)\n"
        }
        out += "```\n\n"
        guard case .array(let containers)? = JSONValue.object(plan.definition.register)["containerDefinitions"],
            let app = containers.first(where: { $0["name"] == plan.container.map(JSONValue.string) })
        else { return out }
        if plan.wrappedCommand(app) != nil {
            out +=
                "No code change is needed: every value reads back exactly in sh, so `task-definition.json` wraps the "
            out += "container's command in `/bin/sh -c 'set -a && . FILE && set +a && exec \"$0\" \"$@\"'`, which "
            out += "exports the variables and then runs the old command.\n"
        } else if app["command"] != nil && app["entryPoint"] == nil {
            out += "The command is not wrapped in sh: some value holds characters sh would read differently "
            out += "(a quote together with `$` or a backslash). Use the python-dotenv line above.\n"
        } else {
            out += "The task definition names no command of its own (the image's is used), so it is not wrapped: use "
            out += "the python-dotenv line above, or wrap the image's command yourself with "
            out += "`/bin/sh -c 'set -a && . FILE && set +a && exec \"$0\" \"$@\"'`.\n"
        }
        out += "\n## Next\n\n"
        var step = 1
        if !applied {
            out += "\(step). Create the secrets (your own credentials: environment keys, or `AWS_PROFILE`):\n\n"
            out += "   ```\n   \(command) --apply\n   ```\n\n"
            step += 1
        }
        out += "\(step). Give the task role the policy in `task-role-policy.json`"
        out +=
            applied
            ? " (it names the secrets' ARNs).\n" : " (it names the secrets' ARNs with their `-??????` suffix).\n"
        step += 1
        out += "\(step). Check the configuration and compare every value with the old task definition:\n\n"
        out += "   ```\n   secrets-injector check --config \(folder)/injector.json\n"
        out +=
            "   secrets-injector migrate verify --task-definition \(plan.options.taskDefinition.escapingControls()) --config \(folder)/injector.json\n   ```\n\n"
        step += 1
        out += "\(step). Register the new task definition and deploy it:\n\n"
        out +=
            "   ```\n   aws ecs register-task-definition --cli-input-json file://\(folder)/task-definition.json\n   ```\n\n"
        step += 1
        out += "\(step). The old revisions still hold the values in plain text: deregister them "
        out +=
            "(`aws ecs deregister-task-definition`), rotate every moved secret, and keep `secrets-injector scan` in CI.\n"
        return out
    }
}
