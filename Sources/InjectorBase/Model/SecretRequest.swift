/// One value to fetch: a secret by name or ARN, optionally a stage or a version.
public struct SecretRequest: Sendable, Hashable, CustomStringConvertible {
    public var id: String
    public var versionStage: String?
    public var versionID: String?

    public init(id: String, versionStage: String? = nil, versionID: String? = nil) {
        self.id = id
        self.versionStage = versionStage == "AWSCURRENT" && versionID == nil ? nil : versionStage
        self.versionID = versionID
    }

    /// The current version, which `BatchGetSecretValue` can fetch.
    public var isCurrent: Bool { versionStage == nil && versionID == nil }

    public var description: String {
        var text = id
        if let versionStage { text += " (stage \(versionStage))" }
        if let versionID { text += " (version \(versionID))" }
        return text
    }
}

/// Which change detector a refresh round uses.
public enum RefreshStrategy: String, Sendable, CaseIterable {
    case auto, list, describe, get

    /// `auto` is `list` when the configuration discovers secrets by prefix, else `describe`
    /// (which `SecretsManagerSource` precedes with one `ListSecrets` for named secrets that share a
    /// prefix, when the role may list and the listing is not throttled).
    public func resolved(discovers: Bool) -> RefreshStrategy {
        self == .auto ? (discovers ? .list : .describe) : self
    }
}

/// How log lines are written (`log.format`).
public enum LogFormat: String, Sendable, CaseIterable { case json, text }
