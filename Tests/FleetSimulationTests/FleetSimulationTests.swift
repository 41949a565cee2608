import FleetSimulation
import Foundation
import InjectorBase
import InjectorRefresh
import InjectorSources
import Testing

/// The fleet simulation (bench/fleet) runs the production refresh policy, not a model of it.
@Suite struct FleetSimulationTests {
    /// Five hundred tasks restarted at the same instant (a region-wide event) with 60 s rounds.
    /// The interval's ±10 % jitter (`RefreshPolicy`) spreads their rounds out: the busiest
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

    /// A single-user rotation under a thousand tasks whose apps `POST /refresh` on a failed login
    ///: each task checks twice (unchanged before finishSecret, then the new version);
    /// every task has it within the refresh window (5 s plus up to half of it); and the window's
    /// spread keeps the new version's GetSecretValue calls off one second. Without the spread,
    /// every task's second check falls in the same second: about 950 calls in it, not under 600.
    @Test func aRotationReachesEveryTaskWithinTheRefreshWindowAndSpreadsItsCalls() throws {
        var scenario = FleetScenario(tasks: 1000, intervalSeconds: 300, startWindowSeconds: 60, durationSeconds: 130)
        scenario.rotation = RotationScenario(secret: "fleet/app/s0", setSecretAt: 100)
        let rotation = try #require(Fleet.simulate(scenario).rotation)
        #expect(rotation.pickedUp == 1000)
        #expect(rotation.pickupP99Seconds <= 7.5 + 0.1, "\(rotation)")
        #expect(rotation.refreshChecks == 2000, "\(rotation)")
        #expect(try #require(rotation.peakPerSecond["GetSecretValue"]) < 600, "\(rotation.peakPerSecond)")
        #expect(rotation.peakPerSecond["BatchGetSecretValue"] == 0 && rotation.peakPerSecond["ListSecrets"] == 0)
        #expect(rotation.failedLoginsPerTaskMax < 25 * 2 * 9, "25 queries a second, each with its retry")

        scenario.rotation?.appRefresh = false
        scenario.durationSeconds = 500
        let rounds = try #require(Fleet.simulate(scenario).rotation)
        #expect(rounds.refreshes == 0 && rounds.pickedUp == 1000)
        #expect(rounds.pickupP99Seconds > 60, "the rounds bring it, up to an interval later: \(rounds)")
    }

    /// Apps under `exec`: every task's app is restarted once, settleSeconds after its task picks the
    /// new version up plus a random share of the splay; no app asks `POST /refresh`; a splay as
    /// long as the interval flattens the busiest second of restarts, and lengthens the failed logins.
    @Test func execRestartsEveryAppOnceAndTheSplaySpreadsThem() throws {
        var scenario = FleetScenario(tasks: 500, intervalSeconds: 120, startWindowSeconds: 20, durationSeconds: 500)
        var rotation = RotationScenario(secret: "fleet/app/s0", setSecretAt: 40, appRefresh: false)
        rotation.execRestart = (settleSeconds: 2, splaySeconds: 0)
        scenario.rotation = rotation
        let unsplayed = try #require(Fleet.simulate(scenario).rotation)
        #expect(unsplayed.appRestarts == 500 && unsplayed.refreshes == 0 && unsplayed.pickedUp == 500)
        let earliest = try #require(unsplayed.appRestartP50Seconds)
        #expect(earliest >= unsplayed.pickupP50Seconds + 2 - 0.001, "a restart comes settleSeconds after its pickup")
        scenario.rotation?.execRestart = (settleSeconds: 2, splaySeconds: 120)
        let splayed = try #require(Fleet.simulate(scenario).rotation)
        #expect(splayed.appRestarts == 500)
        #expect(
            try #require(splayed.appRestartsPeakPerSecond) < (unsplayed.appRestartsPeakPerSecond ?? 0),
            "\(splayed) against \(unsplayed)")
        #expect(splayed.failedLoginsPerTaskMean > unsplayed.failedLoginsPerTaskMean)
        #expect(try #require(splayed.appRestartMaxSeconds) <= unsplayed.pickupMaxSeconds + 2 + 120 + 0.001)
    }

    /// Parameter Store beside Secrets Manager: a deployment faster than the standard
    /// throughput's 40 GetParameters a second is throttled and restarts tasks; the higher
    /// throughput takes it without one.
    @Test(arguments: [ParameterThroughput.standard, .higher])
    func parameterStoreThroughputDecidesTheStartStorm(_ throughput: ParameterThroughput) throws {
        var scenario = FleetScenario(tasks: 300, intervalSeconds: 300, startWindowSeconds: 2, durationSeconds: 120)
        scenario.parameters = 4
        scenario.parameterThroughput = throughput
        let report = Fleet.simulate(scenario)
        let calls = try #require(report.operations["GetParameters"])
        #expect(calls.quotaPerSecond == throughput.quotaPerSecond)
        #expect(calls.total >= 300, "one call a task for its four parameters, at least")
        if throughput == .standard {
            #expect(calls.throttled > 0 && report.restarts > 0, "\(calls), restarts \(report.restarts)")
        } else {
            #expect(calls.throttled == 0 && report.restarts == 0 && report.ready == 300, "\(calls)")
        }
    }
}
