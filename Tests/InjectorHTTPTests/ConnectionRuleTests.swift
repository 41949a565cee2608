import Foundation
import InjectorBase
import InjectorConfig
import Logging
import NIOCore
import NIOEmbedded
import SecretsManager
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

@testable import InjectorAgent
@testable import InjectorHTTP
@testable import InjectorTelemetry

/// The connection rules: the table on fake channels and a manual clock, then the real
/// NIO server in-process over TCP and the Unix socket.
@Suite struct ConnectionRuleTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    func at(_ seconds: Int64) -> NIODeadline { start + .seconds(seconds) }
    /// A fake channel that is open, as an accepted connection is.
    func connected() -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func atTheLimitTheConnectionIdleLongestMakesRoom() throws {
        let table = ConnectionTable(limit: 3)
        let channels = (0..<3).map { _ in connected() }
        for (index, channel) in channels.enumerated() {
            #expect(table.admit(channel, now: at(Int64(index))) == .admitted)
        }
        table.set(channels[0], .answering, now: at(5))  // busy: never dropped
        table.set(channels[2], .receiving, now: at(6))  // a head that stopped half-way
        let newcomer = connected()
        #expect(table.admit(newcomer, now: at(7)) == .admitted)
        #expect(channels[0].isActive && !channels[1].isActive, "the idle one since 1 s went")
        #expect(channels[2].isActive)
        let next = connected()
        #expect(table.admit(next, now: at(8)) == .admitted)
        #expect(!channels[2].isActive, "then the partial one")
        // Every slot answering: admitted over the limit (only /ping is served), up to the allowance.
        table.set(newcomer, .answering, now: at(9))
        table.set(next, .answering, now: at(9))
        var over: [EmbeddedChannel] = []
        for _ in 0..<SidecarServer.overLimitAllowance {
            let channel = connected()
            #expect(table.admit(channel, now: at(10)) == .overLimit)
            over.append(channel)
        }
        #expect(table.admit(connected(), now: at(10)) == nil)
        #expect(channels[0].isActive && newcomer.isActive && next.isActive)
    }

    @Test func idleConnectionsGetSixtySecondsPartialRequestsTen() throws {
        let table = ConnectionTable(limit: 10)
        let idle = connected()
        let partial = connected()
        let busy = connected()
        for channel in [idle, partial, busy] { _ = table.admit(channel, now: at(0)) }
        table.set(partial, .receiving, now: at(0))
        table.set(busy, .answering, now: at(0))
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(10))
        #expect(partial.isActive)
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(11))
        #expect(!partial.isActive && idle.isActive)
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(61))
        #expect(!idle.isActive)
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(10_000))
        #expect(busy.isActive, "an answer being produced is never cut")
        table.closeAllNotAnswering()
        #expect(busy.isActive)
    }

    @Test func aConnectionNotReadingItsAnswersIsLeftToTheWriteTimeoutAndMakesRoom() throws {
        // `sending`: its handler's write timeout closes it, counted from the last byte taken, not
        // the sweep; at the limit it makes room as an idle one does.
        let table = ConnectionTable(limit: 2)
        let (sending, busy) = (connected(), connected())
        for channel in [sending, busy] { _ = table.admit(channel, now: at(0)) }
        table.set(sending, .sending, now: at(0))
        table.set(busy, .answering, now: at(0))
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(10_000))
        #expect(sending.isActive)
        #expect(table.admit(connected(), now: at(10_001)) == .admitted)
        #expect(!sending.isActive && busy.isActive)
    }

    /// The sidecar's server alone, in-process, on a socket and a free TCP port.
    struct Server {
        let folder: String
        let port: Int
        let group: ServiceGroup
        let running: Task<Void, any Error>
        var socket: String { "\(folder)/injector.sock" }

        init(refresh: @escaping @Sendable (SecretStore) async -> Void = { _ in }) async throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            port = freeLoopbackPort()
            var settings = ServerSettings(
                socketPath: "\(folder)/injector.sock", socketMode: FileMode(0o600), tcpPort: port)
            settings.maxConnections = 800
            let responder = await AgentFixtures.responder(onRefresh: refresh)
            let server = SidecarServer(
                settings: settings, socketGroup: nil, responder: responder, metrics: SidecarMetrics(),
                logger: Logger(label: "test"))
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: server)], logger: Logger(label: "test")))
            self.group = group
            running = Task { try await group.run() }
            // Ready when both listeners take a connection.
            let (socket, tcpPort) = ("\(folder)/injector.sock", port)
            for _ in 0..<250 {
                if await onThread({ RawConnection(unixPath: socket) != nil && RawConnection(port: tcpPort) != nil }) {
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    @Test func pingNeedsNoTokenOverTCP() async throws {
        let server = try await Server()
        let result = try await run(
            "/usr/bin/curl", ["-s", "-i", "http://localhost:\(server.port)/ping"], environment: [:])
        await server.stop()
        #expect(result.stdout.hasPrefix("HTTP/1.1 200"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("\r\n\r\nhealthy"))
        #expect(!result.stdout.lowercased().contains("content-type"), "the Agent's own answers have none")
    }

    @Test func aKeepAliveConnectionIsReusedAfterThirtySecondsIdle() async throws {
        let server = try await Server()
        let (port, socket) = (server.port, server.socket)
        let (first, second, overSocket) = await onThread { () -> (String, String, String) in
            guard let tcp = RawConnection(port: port), let unix = RawConnection(unixPath: socket) else {
                return ("", "", "")
            }
            let request = "GET /v1/MyTest HTTP/1.1\r\nHost: localhost\r\nX-Aws-Parameters-Secrets-Token: xyzzy\r\n\r\n"
            tcp.send(request)
            unix.send(request)
            let first = tcp.receiveResponse(timeout: 20)
            _ = unix.receiveResponse(timeout: 20)
            sleep(30)
            tcp.send(request)
            unix.send(request)
            return (first, tcp.receiveResponse(timeout: 20), unix.receiveResponse(timeout: 20))
        }
        await server.stop()
        #expect(first.hasPrefix("HTTP/1.1 200"), "\(first)")
        #expect(second.hasPrefix("HTTP/1.1 200") && second.contains("hunter2"), "\(second)")
        #expect(overSocket.hasPrefix("HTTP/1.1 200"), "\(overSocket)")
    }

    @Test func badRequestsCloseSmallBodiesAreServedHalfClosesAnswered() async throws {
        let server = try await Server()
        let port = server.port
        let report = await onThread { () -> [String: String] in
            var report: [String: String] = [:]
            // A request head that cannot be parsed: 400, then closed.
            if let connection = RawConnection(port: port) {
                connection.send("GET /ping HTTP/1.1\r\nHost localhost\r\n\r\n")
                report["parse"] = connection.receiveResponse()
                report["parseClosed"] = "\(connection.closedByPeer(within: 2))"
            }
            // Any 4xx ends the connection right after it is written.
            if let connection = RawConnection(port: port) {
                connection.send("GET /v1/MyTest HTTP/1.1\r\nHost: localhost\r\n\r\n")
                report["forbidden"] = connection.receiveResponse()
                report["forbiddenClosed"] = "\(connection.closedByPeer(within: 2))"
            }
            // A GET with a small body is served, as the Agent does.
            if let connection = RawConnection(port: port) {
                connection.send(
                    "GET /v1/MyTest HTTP/1.1\r\nHost: localhost\r\nX-Vault-Token: xyzzy\r\nContent-Length: 5\r\n\r\nhello"
                )
                report["body"] = connection.receiveResponse()
            }
            // A request followed by a half-close is answered.
            if let connection = RawConnection(port: port) {
                connection.send("GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
                connection.halfClose()
                report["halfClose"] = connection.receiveResponse()
            }
            return report
        }
        await server.stop()
        #expect(report["parse"]?.hasPrefix("HTTP/1.1 400") == true, "\(report)")
        #expect(report["parseClosed"] == "true")
        #expect(report["forbidden"]?.hasPrefix("HTTP/1.1 403") == true)
        #expect(report["forbidden"]?.hasSuffix("Bad Token") == true)
        #expect(report["forbiddenClosed"] == "true")
        #expect(report["body"]?.hasPrefix("HTTP/1.1 200") == true, "\(report["body"] ?? "")")
        #expect(
            report["halfClose"]?.hasPrefix("HTTP/1.1 200") == true && report["halfClose"]?.hasSuffix("healthy") == true)
    }

    @Test func pipelinedRequestsAreAnsweredInOrderBehindOneThatWaits() async throws {
        // The first request waits a second for its refresh round; the two behind it, sent in the
        // same packet, are answered after it, in order; the half-close then ends the connection.
        let server = try await Server(refresh: { _ in try? await Task.sleep(for: .seconds(1)) })
        let port = server.port
        let received = await onThread { () -> String in
            guard let connection = RawConnection(port: port) else { return "" }
            connection.send(
                "GET /secretsmanager/get?secretId=MyTest&refreshNow=true HTTP/1.1\r\nHost: x\r\nX-Vault-Token: xyzzy\r\n\r\n"
                    + "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /v1/MyTest?versionStage=AWSCURRENT HTTP/1.1\r\nHost: x\r\nX-Vault-Token: xyzzy\r\n\r\n")
            connection.halfClose()
            return connection.receiveUntilClosed()
        }
        await server.stop()
        let answers = received.components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(answers.count == 3, "\(received)")
        #expect(answers.allSatisfy { $0.hasPrefix("200 OK") }, "\(received)")
        let order = answers.map { $0.contains("hunter2") ? "secret" : $0.hasSuffix("healthy") ? "ping" : "?" }
        #expect(order == ["secret", "ping", "secret"], "\(received)")
        #expect(answers.last?.contains("Connection: close") == true, "the last answer before the half-close says so")
    }

    @Test func aSlowAnswerIsNeverCutAndPartialRequestsGetTenSeconds() async throws {
        // refreshNow takes 12 s: longer than any request timeout, and still answered.
        let server = try await Server(refresh: { _ in try? await Task.sleep(for: .seconds(12)) })
        let port = server.port
        let report = await onThread { () -> (slow: String, partialClosed: Bool, waited: Double) in
            guard let slow = RawConnection(port: port), let partial = RawConnection(port: port) else {
                return ("", false, 0)
            }
            slow.send(
                "GET /secretsmanager/get?secretId=MyTest&refreshNow=true HTTP/1.1\r\nHost: x\r\nX-Vault-Token: xyzzy\r\n\r\n"
            )
            partial.send("GET /ping HTTP/1.1\r\nHost: x\r\n")
            let started = Date()
            let closed = partial.closedByPeer(within: 13)
            let waited = Date().timeIntervalSince(started)
            return (slow.receiveResponse(timeout: 10), closed, waited)
        }
        await server.stop()
        #expect(report.slow.hasPrefix("HTTP/1.1 200"), "\(report.slow)")
        #expect(report.partialClosed)
        #expect(report.waited >= 9 && report.waited < 12.5, "\(report.waited)")
    }
}
