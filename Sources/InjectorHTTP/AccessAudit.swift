import InjectorAgent
import InjectorTelemetry
import Logging
import NIOCore
import Synchronization

/// Who sent a request: the transport, and on the Unix socket the peer process (`SO_PEERCRED`).
struct AccessPeer: Sendable, Hashable {
    var transport: AgentTransport
    var uid: UInt32?
    var pid: Int32?

    static let tcp = AccessPeer(transport: .tcp)
}

/// The access audit trail: which process read which secret from the socket or the TCP
/// port, which version it was answered, and what was refused.
///
/// - Every request that names a secret makes an `access` line at `info`, when `server.audit` is on.
/// - Every refused request (4xx: token, peer uid, unknown secret, bad request) makes one at
///   `warning`, whatever `server.audit` says, and is counted in `RequestsRefused`.
/// - Repeats of the same peer, secret, version, path and status within 60 s fold: the first is
///   written at once, the repeats as one line with their `count` when the window closes
///   (``flush(now:)``, run every second) or when the server stops (``flushAll()``). Without
///   `count` a line stands for 1. A connection that repeats its last access counts it in the window
///   it kept, without a lock or a lookup: the serving path stays fast with the audit on.
/// - Refusals fold by peer and status alone, whatever they name: a flood of refused
///   requests makes one line per peer and status a minute, the first one's, and a count.
///
/// A line holds the secret's name, the version answered, the status, the path (never the query),
/// the transport and the peer: never a value or the token. A path or name longer than 256
/// characters is cut there and marked `…(cut)`; control characters are escaped by the log handler.
final class AccessAudit: Sendable {
    struct Access: Sendable, Hashable {
        var peer: AccessPeer
        /// The name answered, else the id asked for; nil for a refusal before any secret is named.
        var secret: String?
        var versionID: String?
        var status: Int
        var path: String

        init(peer: AccessPeer, secret: String?, versionID: String? = nil, status: Int, path: String) {
            self.peer = peer
            self.secret = secret.map(AccessAudit.cut)
            self.versionID = versionID.map(AccessAudit.cut)
            self.status = status
            self.path = AccessAudit.cut(path)
        }

        /// What repeats fold under: the whole access, or for a refusal only its peer and status.
        var key: Access {
            guard AccessAudit.isRefusal(status) else { return self }
            var key = self
            (key.secret, key.versionID, key.path) = (nil, nil, "")
            return key
        }
    }

    /// The longest path or name a line holds.
    static let longest = 256

    /// `text`, cut at 256 characters and marked when it is longer.
    static func cut(_ text: String) -> String {
        guard text.utf8.count > longest else { return text }
        return String(text.prefix(longest)) + "…(cut)"
    }

    /// One access's 60 s: the repeats counted after its first line, by whoever saw them.
    final class Window: Sendable {
        let opened: NIODeadline
        private let repeatCount = Atomic(0)

        init(opened: NIODeadline) { self.opened = opened }

        /// Counts one more repeat, if the window is still open at `now`.
        func repeated(now: NIODeadline) -> Bool {
            guard now - opened < AccessAudit.window else { return false }
            repeatCount.add(1, ordering: .relaxed)
            return true
        }

        var repeats: Int { repeatCount.load(ordering: .relaxed) }
    }

    static let window: TimeAmount = .seconds(60)

    let logger: Logger
    /// `server.audit`: log granted accesses too, not only refusals.
    let enabled: Bool
    let metrics: SidecarMetrics
    /// Open windows by ``Access/key``, with the access that opened each.
    private let windows = Mutex<[Access: (first: Access, window: Window)]>([:])

    init(logger: Logger, enabled: Bool, metrics: SidecarMetrics) {
        self.logger = logger
        self.enabled = enabled
        self.metrics = metrics
    }

    static func isRefusal(_ status: Int) -> Bool { (400..<500).contains(status) }

    /// Whether an answer is audited: it names a secret (with `server.audit` on), or it is a refusal.
    func audits(status: Int, namesSecret: Bool) -> Bool { Self.isRefusal(status) || (enabled && namesSecret) }

    /// One answered request (one that ``audits(status:namesSecret:)``): a line now if it opens a
    /// window, else one more repeat in its window. Returns the window, which a connection may keep
    /// to count its own repeats of the same access without coming back here.
    @discardableResult
    func record(_ access: Access, now: NIODeadline = .now()) -> Window {
        if Self.isRefusal(access.status) { metrics.refused() }
        let key = access.key
        let (window, opened): (Window, Bool) = windows.withLock { windows in
            if let (_, window) = windows[key], window.repeated(now: now) { return (window, false) }
            let window = Window(opened: now)
            windows[key] = (access, window)
            return (window, true)
        }
        if opened { write(access, count: nil) }
        return window
    }

    /// A repeat counted in a window a connection kept: refusals still count as refused.
    func repeated(_ access: Access) {
        if Self.isRefusal(access.status) { metrics.refused() }
    }

    /// Writes the repeats of every window older than 60 s, and forgets those windows. Runs on the
    /// event loop, as the connections that count repeats do.
    func flush(now: NIODeadline = .now()) {
        let closed: [(Access, Window)] = windows.withLock { windows in
            let expired = windows.filter { now - $0.value.window.opened >= Self.window }
            for key in expired.keys { windows.removeValue(forKey: key) }
            return expired.values.map { ($0.first, $0.window) }
        }
        for (access, window) in closed where window.repeats > 0 { write(access, count: window.repeats) }
    }

    /// Writes every window's repeats: the server is stopping.
    func flushAll() { flush(now: .distantFuture) }

    private func write(_ access: Access, count: Int?) {
        var metadata: Logger.Metadata = [
            "status": .stringConvertible(access.status), "path": .string(access.path),
            "transport": .string(access.peer.transport == .tcp ? "tcp" : "unix"),
        ]
        if let secret = access.secret { metadata["secret"] = .string(secret) }
        if let versionID = access.versionID { metadata["versionId"] = .string(versionID) }
        if let uid = access.peer.uid { metadata["peerUid"] = .stringConvertible(uid) }
        if let pid = access.peer.pid { metadata["peerPid"] = .stringConvertible(pid) }
        if let count { metadata["count"] = .stringConvertible(count) }
        logger.log(level: Self.isRefusal(access.status) ? .warning : .info, "access", metadata: metadata)
    }
}
