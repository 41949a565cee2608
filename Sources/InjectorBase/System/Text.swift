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

    /// The text with C1 (U+0080–U+009F), DEL, the line and paragraph separators (U+2028, U+2029)
    /// and the bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)
    /// written as `\uXXXX`, and C0 (below U+0020, line ends and tabs included) too when `c0`: what
    /// a log line, `scan`, `migrate` and the reviews print from names others chose, so that none
    /// starts a line of its own (a forged log line, a GitHub Actions workflow command), sends a
    /// terminal escape or reorders what a reader sees. JSON escapes C0 itself, and `\uXXXX` in
    /// JSON is the same character: `c0: false` over serialized JSON loses nothing.
    public func escapingControls(c0: Bool = true) -> String {
        func escaped(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0..<0x20: c0
            case 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: true
            default: false
            }
        }
        guard unicodeScalars.contains(where: escaped) else { return self }
        let hex = Array("0123456789abcdef".unicodeScalars)
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if escaped(scalar) {
                out.append(contentsOf: "\\u".unicodeScalars)
                for shift in [12, 8, 4, 0] { out.append(hex[Int((scalar.value >> UInt32(shift)) & 0xF)]) }
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// The text as one cell of a markdown table: ``escapingControls(c0:)``, then each backslash and
    /// `|` escaped, so that no cell ends early or spills into the next.
    public var markdownTableCell: String {
        escapingControls().replacing("\\", with: "\\\\").replacing("|", with: "\\|")
    }
}

/// Percent-decoding (RFC 3986) as the Agent's HTTP server and IAM's URL-encoded policy documents
/// need it: `%XX` becomes its byte, a `%` not followed by two hex digits stays as it is, and with
/// `plusIsSpace` (a query string, as forms encode it) `+` is a space. Bytes that are not UTF-8 are
/// replaced, as `String(decoding:as:)` does.
public enum PercentDecoding {
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, plusIsSpace: Bool) -> String {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || (plusIsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
                let low = hexValue(bytes[index + 2])
            {
                decoded.append(high << 4 | low)
                index += 3
                continue
            }
            decoded.append(byte == UInt8(ascii: "+") && plusIsSpace ? 0x20 : byte)
            index += 1
        }
        return String(decoding: decoded, as: UTF8.self)
    }

    /// `text` decoded, `+` kept.
    public static func decode(_ text: String) -> String {
        var text = text
        return text.withUTF8 { decode($0, plusIsSpace: false) }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
