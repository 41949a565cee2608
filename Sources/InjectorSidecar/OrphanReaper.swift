import InjectorBase
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The sidecar as a reaper: a child subreaper, so that what `onChange` commands leave
/// behind is ours to reap even when we are not PID 1, and a sweep every second.
struct OrphanReaper: Service {
    let logger: Logger

    func run() async throws {
        if !ChildReaper.becomeSubreaper() {
            logger.warning(
                "cannot become a child subreaper; orphans of onChange commands are reaped only as PID 1",
                metadata: ["error": "\(String(cString: strerror(errno)))"])
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                ChildReaper.reapOrphans()
            }
        }
    }
}
