import Foundation
import InjectorBase
import Testing

@testable import InjectorAgent

/// The three states of `/health` from a report's values.
@Suite struct HealthReportTests {
    func status(_ id: String, required: Bool = true, success: Double?, error: String? = nil) -> SecretStatus {
        SecretStatus(
            id: id, alias: nil, required: required, versionID: "v1",
            lastSuccess: success.map { Date(timeIntervalSince1970: $0) }, lastError: error, lastErrorCode: nil)
    }

    @Test func theThreeStates() {
        let now = Date(timeIntervalSince1970: 1000)
        func report(_ secrets: [SecretStatus], failures: Int = 0, maxStale: Int? = 60) -> HealthReport {
            HealthReport(
                ready: true, consecutiveFailures: failures, secrets: secrets, maxStaleSeconds: maxStale, now: now)
        }
        #expect(report([status("a", success: 990)]).status == .healthy)
        #expect(report([status("a", success: 990, error: "boom")]).status == .degraded)
        #expect(report([status("a", success: 940)]).status == .healthy, "exactly maxStaleSeconds is not past it")
        #expect(report([status("a", success: 939, error: "boom")]).status == .unhealthy)
        #expect(report([status("a", success: 1, error: "boom")], maxStale: nil).status == .degraded, "never by default")
        #expect(
            report([status("opt", required: false, success: nil, error: "gone")]).status == .degraded,
            "an optional secret never makes it unhealthy")
        #expect(report([status("a", success: 999)], failures: 2).reason == "2 refresh rounds failed in a row")
        #expect(
            HealthReport(ready: false, secrets: [], now: now).reason == "no generation committed yet")
    }
}
