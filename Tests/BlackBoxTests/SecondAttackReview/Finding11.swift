import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Finding 11: the first review's flood fix closed a connection with more than 32 requests
/// waiting, so a client that pipelines and reads every answer was reset once its answers outgrew
/// the socket's buffers. Memory is now bounded by backpressure (the connection is read only when
/// every request received is answered and its unsent answers are under the high water mark, and
/// the decoder gets 4 KiB at a time), and a client that never reads is closed by the write timeout.
extension SecondAttackReviewTests {
    static let depthFixture = Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/pipeline_depth.py")
        .path

    /// A certificate bundle of 16 KB: 1,000 answers of it are 16 MB, far more than the socket
    /// buffers hold while the client has not read yet.
    static let bundle =
        "-----BEGIN CERTIFICATE-----\n" + String(repeating: String(repeating: "A", count: 64) + "\n", count: 250)
        + "-----END CERTIFICATE-----\n"

    static func depth(_ arguments: [String], timeout: TimeInterval = 90) async throws -> [String: Any] {
        let result = try await run(
            "/usr/bin/env", ["python3", depthFixture] + arguments, environment: ["PATH": "/usr/bin:/bin"],
            timeout: timeout)
        try #require(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").last.map(String.init), "\(result.stdout)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
    }

    @Test(
        "11. a client that pipelines 1,000 GETs in one write and reads gets them all; one that writes 100 MB and never reads is closed by the write timeout, RSS flat"
    )
    func pipelinedClientsAreBoundedByBackpressureNotByDepth() async throws {
        let scene = try AttackReviewTests.Scene(values: ["app/token": "t0k3n-value", "app/cert": Self.bundle])
        defer { scene.remove() }
        let port = freeLoopbackPort()
        let sidecar = try scene.launch(
            config: [
                "server": ["tcpPort": port],
                "secrets": [["id": "app/token", "file": "token"], ["id": "app/cert", "file": "cert"]],
            ], environment: ["AWS_TOKEN": "depth-token"])
        defer { Task { await scene.stop(sidecar) } }
        try #require(try await scene.waitReady(), "not ready: \(scene.logText())")

        // A client that reads, half a second after its write: by then the answers fill the
        // socket's buffers and the rest of its requests wait, parsed or not. Every one is answered.
        for (address, path, token) in [
            (String(port), "/ping", "-"), (String(port), "/v1/app/cert", "depth-token"),
            (scene.socket, "/v1/app/cert", "-"),
        ] {
            let report = try await Self.depth(["read", address, "1000", path, token, "0.5"])
            #expect(report["answered"] as? Int == 1000, "\(address) \(path): \(report)")
            #expect((report["statuses"] as? [String: Int])?["200"] == 1000, "\(address) \(path): \(report)")
            #expect(report["closedEarly"] as? Bool == false, "\(address) \(path): reset after \(report)")
        }

        // A client that writes 100 MB of pipelined /ping and never reads.
        try await Task.sleep(for: .milliseconds(500))
        let pid = sidecar.processIdentifier
        let baseline = AttackReviewTests.residentKB(pid)
        let peak = AttackReviewTests.PeakSampler(pid: pid)
        let total = 100_000_000
        let report = try await Self.depth(["flood", String(port), String(total), "60"])
        let highest = await peak.stop()
        // The sidecar stopped reading once its answers waited unsent: the kernel's buffers took a
        // few MB of the 100, then the writes stalled, and the write timeout (10 s) closed it.
        let sent = try #require(report["sent"] as? Int, "\(report)")
        #expect(sent < total / 2, "the sidecar kept reading a client that never reads: \(report)")
        #expect(report["closed"] is String, "the sidecar never closed the connection: \(report)")
        let stalled = report["stalledFor"] as? Double ?? 0
        #expect(stalled >= 8 && stalled < 25, "closed \(stalled) s after the writes stalled, not by the write timeout")
        #expect(highest - baseline < 10_000, "RSS grew \((highest - baseline) / 1024) MB: \(report)")
        #expect(try await scene.socket("/ping").body == "healthy")
    }
}
