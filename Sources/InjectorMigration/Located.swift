import InjectorBase
import Yams

/// A JSON or YAML document as `scan` walks it: every node with the 1-based line it starts on.
/// Scalars keep their text; `isLiteral` is false for YAML's null and for a node with a tag of
/// its own (CloudFormation's `!Ref`, `!Sub`…), which is no literal value.
indirect enum Located {
    case mapping([(key: String, value: Located)], line: Int)
    case sequence([Located], line: Int)
    case scalar(String, line: Int, isLiteral: Bool)

    var line: Int {
        switch self {
        case .mapping(_, let line), .sequence(_, let line), .scalar(_, let line, _): line
        }
    }

    subscript(key: String) -> Located? {
        guard case .mapping(let members, _) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var members: [(key: String, value: Located)] {
        if case .mapping(let members, _) = self { return members }
        return []
    }

    var elements: [Located] {
        if case .sequence(let elements, _) = self { return elements }
        return []
    }

    /// The text of a literal scalar.
    var literal: String? {
        if case .scalar(let text, _, true) = self { return text }
        return nil
    }
}

/// Why a file cannot be read as JSON or YAML: one line with the line it fails on, never its text.
struct DocumentError: Error, CustomStringConvertible {
    var line: Int
    var reason: String
    var description: String { "line \(line): \(reason)" }
}

extension Located {
    /// A JSON document, with the line of every string value (``JSONValue/parse(_:stringOffsets:)``).
    static func json(_ bytes: [UInt8]) throws(DocumentError) -> Located {
        var offsets: [Int] = []
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes, stringOffsets: &offsets)
        } catch {
            throw DocumentError(line: Lines(bytes).line(at: error.offset), reason: "not valid JSON: \(error.reason)")
        }
        let lines = Lines(bytes)
        var next = 0
        func convert(_ value: JSONValue, line: Int) -> Located {
            switch value {
            case .object(let members):
                return .mapping(
                    members.map { member in
                        (member.key, convert(member.value, line: line))
                    }, line: line)
            case .array(let elements): return .sequence(elements.map { convert($0, line: line) }, line: line)
            case .string(let text):
                defer { next += 1 }
                return .scalar(text, line: lines.line(at: offsets[next]), isLiteral: true)
            case .number(let text): return .scalar(text, line: line, isLiteral: true)
            case .bool(let flag): return .scalar(flag ? "true" : "false", line: line, isLiteral: true)
            case .null: return .scalar("", line: line, isLiteral: false)
            }
        }
        return convert(value, line: 1)
    }

    /// The most nodes a YAML file may hold, each alias counted as the nodes it names: what its text
    /// can hold without aliases (a node takes two bytes at least) and 100,000 more, and never more
    /// than 1,000,000. Yams shares an anchored node among its aliases, but `Located` is a tree:
    /// without a limit, nine levels of ten aliases (566 bytes) expand to 10⁹ nodes. And the deepest
    /// nesting.
    static func nodeLimit(bytes: Int) -> Int { min(1_000_000, 100_000 + bytes / 2) }
    static let depthLimit = 100

    /// Every document of a YAML stream, read by libyaml through Yams (github.com/jpsim/Yams), within
    /// ``nodeLimit(bytes:)`` and ``depthLimit``.
    static func yaml(_ text: String) throws(DocumentError) -> [Located] {
        if let line = aliasKeyLine(Array(text.utf8)) {
            throw DocumentError(
                line: line,
                reason: "an alias in a mapping key (a key compared by its whole expansion), which no configuration has")
        }
        let limit = nodeLimit(bytes: text.utf8.count)
        do {
            var documents: [Located] = []
            var stream = try Yams.compose_all(yaml: text)
            var budget = limit
            while let node = stream.next() {
                documents.append(try convert(node, depth: 0, budget: &budget, limit: limit))
            }
            if let error = stream.error { throw error }
            return documents
        } catch let error as DocumentError {
            throw error
        } catch let error as YamlError {
            throw Self.describe(error)
        } catch {
            throw DocumentError(line: 1, reason: "not valid YAML")
        }
    }

    /// The line of a mapping key that an alias could reach, in a text with aliases: `*name:`, an
    /// explicit key (`? `), or a flow collection as a key (`]:` or `}:`). Yams checks a mapping's keys
    /// for duplicates by hashing each whole, so such a key costs its alias's full expansion before
    /// ``nodeLimit(bytes:)`` is reached: 544 bytes took minutes. Read on the text, before Yams; a
    /// quoted string that looks like one only makes the file a note of `scan`'s.
    static func aliasKeyLine(_ bytes: [UInt8]) -> Int? {
        func isName(_ byte: UInt8) -> Bool {
            !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: ",")
                || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: "{")
                || byte == UInt8(ascii: "}"))
        }
        func endsToken(_ index: Int) -> Bool { index == bytes.count || !isName(bytes[index]) }
        func startsToken(_ index: Int) -> Bool { index == 0 || !isName(bytes[index - 1]) }
        /// Whether a `:` that ends a key follows `index`, spaces and tabs skipped.
        func keyColon(after index: Int) -> Bool {
            var next = index
            while next < bytes.count, bytes[next] == 0x20 || bytes[next] == 0x09 { next += 1 }
            return next < bytes.count && bytes[next] == UInt8(ascii: ":") && endsToken(next + 1)
        }
        func line(_ index: Int) -> Int { bytes[..<index].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 } }
        /// The names after `indicator` (`&` an anchor, `*` an alias), a trailing `:` dropped.
        func names(_ indicator: UInt8) -> Set<[UInt8]> {
            var names: Set<[UInt8]> = []
            for index in bytes.indices where bytes[index] == indicator && startsToken(index) {
                var end = index + 1
                while end < bytes.count, isName(bytes[end]) { end += 1 }
                if end > index + 1, bytes[end - 1] == UInt8(ascii: ":") { end -= 1 }
                if end > index + 1 { names.insert(Array(bytes[(index + 1)..<end])) }
            }
            return names
        }
        // Only a text whose aliases name its anchors: a `*` in a cron line or a glob is no alias.
        let anchors = names(UInt8(ascii: "&"))
        guard !anchors.isEmpty, !names(UInt8(ascii: "*")).isDisjoint(with: anchors) else { return nil }
        /// Whether a key may start at `index`: first on its line (after indentation and `- `), or
        /// first in a flow collection or after its `,`.
        func keyStart(_ index: Int) -> Bool {
            var before = index - 1
            while before >= 0, [0x20, 0x09, UInt8(ascii: "-")].contains(bytes[before]) { before -= 1 }
            return before < 0
                || [0x0A, 0x0D, UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: ",")].contains(bytes[before])
        }
        // Only at a `*` or `?`, so that each walk back covers the blanks before one indicator: linear.
        for index in bytes.indices
        where (bytes[index] == UInt8(ascii: "*") || bytes[index] == UInt8(ascii: "?")) && keyStart(index) {
            switch bytes[index] {
            case UInt8(ascii: "*"):
                var end = index + 1
                while end < bytes.count, isName(bytes[end]) { end += 1 }
                // `*name:` reads as the name `name:` when nothing separates them; both are keys.
                let colon = end > index + 1 && bytes[end - 1] == UInt8(ascii: ":")
                let name = Array(bytes[(index + 1)..<(colon ? end - 1 : end)])
                if anchors.contains(name), colon || keyColon(after: end) { return line(index) }
            case UInt8(ascii: "?") where endsToken(index + 1):
                return line(index)
            default:
                break
            }
        }
        for index in bytes.indices
        where (bytes[index] == UInt8(ascii: "]") || bytes[index] == UInt8(ascii: "}")) && keyColon(after: index + 1) {
            return line(index)
        }
        return nil
    }

    private static func convert(_ node: Node, depth: Int, budget: inout Int, limit: Int) throws(DocumentError)
        -> Located
    {
        let line = node.mark?.line ?? 1
        budget -= 1
        guard budget >= 0 else {
            throw DocumentError(
                line: line, reason: "its aliases expand to more than \(limit) nodes, which no configuration has")
        }
        guard depth < depthLimit else {
            throw DocumentError(line: line, reason: "nested more than \(depthLimit) deep, which no configuration is")
        }
        switch node {
        case .scalar(let scalar):
            // A tag of its own (`!Ref`, `!Sub`…) makes no literal; nor does null, explicit or plain.
            let tag = scalar.tag.rawValue
            let custom = tag.hasPrefix("!") && tag != "!"
            let null =
                tag == Tag.Name.null.rawValue
                || (scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string))
            let literal = !custom && !null
            return .scalar(scalar.string, line: line, isLiteral: literal)
        case .mapping(let mapping):
            var members: [(key: String, value: Located)] = []
            for (key, value) in mapping {
                members.append((key.string ?? "", try convert(value, depth: depth + 1, budget: &budget, limit: limit)))
            }
            return .mapping(members, line: line)
        case .sequence(let sequence):
            var elements: [Located] = []
            for element in sequence {
                elements.append(try convert(element, depth: depth + 1, budget: &budget, limit: limit))
            }
            return .sequence(elements, line: line)
        case .alias:
            // An alias to a node we have not kept: a reference, never a literal of this position.
            return .scalar("", line: line, isLiteral: false)
        }
    }

    /// libyaml's problem and line, without the context Yams quotes from the file.
    private static func describe(_ error: YamlError) -> DocumentError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return DocumentError(line: mark.line, reason: "not valid YAML: \(problem)")
        case .reader(let problem, _, _, _): return DocumentError(line: 1, reason: "not valid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return DocumentError(
                line: context.mark.line,
                reason: "a key is given twice in one mapping: \(duplicates.joined(separator: ", "))")
        default: return DocumentError(line: 1, reason: "not valid YAML")
        }
    }
}

/// Line numbers by byte offset.
struct Lines {
    private var starts: [Int] = [0]

    init(_ bytes: [UInt8]) {
        for (offset, byte) in bytes.enumerated() where byte == 0x0A { starts.append(offset + 1) }
    }

    /// The 1-based line holding `offset`.
    func line(at offset: Int) -> Int {
        var low = 0
        var high = starts.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if starts[middle] <= offset { low = middle } else { high = middle }
        }
        return low + 1
    }
}
