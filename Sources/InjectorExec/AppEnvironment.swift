/// The app's environment, by one rule: the injector's own environment, minus its variables
/// (`SECRETS_INJECTOR_*`) and those `exec.dropEnvironment` names, plus the configured variables,
/// which win over the inherited ones of the same name. The app's AWS variables stay: it may call
/// AWS itself.
public struct AppEnvironment: Sendable {
    /// `NAME=value` entries, the inherited ones in their order, then the configured ones.
    public private(set) var entries: [[UInt8]]
    /// The inherited names a configured variable replaced (logged, never their values).
    public private(set) var overridden: [String]

    public init(inherited: [[UInt8]], drop: [String], configured: [(name: String, value: [UInt8])]) {
        var configuredValues: [String: [UInt8]] = [:]
        var configuredOrder: [String] = []
        for variable in configured {
            if configuredValues.updateValue(variable.value, forKey: variable.name) == nil {
                configuredOrder.append(variable.name)
            }
        }
        let dropped = Set(drop)
        var entries: [[UInt8]] = []
        var overridden: [String] = []
        var seen: Set<String> = []
        for entry in inherited {
            let name = Self.name(of: entry)
            guard !name.hasPrefix("SECRETS_INJECTOR_"), !dropped.contains(name), seen.insert(name).inserted else {
                continue
            }
            if configuredValues[name] != nil {
                overridden.append(name)
            } else {
                entries.append(entry)
            }
        }
        for name in configuredOrder { entries.append(Array(name.utf8) + [UInt8(ascii: "=")] + configuredValues[name]!) }
        self.entries = entries
        self.overridden = overridden
    }

    /// The name of a `NAME=value` entry (all of it when it has no `=`).
    static func name(of entry: [UInt8]) -> String {
        String(decoding: entry.prefix { $0 != UInt8(ascii: "=") }, as: UTF8.self)
    }
}
