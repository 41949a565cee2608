import FoundationEssentials
import InjectorBase

/// A template: text with `{{ alias }}`, `{{ alias.key.sub }}` and filters
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
        /// `| default(alias.key)` or `| default("text")`, in order: what the expression gives when its
        /// own key is missing (a secret written before it had the key the template wants).
        public var fallbacks: [Fallback] = []
        /// In a template written to a dotenv file: the quotes the expression stands in, which its
        /// rendered value must not break out of (``DotenvContext``); nil in other files.
        public var dotenv: DotenvContext?
        /// `alias.key.sub`, for messages.
        public var path: String { ([alias] + keys).joined(separator: ".") }
    }

    public enum Fallback: Sendable, Equatable {
        case path(alias: String, keys: [String])
        case text(String)
    }

    public enum Filter: String, Sendable, CaseIterable {
        case urlencode, base64, base64decode, json, shell, dotenv, plain
    }

    public let parts: [Part]

    /// `dotenv`: the template is written to a dotenv file (``isDotenvFile(_:)``), which an app's sh
    /// may source: each expression learns the quotes it stands in, and its value is held to them.
    public init(parsing source: String, dotenv: Bool = false) throws(TemplateSyntaxError) {
        var parts: [Part] = []
        var rest = Substring(source)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else {
                throw TemplateSyntaxError(
                    "unclosed {{ at character \(source.distance(from: source.startIndex, to: open.lowerBound))")
            }
            parts.append(.expression(try Self.expression(String(rest[open.upperBound..<close.lowerBound]))))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = dotenv ? DotenvContext.annotate(parts) : parts
    }

    /// Whether a file of this name is a dotenv file, whatever its case: `.env`, `NAME.env`,
    /// `.env.NAME`, or direnv's `.envrc` (which bash sources).
    public static func isDotenvFile(_ path: String) -> Bool {
        let name = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        return name == ".env" || name.hasSuffix(".env") || name.hasPrefix(".env.") || name == ".envrc"
    }

    /// The expressions of a dotenv template that no filter makes safe there: a bare value, or one
    /// whose last filter (`json`, `base64decode`) can give back quotes, `$` or control characters.
    /// `check` warns about each; at render time their values are still held to their quotes.
    public var unfilteredInDotenv: [Expression] {
        parts.compactMap { part in
            guard case .expression(let expression) = part, expression.dotenv != nil else { return nil }
            switch expression.filters.last {
            case .urlencode?, .base64?, .shell?, .dotenv?, .plain?: return nil
            case .json?, .base64decode?, nil: return expression
            }
        }
    }

    static func expression(_ text: String) throws(TemplateSyntaxError) -> Expression {
        let pieces = text.split(separator: "|", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: " \t")
        }
        guard let segments = path(pieces[0]) else {
            throw TemplateSyntaxError("\"{{\(text)}}\" is not {{ alias }} or {{ alias.key }} (keys of A–Z a–z 0–9 _ -)")
        }
        var expression = Expression(alias: segments[0], keys: Array(segments.dropFirst()), filters: [])
        for piece in pieces.dropFirst() {
            if piece.hasPrefix("default(") && piece.hasSuffix(")") {
                guard expression.filters.isEmpty else {
                    throw TemplateSyntaxError("in {{\(text)}}, default(…) comes before the filters")
                }
                let argument = piece.dropFirst("default(".count).dropLast().trimmingCharacters(in: " \t")
                if argument.count >= 2, argument.hasPrefix("\""), argument.hasSuffix("\"") {
                    expression.fallbacks.append(.text(String(argument.dropFirst().dropLast())))
                } else if let fallback = path(argument) {
                    expression.fallbacks.append(.path(alias: fallback[0], keys: Array(fallback.dropFirst())))
                } else {
                    throw TemplateSyntaxError(
                        "in {{\(text)}}, default takes alias.key or \"text\" (like default(database.database))")
                }
                continue
            }
            guard let filter = Filter(rawValue: piece) else {
                throw TemplateSyntaxError(
                    "unknown filter \"\(piece)\" in {{\(text)}}; filters: \(Filter.allCases.map(\.rawValue).joined(separator: ", ")), and default(alias.key)"
                )
            }
            expression.filters.append(filter)
        }
        return expression
    }

    /// `alias.key.sub` as its segments, or nil when it is not one.
    static func path(_ text: String) -> [String]? {
        let segments = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let keyCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
        guard !text.isEmpty, segments.allSatisfy({ !$0.isEmpty && $0.allSatisfy(keyCharacters.contains) }) else {
            return nil
        }
        return segments
    }

    /// Every alias the template uses, its fallbacks' too.
    public var aliases: [String] {
        var seen: [String] = []
        for case .expression(let expression) in parts {
            for alias in [expression.alias] + expression.fallbacks.compactMap(\.alias) where !seen.contains(alias) {
                seen.append(alias)
            }
        }
        return seen
    }

    /// The rendered bytes. `lookup` gives a secret's value by alias.
    package func render(_ lookup: (String) -> SecretContent?) throws(RenderError) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            switch part {
            case .text(let text): out += Array(text.utf8)
            case .expression(let expression):
                var bytes = try expression.value(lookup)
                for filter in expression.filters {
                    bytes = try filter.apply(bytes, path: expression.path)
                }
                if let context = expression.dotenv {
                    try context.check(bytes, after: expression.filters.last, path: expression.path)
                }
                out += bytes
            }
        }
        return out
    }
}

extension Template.Fallback {
    var alias: String? { if case .path(let alias, _) = self { alias } else { nil } }
}

extension Template.Expression {
    /// The value at the expression's path, else at its first fallback that has one. A missing key
    /// with no fallback left names every path tried.
    func value(_ lookup: (String) -> SecretContent?) throws(RenderError) -> [UInt8] {
        guard let content = lookup(alias) else { throw RenderError.unknownAlias(alias) }
        do {
            return try content.value(at: keys, alias: alias)
        } catch {
            guard case .missingKey(_, let key) = error, !fallbacks.isEmpty else { throw error }
            var tried = [key]
            for fallback in fallbacks {
                switch fallback {
                case .text(let text): return Array(text.utf8)
                case .path(let other, let otherKeys):
                    guard let found = lookup(other) else { throw RenderError.unknownAlias(other) }
                    do {
                        return try found.value(at: otherKeys, alias: other)
                    } catch {
                        guard case .missingKey(_, let otherKey) = error else { throw error }
                        tried.append(otherKey)
                    }
                }
            }
            throw RenderError.missingKey(alias: alias, key: tried.joined(separator: "\" nor \""))
        }
    }
}

/// Why a template's text cannot be parsed, in one line (the configuration says where).
public struct TemplateSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
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
    package func value(at keys: [String], alias: String) throws(RenderError) -> [UInt8] {
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
package enum RenderError: Error, Equatable {
    case unknownAlias(String)
    case notJSON(alias: String)
    case missingKey(alias: String, key: String)
    case filter(Template.Filter, path: String, reason: String)
    case breaksQuotes(path: String, context: DotenvContext)

    package func message(output: String) -> String {
        switch self {
        case .unknownAlias(let alias): return "\(output): alias \"\(alias)\" is not a configured or discovered secret"
        case .notJSON(let alias): return "\(output): secret \"\(alias)\" is not a JSON object, so it has no keys"
        case .missingKey(let alias, let key): return "\(output): secret \"\(alias)\" has no key \"\(key)\""
        case .filter(let filter, let path, let reason): return "\(output): \(filter.rawValue) of \(path): \(reason)"
        case .breaksQuotes(let path, let context):
            return
                "\(output): \(path): the value holds \(context.forbidden), which \(context.description) in a dotenv file cannot hold safely (sh would run or expand it, or a reader would split the line): not written; check the secret, or filter it (| urlencode in a URL, | dotenv for a whole value)"
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
        case .dotenv:
            // A template has no guard line as the env file has: a value sh cannot read back
            // safely is refused rather than written where sh might run it.
            let (text, shSafe) = DotenvQuoting.quote(bytes)
            guard shSafe else {
                throw RenderError.filter(
                    self, path: path,
                    reason:
                        "the value holds a ' with $ or a backtick, or a backslash escape, which sh would run or expand when it sources the file: use | shell for a file sh sources, or the env output (its file stops sh first)"
                )
            }
            return text
        case .plain:
            guard DotenvContext.doubleQuoted.admits(bytes), DotenvContext.singleQuoted.admits(bytes) else {
                throw RenderError.filter(
                    self, path: path,
                    reason:
                        "the value holds a quote, a backslash, $, a backtick or a control character, which a quoted value in a dotenv file or sh cannot hold safely: not written"
                )
            }
            return bytes
        }
    }
}

/// Where an expression stands in a dotenv file, as sh and the dotenv readers split a line
/// (`NAME=value`, `NAME='value'`, `NAME="value"`, `# comment`), and which bytes its value may
/// hold there without ending the quotes, running a command or starting another line:
/// - in `"…"`: no `"`, `\`, `$`, backtick (sh expands them; python-dotenv and Compose decode `\`);
/// - in `'…'`: no `'` or `\` (python-dotenv decodes `\'` and `\\` there);
/// - elsewhere: only `A–Z a–z 0–9 _ . / : @ % + , = - ~` and non-ASCII letters (sh splits a word at
///   a blank and runs `;`, `&`, `|`, `(`; a reader ends the value at `#`);
/// and nowhere a control character (a newline starts another variable).
public enum DotenvContext: Sendable, Equatable {
    case unquoted, singleQuoted, doubleQuoted
    /// Where a variable's name goes: the expression writes whole lines of the secret's choosing,
    /// as configured (a secret that is a dotenv file); not held, and `check` warns without a filter.
    case wholeLines

    /// Holds a rendered value to these quotes, or throws. Outside quotes, `| dotenv` and `| shell`
    /// bring quotes of their own: a dotenv value is one every reader takes back; a shell-quoted one
    /// is sh's, but a quote and a line break in it would end python-dotenv's quotes and start a
    /// line of the secret's choosing. Inside quotes they are held like any value.
    func check(_ bytes: [UInt8], after filter: Template.Filter?, path: String) throws(RenderError) {
        if self == .wholeLines || (self == .unquoted && filter == .dotenv) { return }
        if self == .unquoted, filter == .shell {
            let breaksLine = bytes.contains(0x0A) || bytes.contains(0x0D)
            guard breaksLine && bytes.dropFirst().dropLast().contains(UInt8(ascii: "'")) else { return }
            throw RenderError.filter(
                .shell, path: path,
                reason:
                    "the value holds a quote and a line break, which would end a dotenv reader's quotes and start another variable: not written; use | dotenv in a dotenv file"
            )
        }
        guard admits(bytes) else { throw RenderError.breaksQuotes(path: path, context: self) }
    }

    package func admits(_ bytes: [UInt8]) -> Bool {
        // C1 controls, U+0080–U+009F: 0xC2 then 0x80–0x9F in UTF-8.
        if zip(bytes, bytes.dropFirst()).contains(where: { $0 == 0xC2 && (0x80...0x9F).contains($1) }) { return false }
        return bytes.allSatisfy { byte in
            if byte < 0x20 || byte == 0x7F { return false }
            switch self {
            case .doubleQuoted: return !"\"\\$`".utf8.contains(byte)
            case .singleQuoted: return !"'\\".utf8.contains(byte)
            case .unquoted:
                return byte >= 0x80 || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || "_./:@%+,=-".utf8.contains(byte)
            case .wholeLines: return true
            }
        }
    }

    var description: String {
        switch self {
        case .unquoted: return "a value outside quotes"
        case .singleQuoted: return "a value in single quotes"
        case .doubleQuoted: return "a value in double quotes"
        case .wholeLines: return "a whole line"
        }
    }

    var forbidden: String {
        switch self {
        case .unquoted: return "a character other than A-Z a-z 0-9 _ . / : @ % + , = -"
        case .singleQuoted: return "a single quote, a backslash or a control character"
        case .doubleQuoted: return "a double quote, a backslash, $, a backtick or a control character"
        case .wholeLines: return "anything"
        }
    }

    /// The parts, each expression given the quotes the text before it leaves open. Quotes open and
    /// close as sh reads them (a quoted value may span lines); an expression is taken to write
    /// nothing that changes them, which ``admits(_:)`` then holds it to. An expression where a
    /// variable's name goes writes whole lines of the secret's choosing, and is left alone.
    static func annotate(_ parts: [Template.Part]) -> [Template.Part] {
        enum State { case name, unquoted, single, double, comment }
        var state = State.name
        var escaped = false
        // Outside quotes, `#` starts a comment at the start of a word, for sh and dotenv readers alike.
        var wordStart = true
        return parts.map { part in
            switch part {
            case .expression(var expression):
                switch state {
                case .single: expression.dotenv = .singleQuoted
                case .double: expression.dotenv = .doubleQuoted
                case .unquoted, .comment: expression.dotenv = .unquoted
                case .name: expression.dotenv = .wholeLines
                }
                // A backslash before an expression escapes its first byte, not the text after it.
                escaped = false
                wordStart = false
                return .expression(expression)
            case .text(let text):
                for character in text.utf8 {
                    if escaped {
                        escaped = false
                        wordStart = false
                        continue
                    }
                    let atWordStart = wordStart
                    wordStart = character == 0x20 || character == 0x09 || character == 0x0A
                    switch (state, character) {
                    case (.double, UInt8(ascii: "\\")): escaped = true
                    case (.double, UInt8(ascii: "\"")), (.single, UInt8(ascii: "'")): state = .unquoted
                    case (.double, _), (.single, _): break
                    case (_, 0x0A): state = .name
                    case (.comment, _): break
                    case (.name, UInt8(ascii: "#")): state = .comment
                    case (.name, UInt8(ascii: "=")): state = .unquoted
                    case (.name, _): break
                    case (.unquoted, UInt8(ascii: "#")) where atWordStart: state = .comment
                    case (.unquoted, UInt8(ascii: "'")): state = .single
                    case (.unquoted, UInt8(ascii: "\"")): state = .double
                    case (.unquoted, UInt8(ascii: "\\")): escaped = true
                    case (.unquoted, _): break
                    }
                }
                return part
            }
        }
    }
}

/// The filters' encodings, as pure functions.
public enum TemplateFilters {
    /// RFC 3986 percent-encoding: every byte outside `A–Z a–z 0–9 - . _` as `%XX`. `~` is
    /// unreserved, and `%7E` means the same to every URL reader (RFC 3986, 2.3), but sh expands an
    /// unquoted `~` after `:` or `=`: encoded, the value is safe outside quotes in a dotenv file,
    /// where a rotated password holding `~` would otherwise be refused.
    public static func urlencode(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F: out.append(byte)
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

}

/// How a value is quoted in a dotenv file so that the readers of such files get it back (docs/outputs.md
/// "dotenv files and their readers"). The readers disagree: python-dotenv decodes `\\` and `\'`
/// in single quotes and leaves `\$` alone in double quotes; Docker Compose v2 (compose-go) keeps
/// backslashes in single quotes and expands `$VAR` in double quotes unless written `\$`; sh expands
/// `$` and backticks in double quotes and knows no escape in single quotes. In order:
/// 1. no `'` and no backslash that a reader would take as an escape (`\\`, `\'`, a final `\`):
///    single quotes — every reader gets it back, sh included;
/// 2. no `$` and no backtick: double quotes, `\` and `"` escaped — every reader, sh included;
/// 3. a `'`, with `$` or a backtick: single quotes, `'` escaped as `\'` — python-dotenv and
///    Compose v2 exact; sh cannot read it, so it must never reach that line (``dotenvFile``);
/// 4. the rest (backslash escapes and `$` or backticks): double quotes, `\` and `"` escaped —
///    python-dotenv exact; Compose v2 expands a `$NAME` in it; sh as in 3.
public enum DotenvQuoting {
    /// The quoted value, and whether sh reads it back exactly and safely.
    public static func quote(_ bytes: [UInt8]) -> (text: [UInt8], shSafe: Bool) {
        let quote = UInt8(ascii: "'")
        let backslash = UInt8(ascii: "\\")
        let hasQuote = bytes.contains(quote)
        let backslashEscape =
            bytes.last == backslash
            || zip(bytes, bytes.dropFirst()).contains { $0 == backslash && ($1 == backslash || $1 == quote) }
        let expands = bytes.contains(UInt8(ascii: "$")) || bytes.contains(UInt8(ascii: "`"))
        if !hasQuote && !backslashEscape { return ([quote] + bytes + [quote], true) }
        if !expands { return (doubleQuoted(bytes), true) }
        if !backslashEscape {
            return ([quote] + bytes.flatMap { $0 == quote ? [backslash, quote] : [$0] } + [quote], false)
        }
        return (doubleQuoted(bytes), false)
    }

    private static func doubleQuoted(_ bytes: [UInt8]) -> [UInt8] {
        let doubleQuote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        return [doubleQuote] + bytes.flatMap { $0 == backslash || $0 == doubleQuote ? [backslash, $0] : [$0] }
            + [doubleQuote]
    }

    /// The `env` file: `NAME=value` lines. When some value is one sh cannot read safely (forms 3
    /// and 4), the lines sh can read come first and the first of them ends in `#)`: python-dotenv
    /// and Compose read that as a comment, while sh stops at the `)` before it runs or expands
    /// anything in the file. With no such line to carry it, a `SECRETS_INJECTOR_SH_GUARD=''#)`
    /// line does.
    ///
    /// python-dotenv's quoted-value pattern takes `\"` (or `\'`) as an escaped quote whenever a
    /// later quote lets it, so a value that ends in a backslash is misread when any quote follows it
    /// in the file: such values are written last (one of them then reads back exactly).
    public static func dotenvFile(_ entries: [(name: String, value: [UInt8])]) -> [UInt8] {
        let backslash = UInt8(ascii: "\\")
        var lines = entries.map { entry in
            let (text, shSafe) = quote(entry.value)
            return (line: Array("\(entry.name)=".utf8) + text, shSafe: shSafe, last: entry.value.last == backslash)
        }
        if lines.contains(where: { !$0.shSafe }) {
            if let guardLine = lines.firstIndex(where: { $0.shSafe && !$0.last }) {
                let line = lines.remove(at: guardLine)
                lines.insert((line.line + Array("#)".utf8), true, false), at: 0)
            } else {
                lines.insert((Array("SECRETS_INJECTOR_SH_GUARD=''#)".utf8), true, false), at: 0)
            }
            lines = [lines[0]] + lines.dropFirst().filter(\.shSafe) + lines.dropFirst().filter { !$0.shSafe }
        }
        return (lines.filter { !$0.last } + lines.filter(\.last)).flatMap { $0.line + [0x0A] }
    }
}
