#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The two executables, `secrets-injector` and `secrets-injector-tools`, are installed side by
/// side; each finds the other as git finds `git-NAME`.
public enum SiblingExecutable {
    /// `name` beside this process's executable, else the first on `PATH` (`path`), that this
    /// process may run; nil when there is none.
    public static func locate(_ name: String, path: String? = nil) -> String? {
        candidates(name, path: path ?? getenv("PATH").map { String(cString: $0) } ?? "").first {
            access($0, X_OK) == 0
        }
    }

    /// Where `locate` looks, in order: beside this executable, then each folder of `path`.
    public static func candidates(_ name: String, path: String) -> [String] {
        var candidates: [String] = []
        if let executable = readLink("/proc/self/exe"), let slash = executable.lastIndex(of: "/") {
            candidates.append(String(executable[..<slash]) + "/" + name)
        }
        for folder in path.split(separator: ":") where !folder.isEmpty { candidates.append("\(folder)/\(name)") }
        return candidates
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
