import Foundation
import TestSupport
import Testing

@testable import InjectorTelemetry

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
