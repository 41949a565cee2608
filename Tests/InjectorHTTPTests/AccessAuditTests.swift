import Foundation
import InjectorAgent
import Logging
import NIOCore
import TestSupport
import Testing

@testable import InjectorHTTP
@testable import InjectorTelemetry

/// ``AccessAudit``'s windows, at chosen times (the black-box test runs it through the sidecar).
@Suite struct AccessAuditWindowTests {
    let peer = AccessPeer(transport: .unixSocket, uid: 1000, pid: 4242)

    func read(_ secret: String, status: Int = 200) -> AccessAudit.Access {
        .init(peer: peer, secret: secret, versionID: "v1", status: status, path: "/v1/\(secret)")
    }

    @Test func repeatsWithinAMinuteFoldIntoOneLineWithTheirCount() {
        let log = LogLines()
        let audit = AccessAudit(logger: log.logger, enabled: true, metrics: SidecarMetrics())
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        audit.record(read("db"), now: start)
        for second in 1...4 { audit.record(read("db"), now: start + .seconds(Int64(second))) }
        audit.record(read("jwt"), now: start + .seconds(5))
        #expect(log.count(.info, containing: "access") == 2, "the first of each, at once")
        audit.flush(now: start + .seconds(30))
        #expect(log.count(.info, containing: "access") == 2, "the window is still open")
        audit.flush(now: start + .seconds(61))
        #expect(log.count(.info, containing: "access") == 3, "db's four repeats, in one line; jwt had none")
        audit.record(read("db"), now: start + .seconds(62))
        #expect(log.count(.info, containing: "access") == 4, "a new window")
    }

    @Test func withTheAuditOffOnlyRefusalsAreLoggedAndCounted() {
        let log = LogLines()
        let metrics = SidecarMetrics()
        let audit = AccessAudit(logger: log.logger, enabled: false, metrics: metrics)
        #expect(!audit.audits(status: 200, namesSecret: true))
        #expect(audit.audits(status: 403, namesSecret: false))
        audit.record(read("db", status: 403))
        audit.record(read("db", status: 404))
        #expect(log.count(.warning, containing: "access") == 2)
        #expect(metrics.requestsRefused == 2)
    }
}
