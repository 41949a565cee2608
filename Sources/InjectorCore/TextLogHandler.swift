public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// `log.format: text`: swift-log's stock line (`time level label: key=value [source] message`) on
/// standard error, with every control character escaped (issue 17): a decoded request path cannot
/// start a line of its own (a forged EMF or log line) or send terminal escapes.
public struct TextLogHandler: LogHandler {
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
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text =
            "\(UTCTime.now().rfc3339) \(event.level) \(label):\(fields.isEmpty ? "" : " " + fields) [\(event.source)] \(event.message)"
        let line = Array((LogEscaping.escapingControls(text, c0: true) + "\n").utf8)
        _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

/// Control characters in log lines, written as `\u00XX` escapes.
enum LogEscaping {
    /// `text` with C1 (U+0080–U+009F) and DEL escaped, and C0 (below U+0020, line ends and tabs
    /// included) too when `c0` (JSON's serializer escapes C0 itself).
    static func escapingControls(_ text: String, c0: Bool) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool {
            (c0 && scalar.value < 0x20) || (0x7F...0x9F).contains(scalar.value)
        }
        guard text.unicodeScalars.contains(where: escaped) else { return text }
        let hex = Array("0123456789abcdef")
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if escaped(scalar) {
                out.append(contentsOf: "\\u00".unicodeScalars)
                out.append(hex[Int(scalar.value >> 4)].unicodeScalars.first!)
                out.append(hex[Int(scalar.value & 0xF)].unicodeScalars.first!)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
