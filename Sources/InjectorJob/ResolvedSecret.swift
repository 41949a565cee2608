public import InjectorBase
public import InjectorConfig

/// A secret as the run resolved it: configured or discovered, with its alias and files.
public struct ResolvedSecret: Sendable {
    public var request: SecretRequest
    public var alias: String
    public var file: FileSpec?
    public var keys: [(key: String, file: FileSpec)]
    public var required: Bool
    /// Where it comes from in the configuration, for messages: `secrets[0]`.
    public var origin: String
}
