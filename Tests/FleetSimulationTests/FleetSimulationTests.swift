import FleetSimulation
import Foundation
import InjectorBase
import InjectorRefresh
import InjectorSources
import TestSupport
import Testing

/// The fleet simulation (bench/fleet) runs the production refresh policy, not a model of it.
@Suite struct FleetSimulationTests {
    /// A run of the simulation on a thread of its own: the larger fleets take seconds of CPU, which
    /// on Swift's cooperative pool (one thread per core) would stall every test beside them.
    func simulate(_ scenario: FleetScenario) async -> FleetReport {
        await onThread { Fleet.simulate(scenario) }
    }

    /// Five hundred tasks restarted at the same instant (a region-wide event) with 60 s rounds.
    /// The interval's ±10 % jitter (`RefreshPolicy`) spreads their rounds out: the busiest
    /// second of DescribeSecret sees a fraction of the fleet. Without the jitter every round of
    /// every task falls in the same second (2,000 calls) — this test fails if it is removed.
    /// (`describe` named: `auto` now lists, one call a round; ``aThrottledListingFallsBackAndBacksOff``.)
    @Test func theIntervalJitterSpreadsAFleetThatStartedTogether() async {
        let report = await simulate(
            FleetScenario(
                tasks: 500, intervalSeconds: 60, startWindowSeconds: 0, durationSeconds: 360, strategy: .describe))
        let describe = try! #require(report.operations["DescribeSecret"])
        #expect(report.strategy == "describe")
        #expect(describe.total >= 500 * 4 * 5, "five rounds each: \(describe.total)")
        #expect(describe.peakPerSecond < 500 * 4 / 4, "busiest second: \(describe.peakPerSecond) of 2,000")
    }

    @Test func theSameSeedGivesTheSameRun() async throws {
        let scenario = FleetScenario(tasks: 200, intervalSeconds: 30, startWindowSeconds: 5, durationSeconds: 120)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let first = try encoder.encode(await simulate(scenario))
        #expect(try encoder.encode(await simulate(scenario)) == first)
        var other = scenario
        other.seed = 2
        #expect(try encoder.encode(await simulate(other)) != first, "the seed drives the jitter")
    }

    /// The production permission fallbacks decide the calls: with GetSecretValue alone, the
    /// `auto` strategy's DescribeSecret is denied once per secret, then rounds read values.
    @Test func theMinimalPolicyFallsBackToGet() async throws {
        let report = await simulate(
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
    @Test func throttledStartsStillGetReady() async throws {
        let report = await simulate(
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
    /// (An hour's interval: no task's first round, from 10 % of it, falls in the rotation's window.)
    @Test func aRotationReachesEveryTaskWithinTheRefreshWindowAndSpreadsItsCalls() async throws {
        var scenario = FleetScenario(tasks: 1000, intervalSeconds: 3600, startWindowSeconds: 60, durationSeconds: 130)
        scenario.rotation = RotationScenario(secret: "fleet/app/s0", setSecretAt: 100)
        let rotation = try #require(await simulate(scenario).rotation)
        #expect(rotation.pickedUp == 1000)
        #expect(rotation.pickupP99Seconds <= 7.5 + 0.1, "\(rotation)")
        #expect(rotation.refreshChecks == 2000, "\(rotation)")
        #expect(try #require(rotation.peakPerSecond["GetSecretValue"]) < 600, "\(rotation.peakPerSecond)")
        #expect(rotation.peakPerSecond["BatchGetSecretValue"] == 0 && rotation.peakPerSecond["ListSecrets"] == 0)
        #expect(rotation.failedLoginsPerTaskMax < 25 * 2 * 9, "25 queries a second, each with its retry")

        scenario.rotation?.appRefresh = false
        scenario.intervalSeconds = 300
        scenario.durationSeconds = 500
        let rounds = try #require(await simulate(scenario).rotation)
        #expect(rounds.refreshes == 0 && rounds.pickedUp == 1000)
        #expect(rounds.pickupP99Seconds > 60, "the rounds bring it, up to an interval later: \(rounds)")
    }

    /// Apps under `exec`: every task's app is restarted once, settleSeconds after its task picks the
    /// new version up plus a random share of the splay; no app asks `POST /refresh`; a splay as
    /// long as the interval flattens the busiest second of restarts, and lengthens the failed logins.
    @Test func execRestartsEveryAppOnceAndTheSplaySpreadsThem() async throws {
        var scenario = FleetScenario(tasks: 500, intervalSeconds: 120, startWindowSeconds: 20, durationSeconds: 500)
        var rotation = RotationScenario(secret: "fleet/app/s0", setSecretAt: 40, appRefresh: false)
        rotation.execRestart = (settleSeconds: 2, splaySeconds: 0)
        scenario.rotation = rotation
        let unsplayed = try #require(await simulate(scenario).rotation)
        #expect(unsplayed.appRestarts == 500 && unsplayed.refreshes == 0 && unsplayed.pickedUp == 500)
        let earliest = try #require(unsplayed.appRestartP50Seconds)
        #expect(earliest >= unsplayed.pickupP50Seconds + 2 - 0.001, "a restart comes settleSeconds after its pickup")
        scenario.rotation?.execRestart = (settleSeconds: 2, splaySeconds: 120)
        let splayed = try #require(await simulate(scenario).rotation)
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
    func parameterStoreThroughputDecidesTheStartStorm(_ throughput: ParameterThroughput) async throws {
        var scenario = FleetScenario(tasks: 300, intervalSeconds: 300, startWindowSeconds: 2, durationSeconds: 120)
        scenario.parameters = 4
        scenario.parameterThroughput = throughput
        let report = await simulate(scenario)
        let calls = try #require(report.operations["GetParameters"])
        #expect(calls.quotaPerSecond == throughput.quotaPerSecond)
        #expect(calls.total >= 300, "one call a task for its four parameters, at least")
        if throughput == .standard {
            #expect(calls.throttled > 0 && report.restarts > 0, "\(calls), restarts \(report.restarts)")
        } else {
            #expect(calls.throttled == 0 && report.restarts == 0 && report.ready == 300, "\(calls)")
        }
    }

    /// The bill prices the steady state's calls: per task-hour, and per 30-day month for the fleet at
    /// $0.05 per 10,000 calls; Parameter Store's standard throughput is free, the higher one is not.
    @Test(arguments: [ParameterThroughput.standard, .higher])
    func theBillPricesTheSteadyState(_ throughput: ParameterThroughput) async throws {
        var scenario = FleetScenario(
            tasks: 100, intervalSeconds: 60, startWindowSeconds: 0, durationSeconds: 900, strategy: .describe)
        scenario.parameters = 1
        scenario.parameterThroughput = throughput
        let report = await simulate(scenario)
        let describe = try #require(report.bill["DescribeSecret"])
        // Four checks a round, a round every 60 s ±10 %: 240 calls per task-hour.
        #expect(abs(describe.callsPerTaskHour - 240) < 12, "\(describe)")
        #expect(describe.dollarsPer10000Calls == 0.05)
        let month = describe.callsPerTaskHour * 100 * 24 * 30 * 0.05 / 10_000
        #expect(abs(describe.dollarsPerMonth - month) < 0.01, "\(describe) against \(month)")
        let parameters = try #require(report.bill["GetParameters"])
        #expect(abs(parameters.callsPerTaskHour - 60) < 3, "one GetParameters a round: \(parameters)")
        if throughput == .standard {
            #expect(parameters.dollarsPerMonth == 0)
        } else {
            #expect(parameters.dollarsPerMonth > 0 && parameters.dollarsPer10000Calls == 0.05)
        }
        let total = try #require(report.bill["total"])
        #expect(abs(total.dollarsPerMonth - describe.dollarsPerMonth - parameters.dollarsPerMonth) <= 0.011)
        #expect(report.billBasis.contains("30-day month"))
    }

    /// `auto` with the recommended policy: one ListSecrets a round. A thousand tasks with 8 s rounds
    /// ask 125 listings a second, beyond ListSecrets' 100: the throttled listings are not retried,
    /// those rounds describe each secret instead (none fails), the tasks back off from listing,
    /// and a task throttled three times describes for good (RefresherTests; `scripts/bench fleet`
    /// over a longer run shows the throttling end).
    @Test func aThrottledListingFallsBackAndBacksOff() async throws {
        let report = await simulate(
            FleetScenario(tasks: 1000, intervalSeconds: 8, startWindowSeconds: 0, durationSeconds: 300))
        #expect(report.ready == 1000 && report.failedRounds == 0, "\(report.failedRounds) failed rounds")
        let list = try #require(report.operations["ListSecrets"])
        let describe = try #require(report.operations["DescribeSecret"])
        #expect(list.throttled > 0 && describe.total > 0, "\(list) \(describe)")
        #expect(list.throttled * 10 < list.total, "a tenth of the listings or fewer are throttled: \(list)")
        #expect(list.meanPerSecond < 110, "\(list)")
        #expect(report.operations["GetSecretValue"]?.meanPerSecond == 0, "nothing changed: nothing read")
        // Fewer calls than four DescribeSecret a round would take.
        #expect(try #require(report.bill["total"]).callsPerTaskHour < 4 * 450, "\(report.bill)")
    }
}
