#if canImport(Glibc)
    import Glibc
#endif

/// The signals `onChange.signal.name` may name.
public enum Signals {
    public static let byName: [(name: String, number: Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("TERM", SIGTERM), ("USR1", SIGUSR1), ("USR2", SIGUSR2),
        ("WINCH", SIGWINCH),
    ]
    public static var names: [String] { byName.map(\.name) }
    public static func number(_ name: String) -> Int32? { byName.first { $0.name == name }?.number }

    /// The bare name (`HUP`) that `text` means (`hup`, `SIGHUP`), or nil when it names none of these.
    public static func name(_ text: String) -> String? {
        let upper = text.uppercased()
        let bare = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
        return number(bare) == nil ? nil : bare
    }
}
