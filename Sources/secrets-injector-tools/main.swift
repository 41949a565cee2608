import ArgumentParser
import FoundationEssentials
import InjectorAccess
import InjectorBase
import InjectorCommandLine
import InjectorMigration
import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// `secrets-injector scan` and `secrets-injector migrate`: the operator's tools, in an
/// executable of their own because Yams brings full Foundation (docs/ARCHITECTURE.md). The daemon
/// runs this one for those two commands; the room does the work, and ``CommandLineEntry`` maps its
/// errors to the documented exit codes.
struct Tools: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets-injector",
        abstract:
            "Find secrets in plain sight, move a task definition's secrets into Secrets Manager, and review who reads them.",
        version: secretsInjectorVersion,
        subcommands: [Scan.self, Migrate.self, Review.self])
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
        try Migration.scan(
            paths: paths, format: format, baseline: baseline, updateBaseline: updateBaseline, strict: strict)
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
    @Option(
        help: """
            init (an init container writes the files, the default), sidecar (it keeps them current) or exec \
            (an init container installs the injector into a volume, and the app's entryPoint becomes \
            /injector/secrets-injector exec --, which puts the variables in its environment).
            """)
    var mode: String = "init"
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
        try await MigrateCommand(
            taskDefinition: taskDefinition, prefix: prefix, out: out, mode: mode, image: image, region: region,
            account: account, container: container, include: include, exclude: exclude, apply: apply,
            overwrite: overwrite, acceptExistingAccess: acceptExistingAccess, kmsKeyID: kmsKeyID, tags: tag
        ).run(environment: ProcessInfo.processInfo.environment)
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Render the configuration from Secrets Manager in memory and compare each variable with the old task definition.",
        discussion: """
            Prints each name with ok or differs, never a value. Exit 0 when all are equal, 1 when one differs. \
            With --mode exec, runs secrets-injector exec --once (the executable beside this one, else on PATH) \
            with /usr/bin/env -0 as the app, and compares the environment it gets, byte for byte; exec's \
            own failure ends with its exit code.
            """)

    @Option(help: "The old task definition.") var taskDefinition: String
    @Option(help: "The configuration migrate wrote (injector.json).") var config: String
    @Option(help: "init, sidecar (render in memory, the default) or exec (run exec for real).") var mode: String =
        "init"

    func run() async throws {
        try await Migration.verify(
            taskDefinitionFile: taskDefinition, configFile: config, mode: mode,
            environment: ProcessInfo.processInfo.environment)
    }
}

/// `review access` and `review permissions` (the daemon's `review` runs this executable for them).
struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Who read the configured secrets (review access), and who can (review permissions).",
        subcommands: [Access.self, Permissions.self])
}

/// Whose reads are expected: the roles named, else the task definition's task role.
struct ExpectedPrincipals: ParsableArguments {
    @Option(
        name: .customLong("expected-principal"),
        help: "A role or user ARN whose reads are expected (repeatable); else the task definition's task role.")
    var arns: [String] = []
    @Option(help: "A task definition (JSON) whose taskRoleArn is expected.") var taskDefinition: String?
}

struct Access: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Who read each configured secret, from where and with what, from CloudTrail's event history.",
        discussion: """
            Reads DescribeSecret (each secret's ARN) and CloudTrail LookupEvents (EventSource \
            secretsmanager.amazonaws.com, the configuration's region, at most two requests a second), never a \
            value. Findings: a reader that is not an expected principal, denied attempts, a secret nobody read, \
            and with --require-vpc-endpoint reads without a VPC endpoint (docs/access.md). Exit codes: 0 no \
            finding; 1 findings; 2 bad usage or configuration; 3 LookupEvents or DescribeSecret denied; 4 network \
            or service failure.
            """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var expected: ExpectedPrincipals
    @Option(help: "The window, in days back from now: 1 to 90, CloudTrail's event history.")
    var days: Int = 90
    @Flag(help: "A finding for every read that did not come through a VPC endpoint.") var requireVPCEndpoint = false
    @Option(help: "text, json or markdown.") var format: String = "text"

    func run() async throws {
        try await AccessReviewCommand(
            days: days, expectedPrincipals: expected.arns, taskDefinition: expected.taskDefinition,
            requireVPCEndpoint: requireVPCEndpoint, format: format
        ).run(environment: options.environment, config: options.load)
    }
}

struct Permissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Who can read each configured secret: IAM, the secret's resource policy and its KMS key's policy.",
        discussion: """
            Reads iam:GetAccountAuthorizationDetails (every page), each secret's DescribeSecret and \
            GetResourcePolicy, and its KMS key's DescribeKey and GetKeyPolicy, and evaluates them here, never \
            reading a value. Findings: a reader outside --expected-principal and the task definition's task \
            role; a grant of * or secretsmanager:* or on Resource * that reaches the secret; a resource policy \
            that admits another account or *; a key policy that lets more principals decrypt than the secret's \
            grants. Not evaluated: SCPs and RCPs, permissions boundaries, session policies, the AWS managed \
            key's policy (iam:SimulatePrincipalPolicy or IAM Access Analyzer settles them); docs/access.md. \
            Exit codes: 0 no finding; 1 a finding; 2 bad usage (no expected principal); 3 a call refused \
            (naming its permission); 4 network or service failure.
            """)

    @OptionGroup var options: ConfigOptions
    @OptionGroup var expected: ExpectedPrincipals
    @Option(help: "text, json or markdown.") var format: String = "text"

    func run() async throws {
        try await PermissionReviewCommand(
            expectedPrincipals: expected.arns, taskDefinition: expected.taskDefinition, format: format
        ).run(environment: options.environment, config: options.load)
    }
}

signal(SIGPIPE, SIG_IGN)
ProcessHardening.disableCoreDumps()
await CommandLineEntry.main(Tools.self)
