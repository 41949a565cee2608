extension StringProtocol {
    /// The text without leading and trailing characters of `set`, compared as Unicode scalars (so
    /// `"\r\n"` in `set` means CR and LF, each on its own); shared by the layers above, which use
    /// FoundationEssentials (no `CharacterSet` trimming there).
    public func trimmingCharacters(in set: String) -> String {
        let members = Set(set.unicodeScalars)
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, members.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, members.contains(last) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}

extension String {
    /// The text on one line, as every message on standard error is: its lines joined by spaces,
    /// then ``escapingControls(c0:)``.
    public var oneLine: String { split(whereSeparator: \.isNewline).joined(separator: " ").escapingControls() }

    /// The text with C1 (U+0080–U+009F) and DEL written as `\u00XX`, and C0 (below U+0020, line
    /// ends and tabs included) too when `c0`: what a log line, `scan`, `migrate` and `review` print
    /// from names others chose, so that none starts a line of its own (a forged log line, a GitHub
    /// Actions workflow command) or sends a terminal escape. JSON escapes C0
    /// itself, and `\u00XX` in JSON is the same character: `c0: false` over serialized JSON loses nothing.
    public func escapingControls(c0: Bool = true) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool {
            (c0 && scalar.value < 0x20) || (0x7F...0x9F).contains(scalar.value)
        }
        guard unicodeScalars.contains(where: escaped) else { return self }
        let hex = Array("0123456789abcdef".unicodeScalars)
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if escaped(scalar) {
                out.append(contentsOf: "\\u00".unicodeScalars)
                out.append(hex[Int(scalar.value >> 4)])
                out.append(hex[Int(scalar.value & 0xF)])
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
