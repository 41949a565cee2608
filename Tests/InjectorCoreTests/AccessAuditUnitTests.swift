import Foundation
import Logging
import NIOCore
import TestSupport
import Testing

@testable import InjectorCore

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

/// The Embedded Metric Format line and its `ServiceName` (black-box: `CloudWatchMetricsTests`).
@Suite struct EMFWriterTests {
    @Test func aLineHoldsTheDirectiveAndEveryValueAtTheTopLevel() {
        let writer = EMFWriter(namespace: "SecretsInjector", serviceName: "pipeline-pulse") { _ in }
        let line = writer.line(
            [.init("SecretAge", "Seconds", 42)], secretName: "pipeline-pulse/prod/jwt",
            at: Date(timeIntervalSince1970: 1_800_000_000.5))
        #expect(
            line
                == #"{"_aws":{"Timestamp":1800000000500,"CloudWatchMetrics":[{"Namespace":"SecretsInjector","Dimensions":[["ServiceName","SecretName"]],"Metrics":[{"Name":"SecretAge","Unit":"Seconds"}]}]},"ServiceName":"pipeline-pulse","SecretName":"pipeline-pulse/prod/jwt","SecretAge":42}"#
        )
        #expect(EMFWriter.number(12.3456) == "12.346")
    }

    @Test func theServiceNameIsTheTaskFamilyFromTheMetadataEndpoint() async throws {
        let transport = FakeTransport { request, _ in
            #expect(request.url == "http://169.254.170.2/v4/abc/task")
            return .json(
                200,
                #"{"Cluster":"prod","TaskARN":"arn:aws:ecs:ap-southeast-1:1:task/prod/x","Family":"pipeline-pulse-api"}"#
            )
        }
        let environment = ["ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc"]
        #expect(
            await EMFWriter.serviceName(configured: nil, environment: environment, transport: transport)
                == "pipeline-pulse-api")
        #expect(
            await EMFWriter.serviceName(configured: "mine", environment: environment, transport: transport) == "mine")
        #expect(
            await EMFWriter.serviceName(configured: nil, environment: [:], transport: transport) == "secrets-injector")
        let elsewhere = ["ECS_CONTAINER_METADATA_URI_V4": "http://10.0.0.1/v4/abc"]
        #expect(
            await EMFWriter.serviceName(configured: nil, environment: elsewhere, transport: transport)
                == "secrets-injector", "only the ECS agent's own addresses are asked")
        #expect(transport.requests.count == 1, "asked once: when nothing is configured and the endpoint is the agent's")
    }
}

/// The per-minute `RequestsServed`/`RequestsRefused` counts the server's one-second sweep writes.
@Suite struct ServingMinuteTests {
    @Test func everySixtiethTickGivesTheRequestsSinceTheLastMinute() {
        let metrics = SidecarMetrics()
        let minute = metrics.minuteCounter()
        for _ in 0..<7 { metrics.served(status: 200, seconds: 0.0001) }
        metrics.served(status: 403, seconds: 0.0001)
        metrics.refused()
        for _ in 1..<60 { #expect(minute.tick() == nil) }
        let first = minute.tick()
        #expect(first?.served == 8 && first?.refused == 1)
        metrics.served(status: 200, seconds: 0.0001)
        for _ in 1..<60 { _ = minute.tick() }
        let second = minute.tick()
        #expect(second?.served == 1 && second?.refused == 0, "only the new minute's")
    }
}
