/// `ENV` and `ARG` defaults in a Dockerfile: `ENV NAME=value NAME2="v 2"`, the older `ENV NAME
/// value`, `ARG NAME=default`; lines continued with `\`, comments and empty lines inside them skipped,
/// quotes as Docker reads them. Lines end at LF or CRLF (BuildKit's line scanner); each variable
/// carries the line it is written on, a continuation line's own.
enum Dockerfile {
    static func variables(_ text: String, file: String) -> [Candidate] {
        var candidates: [Candidate] = []
        var logical = ""
        var length = 0
        /// Where each physical line of the instruction starts in `logical`, and its number.
        var starts: [(offset: Int, line: Int)] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, line) in lines.enumerated() {
            let trimmed = line.drop(while: \.isWhitespace)
            if trimmed.hasPrefix("#") || trimmed.isEmpty { continue }  // also inside a continued instruction
            starts.append((length, index + 1))
            var body = line
            while let last = body.last, last == " " || last == "\t" { body = body.dropLast() }
            if body.hasSuffix("\\") {
                logical += body.dropLast() + " "
                length += body.count
                continue
            }
            logical += line
            candidates += instruction(logical, starts: starts, file: file)
            logical = ""
            length = 0
            starts = []
        }
        if !starts.isEmpty { candidates += instruction(logical, starts: starts, file: file) }
        return candidates
    }

    /// A Dockerfile's first instruction is `FROM`, or `ARG` before it (parser directives and
    /// comments aside).
    static func looksLikeOne(_ text: String) -> Bool {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let trimmed = line.drop(while: \.isWhitespace)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let keyword = trimmed.prefix(while: { !$0.isWhitespace }).uppercased()
            return (keyword == "FROM" || keyword == "ARG") && trimmed.count > keyword.count
        }
        return false
    }

    static func instruction(_ text: String, starts: [(offset: Int, line: Int)], file: String) -> [Candidate] {
        // Words come in order: the physical line of each is found by moving forward, never searched.
        var current = 0
        func line(at offset: Int) -> Int {
            while current + 1 < starts.count, starts[current + 1].offset <= offset { current += 1 }
            return starts[current].line
        }
        let words = self.words(text)
        guard let keyword = words.first?.text.uppercased(), keyword == "ENV" || keyword == "ARG" else { return [] }
        var candidates: [Candidate] = []
        if keyword == "ENV", words.count > 1, !words[1].text.contains("=") {
            // The older form: the rest of the instruction is the value.
            let rest = Array(text)[words[1].end...]
            candidates.append(
                Candidate(
                    file: file, line: line(at: words[1].start), container: nil, name: words[1].text,
                    value: String(rest).trimmingBlanks, context: .interpolated))
            return candidates
        }
        for word in words.dropFirst() {
            guard let equals = word.text.firstIndex(of: "=") else { continue }
            candidates.append(
                Candidate(
                    file: file, line: line(at: word.start), container: nil, name: String(word.text[..<equals]),
                    value: String(word.text[word.text.index(after: equals)...]), context: .interpolated))
        }
        return candidates
    }

    /// Words split at blanks, with quotes removed and `\` escapes applied, each with the offsets
    /// (in characters) where it starts and ends in `text`.
    static func words(_ text: String) -> [(text: String, start: Int, end: Int)] {
        var words: [(text: String, start: Int, end: Int)] = []
        var current = ""
        var start = 0
        var inWord = false
        var quote: Character?
        var escaped = false
        var offset = 0
        for character in text {
            defer { offset += 1 }
            if !inWord && !character.isWhitespace { start = offset }
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if character == "\\" && quote != "'" {
                escaped = true
                inWord = true
                continue
            }
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
                continue
            }
            if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append((current, start, offset)) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append((current, start, offset)) }
        return words
    }
}
