import InjectorBase

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

/// Writes output sets as atomic generations, the way the kubelet writes projected volumes
///: files go into a new hidden folder `..<timestamp>`, are flushed to disk, then the
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
    package static func writeMarker(_ path: String) throws(FileSystemError) {
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

    /// Folders stay the injector's (a folder given to the application's uid would let it
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
