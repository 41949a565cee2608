public import InjectorBase

/// One thing wrong with the configuration, and where: `secrets[2].mode: "0999" is not an octal file mode`.
public struct ConfigIssue: Error, Sendable, Equatable, CustomStringConvertible {
    /// A JSON path into the merged configuration (`secrets[2].mode`), or the variable or flag that set it.
    public var path: String
    public var message: String

    public init(_ path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Every problem found in a configuration, all at once, before any network call.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible, ExitStatusProviding {
    public var issues: [ConfigIssue]
    public init(_ issues: [ConfigIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
    /// Fix, don't retry: exit 2.
    public var exitStatus: ExitStatus { .usage }
}

/// Reads a ``JSONValue`` strictly, collecting every issue with its path instead of stopping at
/// the first. Used as the raw layer of the configuration: Swift's `Decodable` stops at the first
/// error and cannot list unknown keys with their paths.
struct ConfigReader {
    var issues: [ConfigIssue] = []

    mutating func report(_ path: String, _ message: String) { issues.append(ConfigIssue(path, message)) }

    /// The members of an object; unknown keys are reported with the allowed ones.
    mutating func object(_ value: JSONValue?, at path: String, allowed: [String]) -> [String: JSONValue]? {
        guard let value else { return nil }
        guard case .object(let members) = value else {
            report(path, "expected an object, got \(Self.show(value))")
            return nil
        }
        var result: [String: JSONValue] = [:]
        for member in members {
            if allowed.contains(member.key) {
                result[member.key] = member.value
            } else {
                report(Self.join(path, member.key), "unknown key; allowed: \(allowed.joined(separator: ", "))")
            }
        }
        return result
    }

    mutating func array(_ value: JSONValue?, at path: String) -> [JSONValue]? {
        guard let value else { return nil }
        guard case .array(let elements) = value else {
            report(path, "expected an array, got \(Self.show(value))")
            return nil
        }
        return elements
    }

    mutating func string(_ value: JSONValue?, at path: String, nonEmpty: Bool = true) -> String? {
        guard let value else { return nil }
        guard case .string(let string) = value else {
            report(path, "expected a string, got \(Self.show(value))")
            return nil
        }
        if nonEmpty, string.isEmpty {
            report(path, "must not be empty")
            return nil
        }
        return string
    }

    mutating func bool(_ value: JSONValue?, at path: String) -> Bool? {
        guard let value else { return nil }
        guard case .bool(let bool) = value else {
            report(path, "expected true or false, got \(Self.show(value))")
            return nil
        }
        return bool
    }

    /// A whole number in `range`.
    mutating func integer(_ value: JSONValue?, at path: String, in range: ClosedRange<Int>) -> Int? {
        guard let value else { return nil }
        guard case .number(let text) = value, let number = Int(text) else {
            report(path, "expected a whole number, got \(Self.show(value))")
            return nil
        }
        guard range.contains(number) else {
            report(path, "\(number) is out of range (\(range.lowerBound)…\(range.upperBound))")
            return nil
        }
        return number
    }

    mutating func stringArray(_ value: JSONValue?, at path: String) -> [String]? {
        guard let elements = array(value, at: path) else { return nil }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            if let string = string(element, at: "\(path)[\(index)]") { strings.append(string) }
        }
        return strings.count == elements.count ? strings : nil
    }

    static func join(_ path: String, _ key: String) -> String {
        let simple =
            !key.isEmpty
            && key.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" }
        let part = simple ? key : "[\(JSONValue.quoted(key))]"
        if path.isEmpty { return part }
        return simple ? "\(path).\(part)" : path + part
    }

    /// A short rendering of a value for a message.
    static func show(_ value: JSONValue) -> String {
        switch value {
        case .object: return "an object"
        case .array: return "an array"
        case .null: return "null"
        default:
            let text = value.serialized
            return text.count > 40 ? String(text.prefix(40)) + "…" : text
        }
    }
}
