/// A small XML reader for the query protocol's answers (IAM's): elements, their character data,
/// the five predefined entities and numeric character references. Attributes are read past and
/// dropped, as are the declaration, comments and processing instructions; CDATA and a DTD are
/// refused. Element names keep any prefix (`ns:Name`).
public struct XMLTree: Sendable, Equatable {
    public var name: String
    public var children: [XMLTree]
    /// The character data directly inside, entities decoded (not trimmed).
    public var text: String

    public init(name: String, children: [XMLTree] = [], text: String = "") {
        self.name = name
        self.children = children
        self.text = text
    }

    /// The first child element named `name`.
    public func child(_ name: String) -> XMLTree? { children.first { $0.name == name } }

    /// The element at a path of child names (`tree["Result", "IsTruncated"]`).
    public subscript(_ path: String...) -> XMLTree? {
        var node: XMLTree? = self
        for name in path { node = node?.child(name) }
        return node
    }

    /// A query-protocol list's items: the `<member>` children.
    public var members: [XMLTree] { children.filter { $0.name == "member" } }

    /// Why a document is not XML we read: where, never what (the text came from AWS).
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    /// The deepest nesting read: IAM's answers are a few levels deep.
    public static let maxDepth = 64

    /// The document's root element.
    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> XMLTree {
        var reader = Reader(bytes: bytes)
        try reader.skipMisc()
        guard reader.peek == UInt8(ascii: "<") else { throw reader.error("no root element") }
        let root = try reader.element()
        try reader.skipMisc()
        guard reader.index == bytes.count else { throw reader.error("content after the root element") }
        return root
    }

    public static func parse(_ text: String) throws(ParseError) -> XMLTree { try parse(Array(text.utf8)) }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        func error(_ reason: String) -> ParseError { ParseError(offset: index, reason: reason) }

        func starts(with text: String) -> Bool {
            let prefix = Array(text.utf8)
            return bytes.count - index >= prefix.count && Array(bytes[index..<index + prefix.count]) == prefix
        }

        mutating func skip(past text: String) throws(ParseError) {
            let target = Array(text.utf8)
            while index < bytes.count {
                if starts(with: text) {
                    index += target.count
                    return
                }
                index += 1
            }
            throw error("unterminated construct, \(text) expected")
        }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        /// White space, the declaration, comments and processing instructions between elements.
        mutating func skipMisc() throws(ParseError) {
            while true {
                skipSpace()
                if starts(with: "<?") {
                    try skip(past: "?>")
                } else if starts(with: "<!--") {
                    try skip(past: "-->")
                } else if starts(with: "<!") {
                    throw error("DTDs and CDATA sections are not read")
                } else {
                    return
                }
            }
        }

        mutating func name() throws(ParseError) -> String {
            let start = index
            while let byte = peek, !(byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D),
                byte != UInt8(ascii: ">"), byte != UInt8(ascii: "/"), byte != UInt8(ascii: "=")
            {
                index += 1
            }
            guard index > start else { throw error("element name expected") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        /// At `<`: the element, its attributes dropped, its content read to its end tag. `depth`
        /// counts the elements it is in: deeper than ``maxDepth`` is refused, not recursed into
        /// until the stack runs out.
        mutating func element(depth: Int = 0) throws(ParseError) -> XMLTree {
            guard depth < XMLTree.maxDepth else { throw error("elements nested deeper than \(XMLTree.maxDepth)") }
            index += 1
            var node = XMLTree(name: try name())
            while true {
                skipSpace()
                guard let byte = peek else { throw error("unterminated start tag") }
                if byte == UInt8(ascii: "/") {
                    index += 1
                    guard peek == UInt8(ascii: ">") else { throw error("> expected") }
                    index += 1
                    return node
                }
                if byte == UInt8(ascii: ">") {
                    index += 1
                    break
                }
                _ = try name()
                skipSpace()
                guard peek == UInt8(ascii: "=") else { throw error("= expected") }
                index += 1
                skipSpace()
                guard let quote = peek, quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                    throw error("quoted attribute value expected")
                }
                index += 1
                while let byte = peek, byte != quote { index += 1 }
                guard peek == quote else { throw error("unterminated attribute value") }
                index += 1
            }
            var text: [UInt8] = []
            while true {
                guard let byte = peek else { throw error("</\(node.name)> expected") }
                if byte == UInt8(ascii: "<") {
                    if starts(with: "</") {
                        index += 2
                        let closing = try name()
                        guard closing == node.name else { throw error("</\(node.name)> expected") }
                        skipSpace()
                        guard peek == UInt8(ascii: ">") else { throw error("> expected") }
                        index += 1
                        node.text = String(decoding: text, as: UTF8.self)
                        return node
                    } else if starts(with: "<!--") {
                        try skip(past: "-->")
                    } else if starts(with: "<?") {
                        try skip(past: "?>")
                    } else if starts(with: "<!") {
                        throw error("CDATA sections are not read")
                    } else {
                        node.children.append(try element(depth: depth + 1))
                    }
                } else if byte == UInt8(ascii: "&") {
                    text += Array(try entity().utf8)
                } else {
                    text.append(byte)
                    index += 1
                }
            }
        }

        /// At `&`: `&lt;` `&gt;` `&amp;` `&quot;` `&apos;`, `&#NNN;` or `&#xHH;`.
        mutating func entity() throws(ParseError) -> String {
            let start = index
            index += 1
            while let byte = peek, byte != UInt8(ascii: ";"), index - start < 12 { index += 1 }
            guard peek == UInt8(ascii: ";") else {
                index = start
                throw error("unterminated entity reference")
            }
            let body = String(decoding: bytes[start + 1..<index], as: UTF8.self)
            index += 1
            switch body {
            case "lt": return "<"
            case "gt": return ">"
            case "amp": return "&"
            case "quot": return "\""
            case "apos": return "'"
            default:
                var value: UInt32?
                if body.hasPrefix("#x") || body.hasPrefix("#X") {
                    value = UInt32(body.dropFirst(2), radix: 16)
                } else if body.hasPrefix("#") {
                    value = UInt32(body.dropFirst(), radix: 10)
                }
                guard let value, value != 0, let scalar = Unicode.Scalar(value) else {
                    index = start
                    throw error("unknown entity &\(body.prefix(10));")
                }
                return String(Character(scalar))
            }
        }
    }
}
