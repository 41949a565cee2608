import FleetSimulation
import Foundation
import InjectorBase
import InjectorRefresh
import InjectorSources
import Testing

/// The fleet simulation (bench/fleet) runs the production refresh policy, not a model of it.
@Suite struct FleetSimulationTests {
    /// Five hundred tasks restarted at the same instant (a region-wide event) with 60 s rounds.
    /// The interval's ±10 % jitter (`RefreshStateMachine`) spreads their rounds out: the busiest
    /// second of DescribeSecret sees a fraction of the fleet. Without the jitter every round of
    /// every task falls in the same second (2,000 calls) — this test fails if it is removed.
    @Test func theIntervalJitterSpreadsAFleetThatStartedTogether() {
        let report = Fleet.simulate(
            FleetScenario(tasks: 500, intervalSeconds: 60, startWindowSeconds: 0, durationSeconds: 360))
        let describe = try! #require(report.operations["DescribeSecret"])
        #expect(report.strategy == "describe")
        #expect(describe.total >= 500 * 4 * 5, "five rounds each: \(describe.total)")
        #expect(describe.peakPerSecond < 500 * 4 / 4, "busiest second: \(describe.peakPerSecond) of 2,000")
    }

    @Test func theSameSeedGivesTheSameRun() throws {
        let scenario = FleetScenario(tasks: 200, intervalSeconds: 30, startWindowSeconds: 5, durationSeconds: 120)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let first = try encoder.encode(Fleet.simulate(scenario))
        #expect(try encoder.encode(Fleet.simulate(scenario)) == first)
        var other = scenario
        other.seed = 2
        #expect(try encoder.encode(Fleet.simulate(other)) != first, "the seed drives the jitter")
    }

    /// The production permission fallbacks decide the calls: with GetSecretValue alone, the
    /// `auto` strategy's DescribeSecret is denied once per secret, then rounds read values.
    @Test func theMinimalPolicyFallsBackToGet() throws {
        let report = Fleet.simulate(
            FleetScenario(tasks: 20, intervalSeconds: 60, startWindowSeconds: 0, durationSeconds: 600, policy: .minimal)
        )
        #expect(report.strategy == "get")
        #expect(report.ready == 20)
        #expect(report.operations["DescribeSecret"]?.total == 20 * 4, "one denial per secret, remembered")
        #expect(report.operations["BatchGetSecretValue"]?.total == 20, "one denial per task, remembered")
        #expect(try #require(report.operations["GetSecretValue"]).meanPerSecond > 0)
    }

    /// A deployment faster than BatchGetSecretValue's 100/s quota: with twelve secrets (one batch
    /// each), throttled batches are retried, then read one by one, spread out; every task is ready.
    @Test func throttledStartsStillGetReady() throws {
        let report = Fleet.simulate(
            FleetScenario(tasks: 1000, secrets: 12, intervalSeconds: 300, startWindowSeconds: 2, durationSeconds: 60))
        #expect(report.ready == 1000)
        let batch = try #require(report.operations["BatchGetSecretValue"])
        #expect(batch.throttled > 0, "\(batch)")
        #expect(try #require(report.operations["GetSecretValue"]).total > 0)
        #expect(report.readyMaxSeconds < 60)
    }
}
