/// A dotenv file read as python-dotenv reads it with `interpolate=False` (its `parser.py`): an
/// optional `export `, a key (bare, or in single quotes), `=`, and a value that is single-quoted
/// (`\\` and `\'` decoded), double-quoted (`\\ \' \" \a \b \f \n \r \t \v` decoded), or bare (up to
/// a ` #` comment, trailing blanks dropped). Quoted values may span lines. A line python-dotenv
/// cannot parse is skipped, as it skips it, and reported.
public struct DotenvBinding: Sendable, Equatable {
    public var name: String
    /// nil for a key without `=` (python-dotenv's `None`).
    public var value: String?
    /// The 1-based line the key is on.
    public var line: Int
}

public enum Dotenv {
    public static func parse(_ text: String) -> (bindings: [DotenvBinding], unparsedLines: [Int]) {
        var reader = Reader(Array(text.unicodeScalars))
        if reader.peek == "\u{FEFF}" { reader.index += 1 }
        var bindings: [DotenvBinding] = []
        var unparsed: [Int] = []
        while reader.hasNext {
            let start = reader.index
            let startLine = reader.line
            if let binding = reader.binding() {
                if let binding = binding { bindings.append(binding) }
            } else {
                reader.index = start
                reader.line = startLine
                reader.skipBlankLines()
                unparsed.append(reader.line)
                reader.restOfLine()
            }
        }
        return (bindings, unparsed)
    }

    private struct Reader {
        let scalars: [Unicode.Scalar]
        var index = 0
        var line = 1

        init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

        var hasNext: Bool { index < scalars.count }
        var peek: Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

        static func isNewline(_ scalar: Unicode.Scalar) -> Bool { scalar == "\n" || scalar == "\r" }
        /// Python's `\s` without the line breaks (`[^\S\r\n]`).
        static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
            !isNewline(scalar) && (scalar.properties.isWhitespace || ("\u{1C}"..."\u{1F}").contains(scalar))
        }
        static func isSpace(_ scalar: Unicode.Scalar) -> Bool { isNewline(scalar) || isBlank(scalar) }

        mutating func advance() {
            let scalar = scalars[index]
            index += 1
            if scalar == "\n" || (scalar == "\r" && peek != "\n") { line += 1 }
        }

        mutating func skipBlankLines() { while let scalar = peek, Self.isSpace(scalar) { advance() } }
        mutating func skipBlanks() { while let scalar = peek, Self.isBlank(scalar) { advance() } }
        mutating func restOfLine() {
            while let scalar = peek, !Self.isNewline(scalar) { advance() }
            if peek == "\r" { advance() }
            if peek == "\n" { advance() }
        }

        /// One binding: `.some(nil)` for the end of the text or a comment line, `nil` when the line
        /// does not parse.
        mutating func binding() -> DotenvBinding?? {
            skipBlankLines()
            guard hasNext else { return .some(nil) }
            // (?:export[^\S\r\n]+)?
            let export = Array("export".unicodeScalars)
            if index + export.count < scalars.count, Array(scalars[index..<index + export.count]) == export,
                Self.isBlank(scalars[index + export.count])
            {
                for _ in export { advance() }
                skipBlanks()
            }
            let keyLine = line
            var key: String?
            switch peek {
            case "#": key = nil
            case "'":
                advance()
                var text = ""
                while let scalar = peek, scalar != "'" {
                    text.unicodeScalars.append(scalar)
                    advance()
                }
                guard peek == "'", !text.isEmpty else { return nil }
                advance()
                key = text
            default:
                var text = ""
                while let scalar = peek, scalar != "=", scalar != "#", !Self.isSpace(scalar) {
                    text.unicodeScalars.append(scalar)
                    advance()
                }
                guard !text.isEmpty else { return nil }
                key = text
            }
            skipBlanks()
            var value: String?
            if peek == "=" {
                advance()
                skipBlanks()
                guard let parsed = self.value() else { return nil }
                value = parsed
            }
            // An optional comment, then the end of the line.
            skipBlanks()
            if peek == "#" { while let scalar = peek, !Self.isNewline(scalar) { advance() } }
            guard peek == nil || Self.isNewline(peek!) else { return nil }
            if peek == "\r" { advance() }
            if peek == "\n" { advance() }
            guard let key else { return .some(nil) }
            return .some(DotenvBinding(name: key, value: value, line: keyLine))
        }

        mutating func value() -> String? {
            switch peek {
            case "'": return quoted("'", escapes: ["\\": "\\", "'": "'"])
            case "\"":
                return quoted(
                    "\"",
                    escapes: [
                        "\\": "\\", "'": "'", "\"": "\"", "a": "\u{07}", "b": "\u{08}", "f": "\u{0C}", "n": "\n",
                        "r": "\r", "t": "\t", "v": "\u{0B}",
                    ])
            case nil, "\n", "\r": return ""
            default:
                var text: [Unicode.Scalar] = []
                while let scalar = peek, !Self.isNewline(scalar) {
                    text.append(scalar)
                    advance()
                }
                // re.sub(r"\s+#.*", "", part).rstrip()
                if let comment = text.indices.first(where: { $0 > 0 && text[$0] == "#" && Self.isBlank(text[$0 - 1]) })
                {
                    var cut = comment
                    while cut > 0, Self.isBlank(text[cut - 1]) { cut -= 1 }
                    text.removeSubrange(cut...)
                }
                while let last = text.last, Self.isSpace(last) { text.removeLast() }
                return String(String.UnicodeScalarView(text))
            }
        }

        /// `'((?:\\'|[^'])*)'`: the closing quote is the last one that lets the pattern match, as a
        /// backtracking regex finds it: an escaped quote is taken as content when a later quote
        /// closes the value. The escapes are decoded afterwards.
        mutating func quoted(_ quote: Unicode.Scalar, escapes: [Unicode.Scalar: Unicode.Scalar]) -> String? {
            let open = index + 1
            // Greedy: `(?:\\'|[^'])*` prefers consuming `\'` as content, so the match ends at the
            // first quote not preceded by a backslash that the greedy walk reaches; when none
            // closes, it backtracks to the last unescaped-by-choice quote.
            var position = open
            var candidates: [Int] = []
            while position < scalars.count {
                if scalars[position] == "\\", position + 1 < scalars.count, scalars[position + 1] == quote {
                    candidates.append(position + 1)
                    position += 2
                } else if scalars[position] == quote {
                    candidates.append(position)
                    break
                } else {
                    position += 1
                }
            }
            guard let close = candidates.last else { return nil }
            let content = Array(scalars[open..<close])
            while index <= close { advance() }
            var out = String.UnicodeScalarView()
            var cursor = 0
            while cursor < content.count {
                if content[cursor] == "\\", cursor + 1 < content.count, let decoded = escapes[content[cursor + 1]] {
                    out.append(decoded)
                    cursor += 2
                } else {
                    out.append(content[cursor])
                    cursor += 1
                }
            }
            return String(out)
        }
    }
}
