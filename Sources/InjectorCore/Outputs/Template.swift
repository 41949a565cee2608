import FoundationEssentials
import HTTPTransport

/// A template of SPEC §4: text with `{{ alias }}`, `{{ alias.key.sub }}` and filters
/// (`{{ database.password | urlencode }}`). Parsed once when the configuration is read, so syntax
/// errors, unknown filters and unknown aliases are configuration errors.
public struct Template: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case text(String)
        case expression(Expression)
    }

    public struct Expression: Sendable, Equatable {
        public var alias: String
        /// JSON object keys (or array indexes) below the secret's value.
        public var keys: [String]
        public var filters: [Filter]
        /// `alias.key.sub`, for messages.
        public var path: String { ([alias] + keys).joined(separator: ".") }
    }

    public enum Filter: String, Sendable, CaseIterable {
        case urlencode, base64, base64decode, json, shell, dotenv
    }

    public let parts: [Part]

    public init(parsing source: String) throws(ConfigIssue) {
        var parts: [Part] = []
        var rest = Substring(source)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                throw ConfigIssue(
                    "", "unclosed {{ at character \(source.distance(from: source.startIndex, to: open.lowerBound))")
            }
            parts.append(.expression(try Self.expression(String(rest[open.upperBound..<close.lowerBound]))))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    static func expression(_ text: String) throws(ConfigIssue) -> Expression {
        let pieces = text.split(separator: "|", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: " \t")
        }
        let path = pieces[0]
        let segments = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let keyCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        guard !path.isEmpty, segments.allSatisfy({ !$0.isEmpty && $0.allSatisfy(keyCharacters.contains) }) else {
            throw ConfigIssue("", "\"{{\(text)}}\" is not {{ alias }} or {{ alias.key }} (keys of A–Z a–z 0–9 _ -)")
        }
        var filters: [Filter] = []
        for name in pieces.dropFirst() {
            guard let filter = Filter(rawValue: name) else {
                throw ConfigIssue(
                    "",
                    "unknown filter \"\(name)\" in {{\(text)}}; filters: \(Filter.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            filters.append(filter)
        }
        return Expression(alias: segments[0], keys: Array(segments.dropFirst()), filters: filters)
    }

    /// Every alias the template uses.
    public var aliases: [String] {
        var seen: [String] = []
        for case .expression(let expression) in parts where !seen.contains(expression.alias) {
            seen.append(expression.alias)
        }
        return seen
    }

    /// The rendered bytes. `lookup` gives a secret's value by alias.
    func render(_ lookup: (String) -> SecretContent?) throws(RenderError) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            switch part {
            case .text(let text): out += Array(text.utf8)
            case .expression(let expression):
                guard let content = lookup(expression.alias) else { throw RenderError.unknownAlias(expression.alias) }
                var bytes = try content.value(at: expression.keys, alias: expression.alias)
                for filter in expression.filters {
                    bytes = try filter.apply(bytes, path: expression.path)
                }
                out += bytes
            }
        }
        return out
    }
}

/// A fetched secret's value, with its JSON parsed at most once.
public final class SecretContent: @unchecked Sendable {
    public let bytes: [UInt8]
    public let isBinary: Bool
    private lazy var json: Result<JSONValue, JSONParseError> = Result { () throws(JSONParseError) in
        try JSONValue.parse(bytes)
    }

    public init(bytes: [UInt8], isBinary: Bool) {
        self.bytes = bytes
        self.isBinary = isBinary
    }

    /// The whole value (no keys), or the text of a JSON path below it.
    func value(at keys: [String], alias: String) throws(RenderError) -> [UInt8] {
        guard !keys.isEmpty else { return bytes }
        guard !isBinary, case .success(var node) = json else { throw RenderError.notJSON(alias: alias) }
        for (depth, key) in keys.enumerated() {
            var next: JSONValue?
            if case .array(let elements) = node, let index = Int(key), elements.indices.contains(index) {
                next = elements[index]
            } else {
                next = node[key]
            }
            guard let found = next else {
                throw RenderError.missingKey(
                    alias: alias, key: ([alias] + keys.prefix(depth + 1)).joined(separator: "."))
            }
            node = found
        }
        return Array(node.text.utf8)
    }
}

/// Why an output could not be rendered. Names aliases and keys, never values.
enum RenderError: Error, Equatable {
    case unknownAlias(String)
    case notJSON(alias: String)
    case missingKey(alias: String, key: String)
    case filter(Template.Filter, path: String, reason: String)

    func message(output: String) -> String {
        switch self {
        case .unknownAlias(let alias): return "\(output): alias \"\(alias)\" is not a configured or discovered secret"
        case .notJSON(let alias): return "\(output): secret \"\(alias)\" is not a JSON object, so it has no keys"
        case .missingKey(let alias, let key): return "\(output): secret \"\(alias)\" has no key \"\(key)\""
        case .filter(let filter, let path, let reason): return "\(output): \(filter.rawValue) of \(path): \(reason)"
        }
    }
}

extension Template.Filter {
    func apply(_ bytes: [UInt8], path: String) throws(RenderError) -> [UInt8] {
        switch self {
        case .urlencode: return Array(TemplateFilters.urlencode(bytes).utf8)
        case .base64: return Array(Data(bytes).base64EncodedString().utf8)
        case .base64decode:
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
            guard let data = Data(base64Encoded: text) else {
                throw RenderError.filter(self, path: path, reason: "not valid base64")
            }
            return Array(data)
        case .json:
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw RenderError.filter(self, path: path, reason: "not UTF-8 text")
            }
            return Array(JSONValue.quoted(text).utf8)
        case .shell: return TemplateFilters.shellQuoted(bytes)
        case .dotenv: return TemplateFilters.dotenvQuoted(bytes)
        }
    }
}

/// The filters' encodings, as pure functions.
public enum TemplateFilters {
    /// RFC 3986 percent-encoding: every byte outside `A–Z a–z 0–9 - . _ ~` as `%XX`.
    public static func urlencode(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E: out.append(byte)
            default: out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// POSIX shell single quotes: `'it'\''s'`.
    public static func shellQuoted(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x27]
        for byte in bytes {
            if byte == 0x27 { out += Array("'\\''".utf8) } else { out.append(byte) }
        }
        return out + [0x27]
    }

    /// A double-quoted dotenv value (python-dotenv, Docker Compose): `\` `"` and line breaks
    /// escaped as `\\` `\"` `\n` `\r` `\t`.
    public static func dotenvQuoted(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for byte in bytes {
            switch byte {
            case 0x5C: out += [0x5C, 0x5C]
            case 0x22: out += [0x5C, 0x22]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            default: out.append(byte)
            }
        }
        return out + [0x22]
    }
}
