internal import CProcess
import InjectorBase

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

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
