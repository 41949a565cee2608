import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One listener's connections and what each is doing, against `maxConnections`: the table the
/// connection rules work on. Touched from the event loop and, at shutdown, the service's task.
final class ConnectionTable: Sendable {
    /// `sending`: answers wait to be sent and the client does not take them; its own handler times
    /// it out (``SidecarServer/writeTimeout``, counted from the last byte taken), not the sweep.
    enum Phase: Sendable { case idle, receiving, answering, sending }
    enum Admission: Sendable { case admitted, overLimit }

    private struct Entry {
        let channel: any Channel
        var phase: Phase
        var since: NIODeadline
        let overLimit: Bool
    }

    let limit: Int
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(limit: Int) { self.limit = limit }

    /// Takes a new connection in. At the limit, the connection idle (or partly received, or not
    /// reading its answers) the longest is closed to make room; when every one is answering, the
    /// new one is admitted over the limit (it may ask `/ping`), up to a small allowance; past
    /// that, nil.
    func admit(_ channel: any Channel, now: NIODeadline = .now()) -> Admission? {
        let (admission, evicted): (Admission?, (any Channel)?) = entries.withLock { table in
            var evicted: (any Channel)?
            let regular = table.values.filter { !$0.overLimit }
            if regular.count >= limit,
                let oldest = regular.filter({ $0.phase != .answering }).min(by: { $0.since < $1.since })
            {
                table.removeValue(forKey: ObjectIdentifier(oldest.channel))
                evicted = oldest.channel
            }
            let overLimit = table.values.filter { !$0.overLimit }.count >= limit
            if overLimit, table.values.filter(\.overLimit).count >= SidecarServer.overLimitAllowance {
                return (nil, evicted)
            }
            table[ObjectIdentifier(channel)] = Entry(channel: channel, phase: .idle, since: now, overLimit: overLimit)
            return (overLimit ? .overLimit : .admitted, evicted)
        }
        evicted?.close(promise: nil)
        return admission
    }

    func remove(_ channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func phase(of channel: any Channel) -> Phase? { entries.withLock { $0[ObjectIdentifier(channel)]?.phase } }

    /// The connection now receives a request, answers one, or waits idle; the clock of its timeout
    /// starts again.
    func set(_ channel: any Channel, _ phase: Phase, now: NIODeadline = .now()) {
        entries.withLock { table in
            let id = ObjectIdentifier(channel)
            guard table[id] != nil, table[id]?.phase != phase else { return }
            table[id]?.phase = phase
            table[id]?.since = now
        }
    }

    var answering: Int { entries.withLock { $0.values.filter { $0.phase == .answering }.count } }

    /// Closes idle connections older than `idle` and partly received requests older than `partial`.
    func closeExpired(idle: TimeAmount, partial: TimeAmount, now: NIODeadline = .now()) {
        let expired = entries.withLock { table in
            table.values.filter { entry in
                switch entry.phase {
                case .idle: now - entry.since > idle
                case .receiving: now - entry.since > partial
                case .answering, .sending: false
                }
            }.map(\.channel)
        }
        for channel in expired { channel.close(promise: nil) }
    }

    func closeAllNotAnswering() {
        let closing = entries.withLock { $0.values.filter { $0.phase != .answering }.map(\.channel) }
        for channel in closing { channel.close(promise: nil) }
    }
}
