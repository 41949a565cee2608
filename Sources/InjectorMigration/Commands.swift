import InjectorBase
import InjectorConfig
import InjectorSources
import InjectorTelemetry
import SecretsManager

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// This room's commands, as `secrets-injector-tools` calls them: `scan`, `migrate` and `migrate verify`.
extension Migration {
    /// `scan`: the findings of `paths` (the working folder when none) on standard output in
    /// `format` (text, json or sarif), less those `baseline` knows; each note as one line on
    /// standard error. `updateBaseline` writes the findings to `baseline` instead. Ends with exit 1
    /// when there is a new finding, and exit 2 with `strict` when there is a note (``CommandExit``).
    public static func scan(
        paths: [String], format: String, baseline: String?, updateBaseline: Bool, strict: Bool
    ) throws {
        guard let format = ScanReport.Format(rawValue: format) else {
            throw InputError("--format \(format): use text, json or sarif")
        }
        if updateBaseline && baseline == nil { throw InputError("--update-baseline needs --baseline FILE") }
        var known: Set<String> = []
        var key = ScanKey.random()
        if let baseline, !updateBaseline {
            (key, known) = try ScanReport.baseline(readInput(baseline, flag: "--baseline"), file: baseline)
        } else if let baseline, let bytes = try? SmallFile.read(baseline, limit: 16 << 20, followingLinks: true).bytes,
            let old = try? ScanReport.baseline(bytes, file: baseline)
        {
            key = old.key  // the baseline written again keeps its key: its unchanged findings stay as they were
        }
        let (findings, notes) = try Scanner.scan(
            paths.isEmpty ? ["."] : paths, workingDirectory: workingDirectory, key: key)
        for note in notes {
            StandardStream.error.write(
                "secrets-injector: \(strict ? "error" : "note"): \(note.description.escapingControls())\n")
        }
        if let baseline, updateBaseline {
            if strict && !notes.isEmpty {
                throw InputError("\(baseline): not written with --strict while a file is noted")
            }
            try writeFile(baseline, ScanReport.baseline(findings, key: key, version: secretsInjectorVersion))
            StandardStream.error.write(
                "secrets-injector: \(baseline.escapingControls()): \(findings.count) finding\(findings.count == 1 ? "" : "s") recorded\n"
            )
            return
        }
        let new = findings.filter { !known.contains($0.baselineKey) }
        StandardStream.output.write(
            Array(
                ScanReport.render(new, notes: notes, strict: strict, format: format, version: secretsInjectorVersion)
                    .utf8))
        if strict && !notes.isEmpty { throw CommandExit(.usage) }
        if !new.isEmpty { throw CommandExit(.failure) }
    }

    /// `migrate verify`: each variable the configuration at `configFile` renders from Secrets
    /// Manager, `ok` or `differs` from the old task definition at `taskDefinitionFile`, never a
    /// value. Ends with exit 1 when one differs. `mode` `exec` runs the daemon's `exec` for real
    /// (``verifyExec(taskDefinition:file:configFile:environment:daemon:timeoutSeconds:)``): the
    /// `secrets-injector` beside this executable, else on `PATH` (`daemon` names another).
    public static func verify(
        taskDefinitionFile: String, configFile: String, mode: String = "init", environment: [String: String],
        daemon: String? = nil
    ) async throws {
        guard let mode = MigrationOptions.Mode(rawValue: mode) else {
            throw InputError("--mode \(mode): use init, sidecar or exec")
        }
        let bytes = try readInput(taskDefinitionFile, flag: "--task-definition")
        let results: [(name: String, equal: Bool?)]
        if mode == .exec {
            guard let daemon = daemon ?? SiblingExecutable.locate("secrets-injector") else {
                throw InputError(
                    "--mode exec runs secrets-injector exec, and secrets-injector is neither beside this executable nor on PATH"
                )
            }
            results = try await verifyExec(
                taskDefinition: bytes, file: taskDefinitionFile, configFile: configFile, environment: environment,
                daemon: daemon)
        } else {
            let config = try ConfigLoader.load(configFile: configFile, overrides: ConfigOverrides(), environment: [:])
            results = try await verify(
                taskDefinition: bytes, file: taskDefinitionFile, config: config, environment: environment,
                transport: AWSSetup.transport(environment: environment),
                logger: LogLineHandler.bootstrap(environment: environment))
        }
        var differs = 0
        for result in results {
            switch result.equal {
            case true?: print("\(result.name.escapingControls()) ok")
            case false?:
                print("\(result.name.escapingControls()) differs")
                differs += 1
            case nil: print("\(result.name.escapingControls()) not in the old environment (not compared)")
            }
        }
        if differs > 0 { throw CommandExit(.failure) }
    }

    /// A file a flag names (a regular file of at most 16 MiB, never waited on), or exit 2 saying why not.
    static func readInput(_ path: String, flag: String) throws(InputError) -> [UInt8] {
        do {
            return try SmallFile.read(path, limit: 16 << 20, followingLinks: true).bytes
        } catch {
            throw InputError("\(flag) \(error)")
        }
    }

    static var workingDirectory: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        return getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
    }
}

/// `migrate`: its flags as given, and the run: the plan of one container's move, the secrets
/// created with `apply`, the four files written to `out`, and what is left to do on standard error.
public struct MigrateCommand: Sendable {
    public var taskDefinition: String
    public var prefix: String
    public var out: String
    /// `init`, `sidecar` or `exec`.
    public var mode: String
    public var image: String?
    public var region: String?
    public var account: String?
    public var container: String?
    public var include: [String]
    public var exclude: [String]
    public var apply: Bool
    public var overwrite: Bool
    public var acceptExistingAccess: Bool
    public var kmsKeyID: String?
    /// `KEY=VALUE` each.
    public var tags: [String]

    public init(
        taskDefinition: String, prefix: String, out: String = "migration", mode: String = "init",
        image: String? = nil, region: String? = nil, account: String? = nil, container: String? = nil,
        include: [String] = [], exclude: [String] = [], apply: Bool = false, overwrite: Bool = false,
        acceptExistingAccess: Bool = false, kmsKeyID: String? = nil, tags: [String] = []
    ) {
        self.taskDefinition = taskDefinition
        self.prefix = prefix
        self.out = out
        self.mode = mode
        self.image = image
        self.region = region
        self.account = account
        self.container = container
        self.include = include
        self.exclude = exclude
        self.apply = apply
        self.overwrite = overwrite
        self.acceptExistingAccess = acceptExistingAccess
        self.kmsKeyID = kmsKeyID
        self.tags = tags
    }

    /// Ends with exit 2 on bad flags or input, exit 1 when a secret is refused (another value
    /// without `overwrite`) or left alone (others could read it), as the command documents.
    public func run(environment: [String: String]) async throws {
        guard let mode = MigrationOptions.Mode(rawValue: mode) else {
            throw InputError("--mode \(mode): use init, sidecar or exec")
        }
        // A prefix names a folder of secrets: `myapp` would give `myapppostgres-password`.
        let prefix = prefix.last.map { "/-_.".contains($0) } == true ? prefix : prefix + "/"
        var options = MigrationOptions(
            taskDefinition: taskDefinition, prefix: prefix, image: image ?? "secrets-injector:\(secretsInjectorVersion)"
        )
        options.mode = mode
        options.region = region
        options.environmentRegion = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"]
        options.container = container
        options.account = account
        if let account, account.count != 12 || !account.allSatisfy({ $0.isASCII && $0.isNumber }) {
            throw InputError("--account \(account): an AWS account id is 12 digits")
        }
        options.include = include
        options.exclude = exclude
        var secretTags: [SecretTag] = []
        for text in tags {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw InputError("--tag \(text): use KEY=VALUE")
            }
            secretTags.append(
                SecretTag(key: String(text[..<equals]), value: String(text[text.index(after: equals)...])))
        }
        if !apply && (overwrite || kmsKeyID != nil || !secretTags.isEmpty) {
            throw InputError("--overwrite, --kms-key-id and --tag take effect with --apply only")
        }
        if acceptExistingAccess && !overwrite {
            throw InputError("--accept-existing-access takes effect with --overwrite only")
        }
        let bytes = try Migration.readInput(taskDefinition, flag: "--task-definition")
        let plan = try MigrationPlan(options: options, bytes: bytes)
        guard !plan.isEmpty else {
            print(
                "\(taskDefinition.escapingControls()): nothing to move: no container has a secret in its environment or secrets[]"
            )
            return
        }
        if image == nil {
            StandardStream.error.write(
                "secrets-injector: warning: \(out.escapingControls())/task-definition.json names the image \(options.image), which ECS cannot pull: push the injector's image to your registry and give --image (MIGRATION.md)\n"
            )
        }
        var command = "secrets-injector migrate --task-definition \(taskDefinition) --prefix \(prefix)"
        if let image { command += " --image \(image)" }
        if out != "migration" { command += " --out \(out)" }
        if mode != .initContainer { command += " --mode \(mode.rawValue)" }
        if let container { command += " --container \(container)" }
        command += include.map { " --include \($0)" }.joined() + exclude.map { " --exclude \($0)" }.joined()
        var arns: [String: String] = [:]
        var refused: [String] = []
        if apply {
            guard let region = plan.region else {
                throw InputError(
                    "--apply needs a region: --region, a region in the task definition, or AWS_REGION")
            }
            let client = try await AWSSetup.secretsManagerClient(
                environment: environment.merging(["AWS_REGION": region]) { $1 },
                logger: LogLineHandler.bootstrap(environment: environment))
            var exposed: [String] = []
            for result in try await Migration.apply(
                plan, client: client, region: region, kmsKeyID: kmsKeyID, tags: secretTags, overwrite: overwrite,
                acceptExistingAccess: acceptExistingAccess)
            {
                if let arn = result.arn { arns[result.name] = arn }
                switch result.outcome {
                case .refused: refused.append(result.name)
                case .exposed(let reasons): exposed.append("\(result.name): \(reasons.joined(separator: "; "))")
                default: break
                }
                print("\(result.name.escapingControls()): \(result.outcome.word)")
            }
            // No file names a secret the value was kept out of: the migration is not done.
            if !exposed.isEmpty {
                throw CommandExit(
                    .failure,
                    "not written into \(exposed.joined(separator: "; also ")): left alone, and nothing written to \(out); use another --prefix, fix the secret, or run again with --accept-existing-access if those may read the value"
                )
            }
        }
        try Migration.write(plan, to: out, arns: arns, command: command)
        for (other, variables) in plan.leftInOtherContainers {
            StandardStream.error.write(
                "secrets-injector: warning: container \(other.escapingControls()) was not migrated: \(variables.joined(separator: ", ").escapingControls()) keep their values in \(out.escapingControls())/task-definition.json (MIGRATION.md)\n"
            )
        }
        let wildcards = plan.wildcardResources(arns: arns)
        if !wildcards.isEmpty {
            let account = plan.account(arns: arns) == "*"
            let region = plan.region == nil
            let missing = [
                account ? "the account (--account, or a role ARN in the task definition)" : nil,
                region ? "the region (--region or AWS_REGION)" : nil,
            ].compactMap { $0 }
            StandardStream.error.write(
                "secrets-injector: warning: \(out.escapingControls())/task-role-policy.json grants \(wildcards.joined(separator: ", ").escapingControls()): any \(account && region ? "account's and region's" : account ? "account's" : "region's") secret or parameter of that name; give \(missing.joined(separator: " and ")) and run again\n"
            )
        }
        func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }
        var summary = "moved \(count(plan.moved.count + plan.carried.count, "variable")) of "
        summary += plan.apps.map(\.name).joined(separator: ", ").escapingControls() + ": "
        var parts: [String] = []
        if !plan.moved.isEmpty { parts.append("\(plan.moved.count) into \(count(plan.secrets.count, "new secret"))") }
        if !plan.carried.isEmpty {
            parts.append("\(plan.carried.count) from secrets[] references, read by the injector now")
        }
        print(summary + parts.joined(separator: ", ") + "; see \(out.escapingControls())/MIGRATION.md")
        if !refused.isEmpty {
            throw CommandExit(
                .failure,
                "\(refused.joined(separator: ", ")) already hold\(refused.count == 1 ? "s" : "") another value: left alone; run again with --overwrite to put a new version (the old one stays as AWSPREVIOUS)"
            )
        }
    }
}
