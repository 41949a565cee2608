/// A Unix file mode, written in configurations as an octal string (`"0440"`).
public struct FileMode: Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// `"440"`, `"0440"`; permission bits only (no setuid, setgid or sticky bit).
    public init?(octal text: String) {
        guard (3...4).contains(text.count), let value = UInt16(text, radix: 8),
            text.allSatisfy({ ("0"..."7").contains($0) }), value <= 0o777
        else { return nil }
        rawValue = value
    }

    public var description: String {
        let digits = String(rawValue, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// Who owns an output; nil parts leave the owner the process's own.
public struct Ownership: Sendable, Hashable {
    public var uid: UInt32?
    public var gid: UInt32?

    public init(uid: UInt32? = nil, gid: UInt32? = nil) {
        self.uid = uid
        self.gid = gid
    }
}
