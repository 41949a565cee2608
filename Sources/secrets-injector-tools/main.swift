import ArgumentParser
import FoundationEssentials
import InjectorBase
import InjectorConfig
import InjectorInit
import InjectorMigration
import InjectorSources
import InjectorTelemetry
import Logging
import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// `secrets-injector scan` and `secrets-injector migrate` (SPEC §10): the operator's tools, in an
/// executable of their own because Yams brings full Foundation (docs/ARCHITECTURE.md). The daemon
/// runs this one for those two commands. Usage errors exit 2.
struct Tools: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets-injector",
        abstract: "Find secrets in plain sight, and move a task definition's secrets into Secrets Manager.",
        version: secretsInjectorVersion,
        subcommands: [Scan.self, Migrate.self])
}

struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find secrets in plain sight: task definitions, CloudFormation, Compose, dotenv files, Dockerfiles.",
        discussion: """
            Folders are walked (not .git, .build*, node_modules, nor symbolic links); a file named on the \
            command line is read by its content whatever its name. Output names the file, line, container, \
            variable and rule, and the value's HMAC-SHA-256 under the baseline's random key (without \
            --baseline, a new key each run), never the value. A file that cannot be read, parsed or \
            recognised is a note: one line on standard error naming it (and its line), and in the JSON \
            ("notes") and SARIF (invocations[].toolExecutionNotifications) output; the other files are \
            still scanned. A walked file that is not one of ours (a tsconfig.json with comments, a Helm \
            template) is passed over without a note. Exit codes: 0 nothing (new) found; 1 something found; \
            2 bad usage (a flag, a path that does not exist), or with --strict any note.
            """)

    @Argument(help: "Files or folders (default: the working folder).") var paths: [String] = []
    @Option(help: "text, json or sarif.") var format: String = "text"
    @Option(help: "Known findings (file, name and hashedSecret) that are not reported.") var baseline: String?
    @Flag(help: "Write the current findings to the --baseline file and exit 0.") var updateBaseline = false
    @Flag(help: "Exit 2 when a file cannot be read, parsed or recognised (after the report).") var strict = false

    func run() throws {
        guard let format = ScanReport.Format(rawValue: format) else {
            fail("--format \(format): use text, json or sarif", .usage)
        }
        if updateBaseline && baseline == nil { fail("--update-baseline needs --baseline FILE", .usage) }
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
            paths.isEmpty ? ["."] : paths, workingDirectory: FileManagerless.cwd, key: key)
        for note in notes {
            StandardStream.error.write(
                "secrets-injector: \(strict ? "error" : "note"): \(note.description.escapingControls())\n")
        }
        if let baseline, updateBaseline {
            if strict && !notes.isEmpty { fail("\(baseline): not written with --strict while a file is noted", .usage) }
            try Migration.writeFile(baseline, ScanReport.baseline(findings, key: key, version: secretsInjectorVersion))
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
        if strict && !notes.isEmpty { throw ExitCode(ExitStatus.usage.rawValue) }
        if !new.isEmpty { throw ExitCode(1) }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a task definition's secrets into Secrets Manager and write the injector's deployment.",
        subcommands: [Move.self, Verify.self], defaultSubcommand: Move.self)
}

struct Move: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Move a task definition's secrets into Secrets Manager and write the injector's deployment (the default).",
        discussion: """
            Writes injector.json, task-definition.json, task-role-policy.json and MIGRATION.md to --out, \
            with no value in any of them. Without --apply no network call is made. With --apply the secrets \
            are created with your own credentials (environment keys, AWS_PROFILE, credential_process); a \
            secret that holds the same value is left alone, one with another value is refused (exit 1) \
            unless --overwrite. Exit codes: 0 done (or nothing to move); 1 a secret refused; 2 bad input; \
            3 access denied; 4 network or service failure.
            """)

    @Option(help: "The task definition: register form, or as describe-task-definition prints it.")
    var taskDefinition: String
    @Option(help: "The secrets' name prefix, e.g. pipeline-pulse/prod/.") var prefix: String
    @Option(help: "The folder to write (default ./migration).") var out: String = "migration"
    @Option(help: "init (an init container, the default) or sidecar.") var mode: String = "init"
    @Option(help: "The injector's image, as ECS pulls it (ACCOUNT.dkr.ecr.REGION.amazonaws.com/secrets-injector:TAG).")
    var image: String?
    @Option(help: "The secrets' region (else the task definition's ARNs or awslogs-region, else AWS_REGION).")
    var region: String?
    @Option(help: "The secrets' account, when the task definition names no role (12 digits).") var account: String?
    @Option(help: "The container to migrate, when several have secrets.") var container: String?
    @Option(help: "Also move this variable (repeatable).") var include: [String] = []
    @Option(help: "Keep this variable in the environment (repeatable).") var exclude: [String] = []
    @Flag(help: "Create the secrets in Secrets Manager.") var apply = false
    @Flag(help: "With --apply: put a new version where a secret holds another value.") var overwrite = false
    @Flag(
        help: """
            With --overwrite: write into an existing secret even when its resource policy admits another \
            account or *, its KMS key is not --kms-key-id's, it is replicated, or its tags name another owner: \
            whoever those admit can then read the value.
            """)
    var acceptExistingAccess = false
    @Option(name: .customLong("kms-key-id"), help: "With --apply: the KMS key for new secrets.") var kmsKeyID: String?
    @Option(help: "With --apply: a tag K=V for new secrets (repeatable).") var tag: [String] = []

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let mode = MigrationOptions.Mode(rawValue: mode) else {
            fail("--mode \(mode): use init or sidecar", .usage)
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
            fail("--account \(account): an AWS account id is 12 digits", .usage)
        }
        options.include = include
        options.exclude = exclude
        var tags: [SecretTag] = []
        for text in tag {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                fail("--tag \(text): use KEY=VALUE", .usage)
            }
            tags.append(SecretTag(key: String(text[..<equals]), value: String(text[text.index(after: equals)...])))
        }
        if !apply && (overwrite || kmsKeyID != nil || !tags.isEmpty) {
            fail("--overwrite, --kms-key-id and --tag take effect with --apply only", .usage)
        }
        if acceptExistingAccess && !overwrite {
            fail("--accept-existing-access takes effect with --overwrite only", .usage)
        }
        let bytes = readInput(taskDefinition, flag: "--task-definition")
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
        if mode == .sidecar { command += " --mode sidecar" }
        if let container { command += " --container \(container)" }
        command += include.map { " --include \($0)" }.joined() + exclude.map { " --exclude \($0)" }.joined()
        var arns: [String: String] = [:]
        var refused: [String] = []
        if apply {
            guard let region = plan.region else {
                fail("--apply needs a region: --region, a region in the task definition, or AWS_REGION", .usage)
            }
            let logger = LogLineHandler.bootstrap(
                level: environment["SECRETS_INJECTOR_LOG_LEVEL"] ?? "warning", format: .text)
            let client = try await AWSSetup.secretsManagerClient(
                environment: environment.merging(["AWS_REGION": region]) { $1 },
                transport: AWSSetup.transport(environment: environment),
                allowInsecureEndpoint: environment["SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT"]?.lowercased() == "true",
                logger: logger)
            var exposed: [String] = []
            for result in try await Migration.apply(
                plan, client: client, region: region, kmsKeyID: kmsKeyID, tags: tags, overwrite: overwrite,
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
                fail(
                    "not written into \(exposed.joined(separator: "; also ")): left alone, and nothing written to \(out); use another --prefix, fix the secret, or run again with --accept-existing-access if those may read the value",
                    .failure)
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
            fail(
                "\(refused.joined(separator: ", ")) already hold\(refused.count == 1 ? "s" : "") another value: left alone; run again with --overwrite to put a new version (the old one stays as AWSPREVIOUS)",
                .failure)
        }
    }

}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Render the configuration from Secrets Manager in memory and compare each variable with the old task definition.",
        discussion: "Prints each name with ok or differs, never a value. Exit 0 when all are equal, 1 when one differs."
    )

    @Option(help: "The old task definition.") var taskDefinition: String
    @Option(help: "The configuration migrate wrote (injector.json).") var config: String

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let bytes = readInput(taskDefinition, flag: "--task-definition")
        let loaded = try ConfigLoader.load(configFile: config, overrides: ConfigOverrides(), environment: [:])
        let logger = LogLineHandler.bootstrap(
            level: environment["SECRETS_INJECTOR_LOG_LEVEL"] ?? "warning", format: .text)
        let results = try await Migration.verify(
            taskDefinition: bytes, file: taskDefinition, config: loaded, environment: environment,
            transport: AWSSetup.transport(environment: environment), logger: logger)
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
        if differs > 0 { throw ExitCode(1) }
    }
}

/// A file a flag names (a regular file of at most 16 MiB, never waited on), or exit 2 saying why not.
func readInput(_ path: String, flag: String) -> [UInt8] {
    do {
        return try SmallFile.read(path, limit: 16 << 20, followingLinks: true).bytes
    } catch {
        fail("\(flag) \(error)", .usage)
    }
}

func fail(_ message: String, _ status: ExitStatus) -> Never {
    StandardStream.error.write(
        "secrets-injector: error: \(message.split(whereSeparator: \.isNewline).joined(separator: " ").escapingControls())\n"
    )
    exit(status.rawValue)
}

enum FileManagerless {
    static var cwd: String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        return getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
    }
}

signal(SIGPIPE, SIG_IGN)
ProcessHardening.disableCoreDumps()
let command: any ParsableCommand
do {
    command = try Tools.parseAsRoot()
} catch {
    if Tools.exitCode(for: error) == .success { Tools.exit(withError: error) }
    StandardStream.error.write(Tools.fullMessage(for: error) + "\n")
    exit(ExitStatus.usage.rawValue)
}

/// Runs a command's async `run()` (the existential alone would pick the synchronous one).
func runAsync<Command: AsyncParsableCommand>(_ command: Command) async throws {
    var command = command
    try await command.run()
}

do {
    if let asyncCommand = command as? any AsyncParsableCommand {
        try await runAsync(asyncCommand)
    } else {
        var command = command
        try command.run()
    }
} catch let error where Tools.exitCode(for: error) == .success {
    Tools.exit(withError: error)
} catch let error as ExitCode {
    exit(error.rawValue)
} catch let error as ConfigurationError {
    for issue in error.issues {
        StandardStream.error.write("secrets-injector: error: \(issue.description.escapingControls())\n")
    }
    exit(ExitStatus.usage.rawValue)
} catch let failure as InjectorFailure {
    for problem in failure.problems {
        StandardStream.error.write("secrets-injector: error: \(problem.message.escapingControls())\n")
    }
    exit(failure.exitStatus.rawValue)
} catch {
    fail("\(error)", ExitStatus.of(error))
}
