import InjectorBase
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The application's pid file, read as a file someone else may control: a regular file
/// of at most 32 bytes, reached through no link and never waited on, owned by root, the injector's
/// uid or the application's; the pid in it is not 1 and not ours, and when the application's uid
/// is configured (`onChange.signal.uid`), `/proc/PID` must show that uid.
enum PIDFile {
    static let limit = 32

    struct Refusal: Error, Equatable {
        var reason: String
    }

    static func read(_ path: String, appUID: UInt32?) throws(Refusal) -> pid_t {
        let contents: SmallFile.Contents
        do {
            contents = try SmallFile.read(path, limit: limit)
        } catch {
            throw Refusal(reason: "the pid file \(error.description)")
        }
        let owners: Set<UInt32> = Set([0, geteuid()] + (appUID.map { [$0] } ?? []))
        guard owners.contains(contents.ownerUID) else {
            throw Refusal(
                reason:
                    "the pid file \(path) is owned by uid \(contents.ownerUID), not by root, the injector or onChange.signal.uid"
            )
        }
        guard let pid = parse(contents.bytes) else { throw Refusal(reason: "the pid file \(path) holds no pid") }
        guard pid != 1, pid != getpid() else {
            throw Refusal(
                reason: "the pid file \(path) names pid \(pid), which is \(pid == 1 ? "init" : "the injector")")
        }
        if let appUID {
            guard let uid = realUID(of: pid) else { throw Refusal(reason: "no process \(pid) (from \(path))") }
            guard uid == appUID else {
                throw Refusal(
                    reason: "process \(pid) (from \(path)) runs as uid \(uid), not the application's uid \(appUID)")
            }
        }
        return pid
    }

    /// A positive decimal pid, with blanks and line ends around it.
    static func parse(_ bytes: [UInt8]) -> pid_t? {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let pid = pid_t(text), pid > 0
        else { return nil }
        return pid
    }

    /// The real uid `/proc/PID/status` shows.
    static func realUID(of pid: pid_t) -> UInt32? {
        guard let status = try? SmallFile.read("/proc/\(pid)/status", limit: 16_384) else { return nil }
        let text = String(decoding: status.bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { UInt32($0) }
    }
}
