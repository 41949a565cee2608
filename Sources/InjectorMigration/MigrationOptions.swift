import InjectorBase
import InjectorOutputs

/// What `migrate` was asked.
public struct MigrationOptions: Sendable {
    /// `init`: an init container writes the files and exits; `sidecar`: it keeps them current;
    /// `exec`: an init container installs the injector into a volume, and the app's entry point
    /// becomes `secrets-injector exec --`, which puts the variables in the app's environment.
    public enum Mode: String, Sendable, CaseIterable { case initContainer = "init", sidecar, exec }

    public var taskDefinition: String
    public var prefix: String
    public var mode: Mode = .initContainer
    public var image: String
    /// `--region`: before the task definition's own.
    public var region: String?
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`: after the task definition's own.
    public var environmentRegion: String?
    /// The account the secrets are in (`--account`), when the task definition's roles do not say.
    public var account: String?
    public var container: String?
    public var include: [String] = []
    public var exclude: [String] = []

    public init(taskDefinition: String, prefix: String, image: String) {
        self.taskDefinition = taskDefinition
        self.prefix = prefix
        self.image = image
    }
}

extension MigrationOptions {
    /// Whether a variable moves: flagged by `scan`'s rules, or named by --include, and not by --exclude.
    func moves(_ variable: TaskDefinition.Variable) -> Bool {
        if exclude.contains(variable.name) { return false }
        if include.contains(variable.name) { return true }
        return SecretRules.rule(name: variable.name, value: variable.value, context: .literal) != nil
    }
}
