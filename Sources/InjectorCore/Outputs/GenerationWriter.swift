internal import CProcess

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

/// A file system call that failed, said with its path and the system's reason; or a file in
/// the output folder that the injector did not make, which it refuses to touch.
public struct FileSystemError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32
    /// Our own words, instead of the system's reason (a foreign file, an unsafe folder).
    public var detail: String?

    public init(operation: String, path: String, code: Int32, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.code = code
        self.detail = detail
    }

    /// `path` is not something the injector made: nothing is removed, nothing written.
    static func foreign(_ path: String, _ what: String) -> FileSystemError {
        FileSystemError(
            operation: "refuse", path: path, code: EEXIST,
            detail:
                "\(path): \(what), which the injector did not make; nothing was removed or written: remove it, or give outputDir a folder of its own"
        )
    }

    public var description: String {
        if let detail { return detail }
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
/// (SPEC §5): files go into a new hidden folder `..<timestamp>`, are flushed to disk, then the
/// symlink `..data` is switched to it with one `rename`; each visible name is a symlink through
/// `..data`. A reader sees the whole old set or the whole new set, never a mix and never a partial
/// file.
///
/// Two flushes per generation, whatever the number of files: one `syncfs` of the output folder's
/// filesystem before the switch (the new files and folders are on disk before `..data` can point at
/// them, so a host crash never leaves it pointing at empty files), and one `fsync` of the output
/// folder after it (the switch itself is on disk). The visible names' links and the removal of the
/// previous generation are not flushed: after a crash, the next commit (an unchanged one too)
/// restores the links and removes the leftover. On tmpfs, the recommended medium, both flushes cost
/// nothing.
///
/// Everything happens beneath one handle on `outputDir`, opened without following a link:
/// `openat`/`mkdirat`/`linkat`/`symlinkat`/`renameat`/`readlinkat`/`unlinkat` relative to it, and
/// `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` for paths below it where the kernel has it. No
/// symbolic link is ever followed, so nothing outside `outputDir` can be written or removed.
/// `..data` is trusted only when it is a symlink to a sibling named like our generations that is
/// a directory we own; the folder itself must pass ``OutputFolderPolicy``.
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
    /// The group all outputs share, which may own a group-writable `outputDir` (``OutputFolderPolicy``).
    public let outputGroup: UInt32?

    public init(directory: String, outputGroup: UInt32? = nil) {
        self.directory = directory
        self.outputGroup = outputGroup
    }

    /// The folder name `..data` points to, if a generation was committed and `..data` is ours.
    public func currentGeneration() -> String? {
        guard let root = try? DirectoryHandle(opening: directory) else { return nil }
        return try? current(in: root)
    }

    /// The generation `..data` points to; nil when there is none. Throws when `..data` is not a
    /// symlink to one of our generation folders.
    private func current(in root: DirectoryHandle) throws(FileSystemError) -> String? {
        guard let status = root.status(Self.dataLink) else { return nil }
        guard status.isSymbolicLink else { throw .foreign(root.path(Self.dataLink), "not a symbolic link") }
        guard let target = root.readLink(Self.dataLink), Self.isGenerationName(target) else {
            throw .foreign(
                root.path(Self.dataLink),
                "a symbolic link to \"\(root.readLink(Self.dataLink) ?? "?")\", not to a generation folder beside it")
        }
        guard let folder = root.status(target), folder.isDirectory else {
            throw .foreign(root.path(target), "not a directory")
        }
        guard folder.st_uid == geteuid() else {
            throw .foreign(root.path(target), "a generation folder owned by uid \(folder.st_uid)")
        }
        return target
    }

    /// Removes what a crashed run left: our generation folders `..data` does not point to, and
    /// our temporary links. Leaves every other name (the socket, markers) alone; refuses a
    /// generation-named entry or temporary name that is not what we make.
    public func cleanUp() throws(FileSystemError) {
        let root = try DirectoryHandle(opening: directory)
        try cleanUp(root, keeping: current(in: root))
    }

    private func cleanUp(_ root: DirectoryHandle, keeping current: String?) throws(FileSystemError) {
        for name in root.names() {
            if Self.isGenerationName(name) {
                guard name != current else { continue }
                guard let status = root.status(name), status.isDirectory, status.st_uid == geteuid() else {
                    throw .foreign(root.path(name), "named like a generation folder but not one")
                }
                try root.removeTree(name)
            } else if name == Self.dataLinkTemporary || name.hasPrefix(Self.linkTemporaryPrefix) {
                guard root.status(name)?.isSymbolicLink == true else {
                    throw .foreign(root.path(name), "named like a temporary link but not one")
                }
                try root.remove(name)
            }
        }
    }

    /// Commits `files` as the new generation, unless it equals the current one. Unchanged files
    /// are hard-linked from the current generation rather than rewritten.
    public func commit(_ files: [OutputFile]) throws(FileSystemError) -> Outcome {
        try Self.makeOutputDirectory(directory)
        let root = try DirectoryHandle(opening: directory)
        try OutputFolderPolicy.check(root.status(), path: directory, outputGroup: outputGroup)
        let current = try current(in: root)
        try cleanUp(root, keeping: current)
        let files = files.sorted { $0.path < $1.path }
        let previous = try current.map { name throws(FileSystemError) in try root.openDirectory(name) }

        if let previous, let current, try sameAsGeneration(previous, files) {
            try linkVisibleNames(root, for: files.map(\.path), previous: [])
            return .unchanged(generation: current)
        }

        // A visible name that is not our symlink would block the switch half-way: refuse first.
        for name in Set(files.map { String($0.path.split(separator: "/")[0]) }) {
            if let status = root.status(name), !status.isSymbolicLink {
                throw .foreign(root.path(name), "in the way of an output")
            }
        }

        let generation = Self.newGenerationName()
        let (directoryMode, directoryGroup) = Self.directorySettings(for: files)
        do throws(FileSystemError) {
            let folder: DirectoryHandle
            do throws(FileSystemError) {
                folder = try root.makeDirectory(generation, mode: directoryMode, group: directoryGroup)
            } catch {
                guard error.code == EACCES || error.code == EPERM else { throw error }
                throw notWritable(root)
            }
            var folders: [String: DirectoryHandle] = ["": folder]
            for file in files {
                let segments = file.path.split(separator: "/").map(String.init)
                var parentPath = ""
                for segment in segments.dropLast() {
                    let childPath = parentPath.isEmpty ? segment : "\(parentPath)/\(segment)"
                    if folders[childPath] == nil {
                        folders[childPath] = try folders[parentPath]!.makeDirectory(
                            segment, mode: directoryMode, group: directoryGroup)
                    }
                    parentPath = childPath
                }
                let parent = folders[parentPath]!
                let name = segments.last!
                if let previous, try sameFile(in: previous, file.path, file) {
                    try parent.link(from: previous, file.path, to: name)
                } else {
                    try parent.createFile(name, file)
                }
            }
            try folder.syncFileSystem()

            // The switch: one rename of a temporary symlink over ..data.
            try root.symlink(generation, at: Self.dataLinkTemporary)
            try root.rename(Self.dataLinkTemporary, to: Self.dataLink)
            try root.sync()
        } catch {
            if (try? self.current(in: root)) != generation { try? root.removeTree(generation) }
            throw error
        }

        try linkVisibleNames(root, for: files.map(\.path), previous: previous.map { $0.regularFiles() } ?? [])
        if let current { try root.removeTree(current) }
        return .committed(generation: generation)
    }

    /// The folder exists but this uid cannot create in it: what ECS gives a Fargate bind mount
    /// the image does not hold (root-owned, 0755).
    private func notWritable(_ root: DirectoryHandle) -> FileSystemError {
        let status = root.status()
        let uid = geteuid()
        return FileSystemError(
            operation: "mkdir", path: directory, code: EACCES,
            detail:
                "outputDir \(directory) is not writable by the injector's uid \(uid) (owned by uid \(status.st_uid), mode 0\(String(status.st_mode & 0o7777, radix: 8))): create it in the image owned by the injector (install -d -m 0750 -o \(uid) \(directory), as the Dockerfile does), or mount a tmpfs or volume the injector owns"
        )
    }

    /// `mkdir -p` of the output folder itself (path-based: it is the anchor everything else is beneath).
    static func makeOutputDirectory(_ path: String) throws(FileSystemError) {
        // 0755 like `mkdir -p`: the files and the socket carry their own modes; the policy refuses
        // only folders others can write into.
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        guard errno == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex else {
            throw FileSystemError(operation: "mkdir", path: path, code: errno)
        }
        try makeOutputDirectory(String(path[..<slash]))
        if mkdir(path, 0o750) != 0, errno != EEXIST {
            throw FileSystemError(operation: "mkdir", path: path, code: errno)
        }
    }

    /// Writes an empty marker file (`.ready`), readable by all.
    static func writeMarker(_ path: String) throws(FileSystemError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw FileSystemError(operation: "open", path: path, code: errno) }
        close(descriptor)
    }

    // MARK: Visible names

    /// Each top-level name becomes `name -> ..data/name` (a planted symlink is replaced, never
    /// followed); names of the previous set that are gone lose their link.
    private func linkVisibleNames(_ root: DirectoryHandle, for files: [String], previous: [String])
        throws(FileSystemError)
    {
        let names = Set(files.map { String($0.split(separator: "/")[0]) })
        for name in names.sorted() {
            let target = "\(Self.dataLink)/\(name)"
            if let status = root.status(name) {
                if !status.isSymbolicLink { throw .foreign(root.path(name), "in the way of an output") }
                if root.readLink(name) == target { continue }
            }
            let temporary = Self.linkTemporaryPrefix + name
            try root.symlink(target, at: temporary)
            try root.rename(temporary, to: name)
        }
        for name in Set(previous.map { String($0.split(separator: "/")[0]) }).subtracting(names)
        where root.readLink(name) == "\(Self.dataLink)/\(name)" {
            try root.remove(name)
        }
    }

    // MARK: Comparing

    private func sameAsGeneration(_ generation: DirectoryHandle, _ files: [OutputFile]) throws(FileSystemError) -> Bool
    {
        guard generation.regularFiles().sorted() == files.map(\.path) else { return false }
        for file in files where try !sameFile(in: generation, file.path, file) { return false }
        return true
    }

    private func sameFile(in generation: DirectoryHandle, _ relativePath: String, _ file: OutputFile)
        throws(FileSystemError) -> Bool
    {
        guard let descriptor = try? generation.openBeneath(relativePath, flags: O_RDONLY) else { return false }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.isRegularFile else { return false }
        guard UInt16(status.st_mode & 0o7777) == file.mode.rawValue, status.st_size == off_t(file.bytes.count) else {
            return false
        }
        if let uid = file.owner.uid, status.st_uid != uid { return false }
        if let gid = file.owner.gid, status.st_gid != gid { return false }
        return (try? readAll(descriptor, path: relativePath)) == file.bytes
    }

    // MARK: Names and settings

    /// `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN`, as ``newGenerationName()`` makes them.
    static func isGenerationName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count == 31, bytes[0] == UInt8(ascii: "."), bytes[1] == UInt8(ascii: ".") else { return false }
        for (index, byte) in bytes.enumerated().dropFirst(2) {
            switch index {
            case 6, 9, 12, 15, 18: guard byte == UInt8(ascii: "_") else { return false }
            case 21: guard byte == UInt8(ascii: ".") else { return false }
            default: guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return false }
            }
        }
        return true
    }

    /// `..2026_11_29_00_30_00.123456789`, unique per call.
    static func newGenerationName() -> String { ".." + UTCTime.now().folderName }

    /// Folders stay the injector's (issue 17: a folder given to the application's uid would let it
    /// replace files in the live generation, and the next commit would refuse the folder). Readers
    /// get in through the group and the mode: when every file has the same group the folders get
    /// it, `0750`; they are `0755` when a file grants "other" anything, or when files go to another
    /// uid or group without one group common to all.
    static func directorySettings(for files: [OutputFile]) -> (mode: UInt16, group: UInt32?) {
        let groups = Set(files.map(\.owner.gid))
        let group = groups.count == 1 ? groups.first ?? nil : nil
        let others = files.contains { $0.mode.rawValue & 0o007 != 0 }
        let givenAway = files.contains { file in
            file.owner.uid.map { $0 != geteuid() } ?? false || file.owner.gid.map { $0 != getegid() } ?? false
        }
        return (others || (givenAway && group == nil) ? 0o755 : 0o750, group)
    }
}

/// OpenSSH's StrictModes for `outputDir` (SPEC §5): whoever can write into the folder can plant
/// `..data` or swap a visible link, so the folder must be ours (or root's) and writable by no one
/// else — unless it has the sticky bit, or its group is the outputs' group on a folder we own.
public enum OutputFolderPolicy {
    /// The reason `status` is unsafe, with what to change; nil when it is safe.
    public static func problem(
        uid: UInt32, gid: UInt32, mode: UInt32, path: String, outputGroup: UInt32?, ourUID: UInt32 = geteuid()
    ) -> String? {
        if uid != ourUID, uid != 0 {
            return
                "outputDir \(path) is owned by uid \(uid), not by the injector's uid \(ourUID) or root: chown it to \(ourUID), or run the injector as uid \(uid) (`user` in the task definition)"
        }
        let sticky = mode & UInt32(S_ISVTX) != 0
        let octal = String(mode & 0o7777, radix: 8)
        if mode & 0o002 != 0, !sticky {
            return
                "outputDir \(path) is writable by every user (mode 0\(octal)), so any of them could plant ..data: chmod o-w it (a tmpfs or volume of mode 0750)"
        }
        if mode & 0o020 != 0, !sticky, !(gid == outputGroup && uid == ourUID) {
            return
                "outputDir \(path) is writable by group \(gid) (mode 0\(octal)), which is not the outputs' group on a folder the injector owns: chmod g-w it (a tmpfs or volume of mode 0750)"
        }
        return nil
    }

    static func check(_ status: stat, path: String, outputGroup: UInt32?) throws(FileSystemError) {
        if let problem = problem(
            uid: status.st_uid, gid: status.st_gid, mode: UInt32(status.st_mode), path: path, outputGroup: outputGroup)
            ?? ancestorProblem(of: path)
        {
            throw FileSystemError(operation: "refuse", path: path, code: EPERM, detail: problem)
        }
    }

    /// The problem of `outputDir` (when it exists) or of the folders above it, for `check`; nil
    /// when all are safe.
    public static func problem(of path: String, outputGroup: UInt32?) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return ancestorProblem(of: path) }
        return problem(
            uid: status.st_uid, gid: status.st_gid, mode: UInt32(status.st_mode), path: path, outputGroup: outputGroup)
            ?? ancestorProblem(of: path)
    }

    /// Every folder above `outputDir` up to `/`, as sshd's StrictModes checks them (issue 17):
    /// owned by root or us, and writable by no group or other unless sticky. Whoever can write
    /// one could rename `outputDir` away and put a folder of their own in its place. The path is
    /// resolved first (`realpath` of the deepest folder that exists), so a linked parent is
    /// checked where it really is.
    static func ancestorProblem(of path: String, ourUID: UInt32 = geteuid()) -> String? {
        var existing = parent(of: path)
        var resolved: String?
        while resolved == nil {
            if let real = realpath(existing, nil) {
                resolved = String(cString: real)
                free(real)
            } else if existing == "/" || existing.isEmpty {
                return nil
            } else {
                existing = parent(of: existing)
            }
        }
        var folder = resolved!
        while true {
            var status = stat()
            if stat(folder, &status) == 0 {
                let mode = UInt32(status.st_mode)
                let octal = String(mode & 0o7777, radix: 8)
                if status.st_uid != 0, status.st_uid != ourUID {
                    return
                        "outputDir \(path): the folder above it \(folder) is owned by uid \(status.st_uid), not root or the injector's uid \(ourUID), so that user could swap outputDir: chown it to root, or choose an outputDir whose every parent is root's or the injector's"
                }
                if mode & 0o022 != 0, mode & UInt32(S_ISVTX) == 0 {
                    return
                        "outputDir \(path): the folder above it \(folder) is writable by \(mode & 0o002 != 0 ? "every user" : "group \(status.st_gid)") (mode 0\(octal), no sticky bit), so they could swap outputDir: chmod go-w it"
                }
            }
            guard folder != "/" else { return nil }
            folder = parent(of: folder)
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// An open directory: every call is relative to it and follows no symbolic link.
final class DirectoryHandle {
    let descriptor: Int32
    /// For messages only.
    let displayPath: String

    /// Opens `path` itself, refusing a symbolic link in its last component.
    init(opening path: String) throws(FileSystemError) {
        descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        displayPath = path
        if descriptor < 0 { throw FileSystemError(operation: "open", path: path, code: errno) }
    }

    private init(descriptor: Int32, displayPath: String) {
        self.descriptor = descriptor
        self.displayPath = displayPath
    }

    deinit { close(descriptor) }

    func path(_ name: String) -> String { displayPath == "/" ? "/\(name)" : "\(displayPath)/\(name)" }

    func status() -> stat {
        var status = stat()
        _ = fstat(descriptor, &status)
        return status
    }

    /// `fstatat(AT_SYMLINK_NOFOLLOW)`: a link is described, not followed.
    func status(_ name: String) -> stat? {
        var status = stat()
        return fstatat(descriptor, name, &status, AT_SYMLINK_NOFOLLOW) == 0 ? status : nil
    }

    func readLink(_ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlinkat(descriptor, name, &buffer, buffer.count - 1)
        guard length >= 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens a path below this folder through no symbolic link: `openat2(RESOLVE_BENEATH |
    /// RESOLVE_NO_SYMLINKS)`, or one `openat(O_NOFOLLOW)` per component where the kernel lacks it.
    func openBeneath(_ relativePath: String, flags: Int32, mode: mode_t = 0) throws(FileSystemError) -> Int32 {
        let all = flags | O_CLOEXEC | O_NOFOLLOW
        let descriptor = cprocess_open_beneath(self.descriptor, relativePath, all, UInt32(mode))
        if descriptor >= 0 { return descriptor }
        guard errno == ENOSYS || errno == EPERM else {
            throw FileSystemError(operation: "open", path: path(relativePath), code: errno)
        }
        var parent = dup(self.descriptor)
        let segments = relativePath.split(separator: "/").map(String.init)
        for (index, segment) in segments.enumerated() {
            let last = index == segments.count - 1
            let next = openat(parent, segment, last ? all : (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), mode)
            let failure = errno
            close(parent)
            guard next >= 0 else { throw FileSystemError(operation: "open", path: path(relativePath), code: failure) }
            parent = next
        }
        return parent
    }

    func openDirectory(_ relativePath: String) throws(FileSystemError) -> DirectoryHandle {
        DirectoryHandle(
            descriptor: try openBeneath(relativePath, flags: O_RDONLY | O_DIRECTORY), displayPath: path(relativePath))
    }

    /// A new folder of ours, with its mode (and group) set on its handle.
    func makeDirectory(_ name: String, mode: UInt16, group: UInt32? = nil) throws(FileSystemError) -> DirectoryHandle {
        try check(mkdirat(descriptor, name, mode_t(mode)), "mkdir", name)
        let folder = try openDirectory(name)
        if let group { try check(fchown(folder.descriptor, UInt32.max, group), "fchown", name) }
        try check(fchmod(folder.descriptor, mode_t(mode)), "chmod", name)
        return folder
    }

    /// A new file, created with its final mode before a byte is written (umask cannot widen or
    /// narrow it), handed to its owner, written whole (flushed with the generation, by `syncFileSystem`).
    func createFile(_ name: String, _ file: OutputFile) throws(FileSystemError) {
        let target = path(name)
        let descriptor = openat(
            self.descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(file.mode.rawValue))
        guard descriptor >= 0 else { throw FileSystemError(operation: "open", path: target, code: errno) }
        defer { close(descriptor) }
        try check(fchmod(descriptor, mode_t(file.mode.rawValue)), "fchmod", name)
        if file.owner.uid != nil || file.owner.gid != nil {
            try check(fchown(descriptor, file.owner.uid ?? UInt32.max, file.owner.gid ?? UInt32.max), "fchown", name)
        }
        var offset = 0
        while offset < file.bytes.count {
            let written = file.bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0, errno == EINTR { continue }
            try check(written < 0 ? -1 : 0, "write", name)
            offset += written
        }
    }

    /// A hard link here to `relativePath` of `source` (never through a symbolic link: `linkat`
    /// without `AT_SYMLINK_FOLLOW` links a link itself, and the source path is opened beneath first).
    func link(from source: DirectoryHandle, _ relativePath: String, to name: String) throws(FileSystemError) {
        let segments = relativePath.split(separator: "/").map(String.init)
        let folder = segments.count > 1 ? try source.openDirectory(segments.dropLast().joined(separator: "/")) : source
        try check(linkat(folder.descriptor, segments.last!, descriptor, name, 0), "link", name)
    }

    /// `name -> target`, replacing a leftover of the same name.
    func symlink(_ target: String, at name: String) throws(FileSystemError) {
        unlinkat(descriptor, name, 0)
        try check(symlinkat(target, descriptor, name), "symlink", name)
    }

    func rename(_ name: String, to newName: String) throws(FileSystemError) {
        try check(renameat(descriptor, name, descriptor, newName), "rename", newName)
    }

    func remove(_ name: String) throws(FileSystemError) { try check(unlinkat(descriptor, name, 0), "unlink", name) }

    /// Removes `name` and, if it is a directory, everything in it — by handle, never through a link.
    func removeTree(_ name: String) throws(FileSystemError) {
        guard let status = status(name) else { return }
        guard status.isDirectory else { return try remove(name) }
        let folder = try openDirectory(name)
        for child in folder.names() { try folder.removeTree(child) }
        try check(unlinkat(descriptor, name, AT_REMOVEDIR), "rmdir", name)
    }

    /// The names in this folder (without `.` and `..`).
    func names() -> [String] {
        let copy = dup(descriptor)
        guard copy >= 0, let handle = fdopendir(copy) else { return [] }
        defer { closedir(handle) }
        rewinddir(handle)
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Every regular file below this folder, as relative paths (links are not followed).
    func regularFiles() -> [String] {
        var files: [String] = []
        for name in names() {
            guard let status = status(name) else { continue }
            if status.isDirectory, let folder = try? openDirectory(name) {
                files += folder.regularFiles().map { "\(name)/\($0)" }
            } else if status.isRegularFile {
                files.append(name)
            }
        }
        return files
    }

    func sync() throws(FileSystemError) { try check(fsync(descriptor), "fsync", ".") }

    /// Flushes everything written to this folder's filesystem, in one call (and reports any earlier
    /// write-back error on it).
    func syncFileSystem() throws(FileSystemError) { try check(cprocess_syncfs(descriptor), "syncfs", ".") }

    private func check(_ result: Int32, _ operation: String, _ name: String) throws(FileSystemError) {
        if result < 0 { throw FileSystemError(operation: operation, path: path(name), code: errno) }
    }
}

extension stat {
    var isDirectory: Bool { (st_mode & S_IFMT) == S_IFDIR }
    var isRegularFile: Bool { (st_mode & S_IFMT) == S_IFREG }
    var isSymbolicLink: Bool { (st_mode & S_IFMT) == S_IFLNK }
}

// MARK: Small file helpers

/// A whole file's bytes, or nil when it cannot be read.
func readFile(_ path: String) -> [UInt8]? { try? readWholeFile(path) }

/// A whole file's bytes; the error says why it could not be read.
public func readWholeFile(_ path: String) throws(FileSystemError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FileSystemError(operation: "read", path: path, code: errno) }
    defer { close(descriptor) }
    return try readAll(descriptor, path: path)
}

/// Everything left to read on an open descriptor.
func readAll(_ descriptor: Int32, path: String) throws(FileSystemError) -> [UInt8] {
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
