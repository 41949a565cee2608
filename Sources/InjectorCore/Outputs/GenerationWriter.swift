#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One file of a generation: where, what, with which mode and owner.
public struct OutputFile: Sendable, Equatable {
    public var path: String
    public var bytes: [UInt8]
    public var mode: FileMode
    public var owner: Ownership

    public init(path: String, bytes: [UInt8], mode: FileMode, owner: Ownership) {
        self.path = path
        self.bytes = bytes
        self.mode = mode
        self.owner = owner
    }
}

/// A file system call that failed, said with its path and the system's reason.
public struct FileSystemError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public var description: String {
        let reason = String(cString: strerror(code))
        if operation == "fchown", code == EPERM {
            return
                "cannot give \(path) to its configured uid/gid: \(reason); run as root or with CAP_CHOWN, or remove uid/gid from the configuration"
        }
        if operation == "read" { return "cannot read \(path): \(reason)" }
        return "cannot write \(path): \(reason) (\(operation))"
    }
}

/// Writes output sets as atomic generations, the way the kubelet writes projected volumes
/// (SPEC §5): files go into a new hidden folder `..<timestamp>`, are fsynced, then the symlink
/// `..data` is switched to it with one `rename`; each visible name is a symlink through `..data`.
/// A reader sees the whole old set or the whole new set, never a mix and never a partial file.
public struct GenerationWriter: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// Nothing differed from the current generation: nothing was written.
        case unchanged(generation: String)
        case committed(generation: String)
    }

    public static let dataLink = "..data"
    static let dataLinkTemporary = "..data_tmp"
    static let linkTemporaryPrefix = "..link_tmp_"

    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The folder name `..data` points to, if a generation was committed.
    public func currentGeneration() -> String? { readLink(path(Self.dataLink)) }

    /// Removes what a crashed run left: generation folders `..data` does not point to and
    /// temporary links. Leaves every other name (the socket, markers) alone.
    public func cleanUp() throws(FileSystemError) {
        let current = currentGeneration()
        for name in listDirectory(directory) {
            let stale =
                (Self.isGenerationName(name) && name != current) || name == Self.dataLinkTemporary
                || name.hasPrefix(Self.linkTemporaryPrefix)
            if stale { try removeTree(path(name)) }
        }
    }

    /// Commits `files` as the new generation, unless it equals the current one. Unchanged files
    /// are hard-linked from the current generation rather than rewritten.
    public func commit(_ files: [OutputFile]) throws(FileSystemError) -> Outcome {
        try makeDirectory(directory, mode: 0o755, owner: nil, existingIsFine: true)
        try cleanUp()
        let current = currentGeneration()
        let files = files.sorted { $0.path < $1.path }

        if let current, try sameAsGeneration(current, files) {
            try linkVisibleNames(for: files.map(\.path), previous: [])
            return .unchanged(generation: current)
        }

        // A visible name that is not our symlink would block the switch half-way: refuse first.
        for name in Set(files.map { String($0.path.split(separator: "/")[0]) })
        where readLink(path(name)) == nil && exists(path(name)) {
            throw FileSystemError(
                operation: "symlink (a file the injector did not make is in the way)", path: path(name), code: EEXIST)
        }

        let generation = Self.newGenerationName()
        let generationPath = path(generation)
        let (directoryMode, directoryOwner) = Self.directorySettings(for: files)
        do {
            try makeDirectory(generationPath, mode: directoryMode, owner: directoryOwner, existingIsFine: false)
            var folders: [String] = [generationPath]
            for file in files {
                var parent = generationPath
                for segment in file.path.split(separator: "/").dropLast() {
                    parent += "/\(segment)"
                    if !folders.contains(parent) {
                        try makeDirectory(parent, mode: directoryMode, owner: directoryOwner, existingIsFine: false)
                        folders.append(parent)
                    }
                }
                let target = "\(generationPath)/\(file.path)"
                if let current, try sameFile(path("\(current)/\(file.path)"), file) {
                    try check(link(path("\(current)/\(file.path)"), target), "link", target)
                } else {
                    try writeFile(target, file)
                }
            }
            for folder in folders.reversed() { try syncDirectory(folder) }

            // The switch: one rename of a temporary symlink over ..data.
            let temporary = path(Self.dataLinkTemporary)
            unlink(temporary)
            try check(symlink(generation, temporary), "symlink", temporary)
            try check(rename(temporary, path(Self.dataLink)), "rename", path(Self.dataLink))
            try syncDirectory(directory)
        } catch {
            if currentGeneration() != generation { try? removeTree(generationPath) }
            throw error
        }

        try linkVisibleNames(for: files.map(\.path), previous: current.map { listFiles(path($0)) } ?? [])
        if let current { try removeTree(path(current)) }
        try syncDirectory(directory)
        return .committed(generation: generation)
    }

    /// Writes an empty marker file (`.ready`), readable by all.
    static func writeMarker(_ path: String) throws(FileSystemError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw FileSystemError(operation: "open", path: path, code: errno) }
        close(descriptor)
    }

    // MARK: Visible names

    /// Each top-level name becomes `name -> ..data/name`; names of the previous set that are gone
    /// lose their link.
    private func linkVisibleNames(for files: [String], previous: [String]) throws(FileSystemError) {
        let names = Set(files.map { String($0.split(separator: "/")[0]) })
        for name in names.sorted() {
            let visible = path(name)
            let target = "\(Self.dataLink)/\(name)"
            if let existing = readLink(visible) {
                if existing == target { continue }
            } else if exists(visible) {
                throw FileSystemError(
                    operation: "symlink (a file the injector did not make is in the way)", path: visible, code: EEXIST)
            }
            let temporary = path(Self.linkTemporaryPrefix + name.replacingSlashes())
            unlink(temporary)
            try check(symlink(target, temporary), "symlink", temporary)
            try check(rename(temporary, visible), "rename", visible)
        }
        for name in Set(previous.map { String($0.split(separator: "/")[0]) }).subtracting(names) {
            let visible = path(name)
            if readLink(visible) == "\(Self.dataLink)/\(name)" { unlink(visible) }
        }
    }

    // MARK: Comparing

    private func sameAsGeneration(_ generation: String, _ files: [OutputFile]) throws(FileSystemError) -> Bool {
        let existing = listFiles(path(generation)).sorted()
        guard existing == files.map(\.path) else { return false }
        for file in files where try !sameFile(path("\(generation)/\(file.path)"), file) { return false }
        return true
    }

    private func sameFile(_ existingPath: String, _ file: OutputFile) throws(FileSystemError) -> Bool {
        var status = stat()
        guard lstat(existingPath, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return false }
        guard UInt16(status.st_mode & 0o7777) == file.mode.rawValue, status.st_size == off_t(file.bytes.count) else {
            return false
        }
        if let uid = file.owner.uid, status.st_uid != uid { return false }
        if let gid = file.owner.gid, status.st_gid != gid { return false }
        return readFile(existingPath) == file.bytes
    }

    // MARK: System calls

    private func writeFile(_ target: String, _ file: OutputFile) throws(FileSystemError) {
        // Created with its final mode before a byte is written; umask cannot widen or narrow it.
        let descriptor = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(file.mode.rawValue))
        try check(descriptor, "open", target)
        defer { close(descriptor) }
        try check(fchmod(descriptor, mode_t(file.mode.rawValue)), "fchmod", target)
        if file.owner.uid != nil || file.owner.gid != nil {
            try check(fchown(descriptor, file.owner.uid ?? UInt32.max, file.owner.gid ?? UInt32.max), "fchown", target)
        }
        var offset = 0
        while offset < file.bytes.count {
            let written = file.bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0, errno == EINTR { continue }
            try check(written < 0 ? -1 : 0, "write", target)
            offset += written
        }
        try check(fsync(descriptor), "fsync", target)
    }

    private func makeDirectory(_ target: String, mode: UInt16, owner: Ownership?, existingIsFine: Bool)
        throws(FileSystemError)
    {
        if mkdir(target, mode_t(mode)) != 0 {
            if errno == EEXIST, existingIsFine { return }
            if errno == ENOENT, existingIsFine {
                // Create the parents of the output folder, as `mkdir -p` would.
                let parent = String(target[..<(target.lastIndex(of: "/") ?? target.startIndex)])
                if !parent.isEmpty { try makeDirectory(parent, mode: 0o755, owner: nil, existingIsFine: true) }
                if mkdir(target, mode_t(mode)) == 0 || errno == EEXIST { return }
            }
            throw FileSystemError(operation: "mkdir", path: target, code: errno)
        }
        try check(chmod(target, mode_t(mode)), "chmod", target)
        if let owner, owner.uid != nil || owner.gid != nil {
            try check(lchown(target, owner.uid ?? UInt32.max, owner.gid ?? UInt32.max), "fchown", target)
        }
    }

    private func syncDirectory(_ target: String) throws(FileSystemError) {
        let descriptor = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try check(descriptor, "open", target)
        defer { close(descriptor) }
        try check(fsync(descriptor), "fsync", target)
    }

    private func removeTree(_ target: String) throws(FileSystemError) {
        var status = stat()
        guard lstat(target, &status) == 0 else { return }
        if (status.st_mode & S_IFMT) == S_IFDIR {
            for name in listDirectory(target) { try removeTree("\(target)/\(name)") }
            try check(rmdir(target), "rmdir", target)
        } else {
            try check(unlink(target), "unlink", target)
        }
    }

    private func check(_ result: Int32, _ operation: String, _ target: String) throws(FileSystemError) {
        if result < 0 { throw FileSystemError(operation: operation, path: target, code: errno) }
    }

    private func path(_ name: String) -> String { directory == "/" ? "/\(name)" : "\(directory)/\(name)" }

    // MARK: Names and settings

    static func isGenerationName(_ name: String) -> Bool {
        name.hasPrefix("..") && name.count > 2 && name.dropFirst(2).first?.isNumber == true
    }

    /// `..2026_11_29_00_30_00.123456789`, unique per call.
    static func newGenerationName() -> String { ".." + UTCTime.now().folderName }

    /// Folders are `0750`, or `0755` when a file grants "other" anything; when every file has
    /// the same owner the folders get it too, so the application's user can go through them.
    static func directorySettings(for files: [OutputFile]) -> (UInt16, Ownership?) {
        let mode: UInt16 = files.contains { $0.mode.rawValue & 0o007 != 0 } ? 0o755 : 0o750
        let owners = Set(files.map(\.owner))
        if owners.count == 1, let owner = owners.first { return (mode, owner) }
        return (0o755, nil)
    }
}

// MARK: Small file helpers

func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink(path, &buffer, buffer.count - 1)
    guard length >= 0 else { return nil }
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func exists(_ path: String) -> Bool {
    var status = stat()
    return lstat(path, &status) == 0
}

/// The names in a folder (without `.` and `..`), or none when it cannot be read.
func listDirectory(_ path: String) -> [String] {
    guard let handle = opendir(path) else { return [] }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names
}

/// Every regular file below `root`, as paths relative to it.
func listFiles(_ root: String) -> [String] {
    var files: [String] = []
    func walk(_ relative: String) {
        let full = relative.isEmpty ? root : "\(root)/\(relative)"
        for name in listDirectory(full) {
            let child = relative.isEmpty ? name : "\(relative)/\(name)"
            var status = stat()
            guard lstat("\(root)/\(child)", &status) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFDIR: walk(child)
            case S_IFREG: files.append(child)
            default: continue
            }
        }
    }
    walk("")
    return files
}

/// A whole file's bytes, or nil when it cannot be read.
func readFile(_ path: String) -> [UInt8]? { try? readWholeFile(path) }

/// A whole file's bytes; the error says why it could not be read.
public func readWholeFile(_ path: String) throws(FileSystemError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FileSystemError(operation: "read", path: path, code: errno) }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count < 0 { throw FileSystemError(operation: "read", path: path, code: errno) }
        if count == 0 { return bytes }
        bytes += chunk[0..<count]
    }
}

extension String {
    fileprivate func replacingSlashes() -> String { String(map { $0 == "/" ? "_" : $0 }) }
}
