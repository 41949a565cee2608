/// Paths of outputs below the output folder.
public enum OutputPath {
    /// Why `path` cannot name an output below `outputDir`, or nil.
    public static func problem(_ path: String) -> String? {
        if path.hasPrefix("/") { return "\"\(path)\" must be relative to outputDir" }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            return "\"\(path)\" has an empty, \".\" or \"..\" segment"
        }
        if segments.contains(where: { $0.hasPrefix("..") }) || segments[0].hasPrefix(".") {
            return "\"\(path)\" must not start with \".\" (names starting with \"..\" are the writer's own)"
        }
        if path.utf8.contains(0) { return "\"\(path)\" contains a NUL byte" }
        return nil
    }
}

/// The output paths below `outputDir` taken so far, and whose each is, with every folder they
/// need: a path collides when it is one of them, lies inside one, or is a folder of one (`p/a` and
/// `p/a/b`, or a file at the socket's path). The one rule for the configuration's own files and for
/// the names discovery finds later; each claim walks only the path's own folders, so a round that
/// discovers a thousand secrets stays linear.
public struct ClaimedPaths: Sendable {
    private var owners: [String: String] = [:]
    /// Each folder the claimed paths need, with one path inside it.
    private var folders: [String: String] = [:]

    public init() {}

    /// Claims `path` for `owner`, or says why it cannot be (and claims nothing).
    public mutating func claim(_ path: String, by owner: String) -> String? {
        if let problem = collision(path) { return problem }
        owners[path] = owner
        var folder = Substring(path)
        while let slash = folder.lastIndex(of: "/") {
            folder = folder[..<slash]
            if folders[String(folder)] == nil { folders[String(folder)] = path }
        }
        return nil
    }

    /// Why `path` cannot be claimed, or nil.
    public func collision(_ path: String) -> String? {
        if let owner = owners[path] { return "\"\(path)\" is also the file of \(owner)" }
        if let inside = folders[path] { return clash(path, inside) }
        var folder = Substring(path)
        while let slash = folder.lastIndex(of: "/") {
            folder = folder[..<slash]
            if owners[String(folder)] != nil { return clash(path, String(folder)) }
        }
        return nil
    }

    private func clash(_ path: String, _ other: String) -> String {
        "\"\(path)\" and \"\(other)\" of \(owners[other] ?? "?") cannot both exist (one is inside the other)"
    }
}
