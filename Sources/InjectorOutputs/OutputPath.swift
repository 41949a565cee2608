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
