/// One value in plain sight. It carries no part of the value: `hashedSecret` is its HMAC-SHA-256
/// under the run's key (``ScanKey``), which a dictionary of guesses cannot test without the key.
public struct Finding: Sendable, Equatable {
    /// The file as given, or relative to the working directory when it is below it.
    public var file: String
    public var line: Int
    /// The container (task definition, CloudFormation) or service (Compose); nil for a dotenv file
    /// or a Dockerfile read on its own.
    public var container: String?
    public var name: String
    public var rule: Rule
    public var hashedSecret: String

    /// What a baseline matches on (detect-secrets' workflow): a finding stays known when its line moves.
    public var baselineKey: String { "\(file)\u{0}\(name)\u{0}\(hashedSecret)" }
}

/// A name and a literal value in one of the positions `scan` reads.
struct Candidate {
    var file: String
    var line: Int
    var container: String?
    var name: String
    var value: String
    var context: ValueContext
    /// A finding whatever the value (an `env_file` outside the scanned folders), else the rules decide.
    var rule: Rule? = nil
}
