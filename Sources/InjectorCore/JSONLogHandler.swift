public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// One JSON object per line on standard error: time, level, message, label and the metadata
/// (`secret`, `versionId`, `errorCode`, …). Messages and metadata never hold secret values. Every
/// control character is escaped: C0 by JSON itself, DEL and C1 too (issue 17).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var members: [JSONValue.Member] = [
            .init(key: "time", value: .string(UTCTime.now().rfc3339)),
            .init(key: "level", value: .string(event.level.rawValue)),
            .init(key: "message", value: .string("\(event.message)")), .init(key: "logger", value: .string(label)),
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }).sorted(by: {
            $0.key < $1.key
        }) {
            members.append(.init(key: key, value: Self.json(value)))
        }
        let line = Array((LogEscaping.escapingControls(JSONValue.object(members).serialized, c0: false) + "\n").utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// Whole numbers given as numbers (`.stringConvertible(42)`) stay numbers; anything else is text.
    static func json(_ value: Logger.MetadataValue) -> JSONValue {
        if case .stringConvertible(let convertible) = value {
            switch convertible {
            case let number as Int: return .number("\(number)")
            case let number as Int32: return .number("\(number)")
            case let number as UInt32: return .number("\(number)")
            default: break
            }
        }
        return .string("\(value)")
    }
}
