public import InjectorBase
public import Logging

/// One line per event on standard error, in `log.format`:
/// - `json` (the default): an object with time, level, message, label and the metadata (`secret`,
///   `versionId`, `errorCode`, …);
/// - `text`: swift-log's stock line, `time level label: key=value [source] message`.
///
/// Messages and metadata never hold secret values. Every control character is escaped:
/// a decoded request path cannot start a line of its own (a forged EMF or log line) or send
/// terminal escapes. JSON escapes C0 itself; DEL and C1 are escaped in both formats, and C0 in text.
public struct LogLineHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let format: LogFormat

    public init(label: String, level: Logger.Level, format: LogFormat) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    /// Makes this the process's log handler, at `level` (a swift-log level name; `info` when it is
    /// none) in `format`, and returns the injector's logger.
    public static func bootstrap(level name: String, format: LogFormat) -> Logger {
        let level = Logger.Level(rawValue: name.lowercased()) ?? .info
        LoggingSystem.bootstrap { LogLineHandler(label: $0, level: level, format: format) }
        return Logger(label: "secrets-injector")
    }

    /// The logger of a command that runs once and reads no configuration's `log` (`get`, `review`,
    /// `migrate`): `SECRETS_INJECTOR_LOG_LEVEL`, else `warning`, as text.
    public static func bootstrap(environment: [String: String]) -> Logger {
        bootstrap(level: environment["SECRETS_INJECTOR_LOG_LEVEL"] ?? "warning", format: .text)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }.sorted { $0.key < $1.key }
        let line: String
        switch format {
        case .json:
            var members: [JSONValue.Member] = [
                .init(key: "time", value: .string(UTCTime.now().rfc3339)),
                .init(key: "level", value: .string(event.level.rawValue)),
                .init(key: "message", value: .string("\(event.message)")), .init(key: "logger", value: .string(label)),
            ]
            for (key, value) in fields { members.append(.init(key: key, value: Self.json(value))) }
            line = JSONValue.object(members).serialized.escapingControls(c0: false)
        case .text:
            let pairs = fields.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line =
                "\(UTCTime.now().rfc3339) \(event.level) \(label):\(pairs.isEmpty ? "" : " " + pairs) [\(event.source)] \(event.message)"
                .escapingControls()
        }
        StandardStream.error.write(line + "\n")
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
