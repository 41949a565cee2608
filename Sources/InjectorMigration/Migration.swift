import FoundationEssentials
import HTTPTransport
import InjectorBase
import InjectorConfig
import InjectorJob
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
        throws(InputError)
    {
        if mkdir(folder, 0o755) != 0 && errno != EEXIST {
            throw InputError("--out \(folder): cannot be created: \(String(cString: strerror(errno)))")
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
    public static func writeFile(_ path: String, _ text: String) throws(InputError) {
        let slash = path.lastIndex(of: "/")
        let temporary =
            slash.map { String(path[...$0]) + "." + String(path[path.index(after: $0)...]) } ?? ".\(path)"
        let descriptor = open(temporary + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw InputError("\(path): cannot be written: \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                close(descriptor)
                unlink(temporary + ".tmp")
                throw InputError("\(path): cannot be written: \(String(cString: strerror(errno)))")
            }
            written += count
        }
        guard fsync(descriptor) == 0, close(descriptor) == 0, rename(temporary + ".tmp", path) == 0 else {
            unlink(temporary + ".tmp")
            throw InputError("\(path): cannot be written: \(String(cString: strerror(errno)))")
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
    /// files give, and every file an official image reads through `NAME_FILE`, with the old task
    /// definition's value: `(name, equal)` in the files' order, `CONTAINER.NAME` when the task has
    /// several apps. No file is written.
    public static func verify(
        taskDefinition bytes: [UInt8], file: String, config: Config, environment: [String: String],
        transport: any HTTPTransport, logger: Logger
    ) async throws -> [(name: String, equal: Bool?)] {
        let old = try TaskDefinition(bytes: bytes, file: file)
        let injector = try await Injector.build(
            config: config, environment: environment, transport: transport, logger: logger)
        let outputs = try await injector.render()
        let appFiles = Set(config.env.map(\.file.path) + config.templates.map(\.file.path))
        // A file in a folder is that container's (several apps); a file at the top is the only app's.
        func container(of path: String) -> TaskDefinition.Container? {
            if let slash = path.firstIndex(of: "/") {
                return old.containers.first { MigrationPlan.folderName($0.name) == path[..<slash] }
            }
            return nil
        }
        var rendered: [(container: TaskDefinition.Container?, name: String, value: [UInt8])] = []
        for output in outputs {
            if appFiles.contains(output.path) {
                for binding in Dotenv.parse(String(decoding: output.bytes, as: UTF8.self)).bindings {
                    if let value = binding.value, binding.name != "SECRETS_INJECTOR_SH_GUARD" {
                        rendered.append((container(of: output.path), binding.name, Array(value.utf8)))
                    }
                }
            } else {
                // FOLDER/postgres_password, read by an official image as POSTGRES_PASSWORD_FILE.
                let name = String(output.path.split(separator: "/").last ?? "").uppercased()
                let owner =
                    container(of: output.path)
                    ?? old.containers.first { candidate in
                        candidate.image.flatMap(OfficialImage.init(image:))?.fileVariables.contains(name) == true
                    }
                if let owner, owner.image.flatMap(OfficialImage.init(image:))?.fileVariables.contains(name) == true {
                    rendered.append((owner, name, output.bytes))
                }
            }
        }
        return compare(rendered, with: old)
    }

    /// `migrate verify --mode exec`: runs `daemon exec --once --config CONFIG -- /usr/bin/env -0`
    /// for real, as the app's entry point would, and compares every variable exec adds to the
    /// environment with the old task definition's value, byte for byte: `(name, equal)` in the
    /// order `env` prints them. exec gets this environment minus `SECRETS_INJECTOR_*` and every name
    /// the old task definition sets, so that each of those it prints came from the configuration;
    /// its standard error (its error line, when it fails) is this process's. With `--once` exec
    /// writes no file. A failure of exec ends with its code.
    public static func verifyExec(
        taskDefinition bytes: [UInt8], file: String, configFile: String, environment: [String: String],
        daemon: String, timeoutSeconds: Int = 300
    ) async throws -> [(name: String, equal: Bool?)] {
        let old = try TaskDefinition(bytes: bytes, file: file)
        let oldNames = Set(old.containers.flatMap { $0.environment.map(\.name) + $0.secrets.map(\.name) })
        let given = environment.filter { !$0.key.hasPrefix("SECRETS_INJECTOR_") && !oldNames.contains($0.key) }
        let argv = [
            daemon, "exec", "--once", "--config", configFile, "--log-level", "error", "--", "/usr/bin/env", "-0",
        ]
        let result = await runOnOwnThread {
            ChildProcess.run(
                argv, environment: given, timeoutSeconds: timeoutSeconds, errorOutput: .inherited,
                outputLimit: 64 << 20)
        }
        switch result.status {
        case .exited(0): break
        case .exited(let code):
            throw CommandExit(
                ExitStatus(rawValue: code) ?? .failure,
                "\(daemon) exec exited \(code): nothing compared (its own error line says why)")
        case .signalled(let signal): throw CommandExit(.failure, "\(daemon) exec ended by signal \(signal)")
        case .timedOut, .unkillable:
            throw CommandExit(.unavailable, "\(daemon) exec did not finish in \(timeoutSeconds) s: killed")
        case .couldNotStart(let error):
            throw InputError("cannot run \(daemon): \(String(cString: strerror(error)))")
        }
        if result.truncated { throw CommandExit(.failure, "\(daemon) exec: the environment it printed is too large") }
        var rendered: [(container: TaskDefinition.Container?, name: String, value: [UInt8])] = []
        for entry in result.bytes.split(separator: 0, omittingEmptySubsequences: true) {
            guard let equals = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = String(decoding: entry[..<equals], as: UTF8.self)
            let value = Array(entry[(equals + 1)...])
            if let before = given[name], Array(before.utf8) == value { continue }
            rendered.append((nil, name, value))
        }
        return compare(rendered, with: old)
    }

    /// Each rendered variable against the old task definition's value, byte for byte: `CONTAINER.NAME`
    /// when a variable is known to be a container's (several apps), nil when the old environment has
    /// no such name.
    static func compare(
        _ rendered: [(container: TaskDefinition.Container?, name: String, value: [UInt8])], with old: TaskDefinition
    ) -> [(name: String, equal: Bool?)] {
        // The only app: the container that sets most of the variables.
        let only = old.containers.max { first, second in
            first.environment.filter { variable in rendered.contains { $0.name == variable.name } }.count
                < second.environment.filter { variable in rendered.contains { $0.name == variable.name } }.count
        }
        let several = rendered.contains { $0.container != nil }
        return rendered.map { variable in
            let owner = variable.container ?? only
            let label = several ? "\(owner?.name ?? "?").\(variable.name)" : variable.name
            guard let before = owner?.environment.first(where: { $0.name == variable.name }) else {
                return (label, nil)
            }
            return (label, Array(before.value.utf8) == variable.value)
        }
    }

    // MARK: MIGRATION.md

    static func guide(_ plan: MigrationPlan, folder: String, applied: Bool, command: String) -> String {
        let folder = folder.escapingControls()
        let command = command.escapingControls()
        func code(_ text: String) -> String { "`\(text.escapingControls())`" }
        var out = "# Migration of \((plan.definition.family ?? "the task definition").escapingControls())"
        if let revision = plan.definition.revision { out += " (revision \(revision.escapingControls()))" }
        out += "\n\nWritten by `\(command)`. This file names variables, secrets and keys only, never a value.\n\n"
        out += "## What moved\n\n"
        out +=
            "These variables leave their container's `environment` (or `secrets`); each is now in AWS Secrets Manager:\n\n"
        out += "| Container | Variable | Secret | Key |\n|---|---|---|---|\n"
        for app in plan.apps {
            for variable in app.moved {
                guard let secret = plan.secrets.first(where: { $0.variables.contains(variable.name) }) else { continue }
                let key: String
                if secret.keys.isEmpty {
                    key = "(the whole value)"
                } else if app.rebuilt.contains(where: { $0.name == variable.name }) {
                    key =
                        secret.keys.filter(DatabaseURL.keys.contains).map { "`\($0)`" }.joined(separator: ", ")
                        + " (rebuilt by a template)"
                } else {
                    key = code(MigrationPlan.key(variable.name))
                }
                out += "| \(code(app.name)) | \(code(variable.name)) | \(code(secret.name)) | \(key) |\n"
            }
            for entry in app.carried {
                out +=
                    "| \(code(app.name)) | \(code(entry.name)) | \(code(MigrationPlan.secretID(entry.valueFrom))) | from the old `secrets[]` |\n"
            }
        }
        if plan.secrets.contains(where: \.rotationShape) {
            out +=
                "\nA database URL became a secret in the shape AWS's rotation functions read (`engine`, `host`, `port`, "
                + "`username`, `password`, `dbname`), so rotation can be turned on; a template rebuilds the URL byte for byte.\n"
        }
        out += "\n## What stayed\n\n"
        for app in plan.apps {
            out +=
                app.stayed.isEmpty
                ? "\(code(app.name)): no other variable.\n"
                : "\(code(app.name)): these variables are not secrets and stay in `environment`: "
                    + app.stayed.filter { !app.keptForImage.contains($0) }.map(code).joined(separator: ", ") + ".\n"
            if !app.keptForImage.isEmpty, let image = app.officialImage {
                out += "\n**Still in plain text:** the official `\(image.rawValue)` image reads "
                out += app.keptForImage.map(code).joined(separator: ", ")
                out += " from its environment only (its entrypoint has no `_FILE` form for them): they stay in "
                out += "`task-definition.json`. Set them another way, or accept them there.\n"
            }
            if !app.leftToECS.isEmpty {
                out += "\nThese `secrets[]` entries of \(code(app.name)) stay with ECS"
                out +=
                    app.officialImage == nil
                    ? " (they name neither a Secrets Manager secret nor a Parameter Store parameter the injector can read): "
                    : " (its official image reads its environment, which ECS sets from them): "
                out += app.leftToECS.map { code($0.name) }.joined(separator: ", ") + ".\n"
            }
        }
        for (other, variables) in plan.leftInOtherContainers {
            out +=
                "\n**Still in plain text:** container \(code(other)) was not migrated (`--container` chose another), and its "
            out += variables.map(code).joined(separator: ", ")
            out +=
                " keep their values in `task-definition.json`'s `environment`: `secrets-injector scan` flags them there.\n"
        }
        out += "\n## How each app gets its variables back\n\n"
        if plan.options.mode == .exec {
            out += execGuide(plan)
        } else {
            out += fileGuide(plan)
        }
        out += "## Next\n\n"
        var step = 1
        if plan.options.image.hasPrefix("secrets-injector:") {
            out += "\(step). Push the injector's image to a registry the task can pull from (ECR), and name it: "
            out += "`task-definition.json` says `\(plan.options.image.escapingControls())`, which ECS cannot pull. "
            out += "Run this again with `--image ACCOUNT.dkr.ecr.REGION.amazonaws.com/secrets-injector:TAG`.\n"
            step += 1
        }
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
            "   secrets-injector migrate verify --task-definition \(plan.options.taskDefinition.escapingControls()) --config \(folder)/injector.json\(plan.options.mode == .exec ? " --mode exec" : "")\n   ```\n\n"
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

extension Migration {
    /// MIGRATION.md under `--mode exec`: the app's entry point runs exec, which puts the variables in
    /// its environment.
    static func execGuide(_ plan: MigrationPlan) -> String {
        func code(_ text: String) -> String { "`\(text.escapingControls())`" }
        var out = "`task-definition.json`'s \(code(MigrationPlan.injectorName)) init container copies the injector "
        out += "into the volume \(code(MigrationPlan.installVolumeName)) (`install \(MigrationPlan.installDir)`) and "
        out += "exits; the app's container mounts it read-only at \(code(MigrationPlan.installDir)), and its "
        out += "`entryPoint` becomes `\(MigrationPlan.installDir)/secrets-injector exec --` before its own entry "
        out += "point, if any, while its `command` stays. `exec` reads its configuration from "
        out += "`SECRETS_INJECTOR_CONFIG` (names only), fetches the secrets with the task role, writes the files to "
        out += "\(code(MigrationPlan.outputDir)) and starts the app with every moved variable in its environment, "
        out += "under its old name: no code change is needed. The app never sees `SECRETS_INJECTOR_*`.\n\n"
        out += plan.volumeMedium + "\n\n"
        for app in plan.apps where !app.fileVariables.isEmpty {
            out += "\(code(app.name)): its official `\(app.officialImage?.rawValue ?? "")` image reads "
            out += app.fileVariables.map { code($0.name) }.joined(separator: ", ")
            out += " from the files that `task-definition.json` names in "
            out += app.fileVariables.map { code($0.name + "_FILE") }.joined(separator: ", ") + ".\n\n"
        }
        return out
    }

    /// MIGRATION.md under `--mode init` and `sidecar`: the files on the shared volume, and how each
    /// app reads them.
    static func fileGuide(_ plan: MigrationPlan) -> String {
        var out = ""
        out += "The injector writes them to files in `\(MigrationPlan.outputDir)`, on a volume mounted read-only in "
        out += "every app container"
        out +=
            plan.apps.count > 1
            ? " (ECS mounts a volume whole: each app has a folder of its own, and could read the others', as it can reach every secret through the task role anyway).\n\n"
            : ".\n\n"
        out += plan.volumeMedium + "\n\n"
        guard case .array(let containers)? = JSONValue.object(plan.definition.register)["containerDefinitions"]
        else { return out }
        func code(_ text: String) -> String { "`\(text.escapingControls())`" }
        for app in plan.apps {
            guard let container = containers.first(where: { $0["name"] == .string(app.name) }) else { continue }
            out += "### \(code(app.name))\n\n"
            if !app.fileVariables.isEmpty {
                out += "Its official `\(app.officialImage?.rawValue ?? "")` image reads "
                out += app.fileVariables.map { code($0.name) }.joined(separator: ", ")
                out += " from the files that `task-definition.json` names in "
                out +=
                    app.fileVariables.map { code($0.name + "_FILE") }.joined(separator: ", ")
                    + ": no change needed.\n\n"
            }
            guard !app.appFiles.isEmpty else { continue }
            let files = app.appFiles.map { "\(MigrationPlan.outputDir)/\($0)" }
            out += "Its dotenv files: " + files.map(code).joined(separator: ", ") + ".\n\n"
            if plan.wrappedCommand(container, app: app) != nil {
                out +=
                    "No code change is needed: every value reads back exactly in sh, so `task-definition.json` wraps "
                out +=
                    "the container's command in `/bin/sh -c 'set -a && . FILE && set +a && exec \"$0\" \"$@\"'`, which "
                out += "exports the variables and then runs the old command.\n\n"
                continue
            }
            if container["command"] != nil && container["entryPoint"] == nil {
                out += "The command is not wrapped in sh: some value holds characters sh would read differently "
                out += "(a quote together with `$` or a backslash). Read the files in the app, before its settings:\n\n"
            } else {
                out += "The task definition names no command of its own (the image's is used), so it is not wrapped. "
                out += "Read the files in the app, before its settings, or wrap the image's command yourself with "
                out += "`/bin/sh -c 'set -a && . FILE && set +a && exec \"$0\" \"$@\"'`:\n\n"
            }
            var image = ""
            if case .string(let text)? = container["image"] { image = text }
            out += Runtime(image: image).snippet(files)
        }
        return out
    }
}

/// How an app reads its dotenv files, by the runtime its image's name says; sh's `set -a` wrapper
/// for the rest.
enum Runtime {
    case python, node, ruby, php, go, other

    init(image: String) {
        let name = image.split(separator: "/").last.map { String($0.split(separator: ":")[0]).lowercased() } ?? ""
        switch true {
        case name.contains("python") || name.contains("django") || name.contains("flask"): self = .python
        case name.contains("node") || name.contains("next") || name.contains("bun") || name.contains("deno"):
            self = .node
        case name.contains("ruby") || name.contains("rails"): self = .ruby
        case name.contains("php") || name.contains("laravel"): self = .php
        case name.contains("golang"): self = .go
        default: self = .other
        }
    }

    func snippet(_ files: [String]) -> String {
        switch self {
        case .python:
            return "Python (python-dotenv; `interpolate=False` keeps a `$` in a value as it is):\n\n```python\n"
                + "from dotenv import load_dotenv\n"
                + files.map { "load_dotenv(\"\($0)\", override=True, interpolate=False)\n" }.joined() + "```\n\n"
        case .node:
            return "Node.js (the `dotenv` package; it expands nothing):\n\n```js\n"
                + "require('dotenv').config({ path: [" + files.map { "'\($0)'" }.joined(separator: ", ")
                + "], override: true });\n```\n\n"
        case .ruby:
            return "Ruby (the `dotenv` gem; `Dotenv.overload` lets the files win):\n\n```ruby\nrequire 'dotenv'\n"
                + "Dotenv.overload(" + files.map { "'\($0)'" }.joined(separator: ", ") + ")\n```\n\n"
        case .php:
            return "PHP (vlucas/phpdotenv):\n\n```php\n"
                + files.map { file in
                    let slash = file.lastIndex(of: "/")!
                    return
                        "Dotenv\\Dotenv::createMutable('\(file[..<slash])', '\(file[file.index(after: slash)...])')->load();\n"
                }.joined() + "```\n\n"
        case .go:
            return "Go (github.com/joho/godotenv):\n\n```go\nif err := godotenv.Overload("
                + files.map { "\"\($0)\"" }.joined(separator: ", ") + "); err != nil {\n\tlog.Fatal(err)\n}\n```\n\n"
        case .other:
            return "Any runtime: a dotenv library for its language, or sh before the app starts:\n\n```sh\n"
                + "set -a && " + files.map { ". \($0)" }.joined(separator: " && ")
                + " && set +a && exec your-app\n```\n\n"
        }
    }
}
