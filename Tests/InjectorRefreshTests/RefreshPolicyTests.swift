import Foundation
import InjectorBase
import Synchronization
import Testing

@testable import InjectorRefresh

/// The refresh policy on a manual clock: times are numbers of seconds, nothing sleeps.
@Suite struct RefreshPolicyTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: TimeInterval) -> Date { start.addingTimeInterval(seconds) }

    /// A random source that replays `values`, the last one forever.
    static func sequence(_ values: [Double]) -> @Sendable () -> Double {
        let index = Atomic<Int>(0)
        return { values[min(index.add(1, ordering: .relaxed).oldValue, values.count - 1)] }
    }

    @Test func intervalsStayWithinTheJitterBounds() {
        for random in [0.0, 0.5, 0.999] {
            var machine = RefreshPolicy(settings: .init(interval: 300), random: { random })
            guard case .sleep(let first) = machine.handle(.started, now: at(0)) else {
                Issue.record("no sleep"); return
            }
            #expect(
                first.timeIntervalSince(at(0)) >= 30 && first.timeIntervalSince(at(0)) <= 300,
                "within the first interval")
            #expect(machine.handle(.timerFired, now: first) == .refresh)
            guard case .sleep(let second) = machine.handle(.refreshed(.init()), now: first.addingTimeInterval(2))
            else { return }
            let gap = second.timeIntervalSince(first.addingTimeInterval(2))
            #expect(gap >= 270 && gap <= 330, "gap \(gap) for random \(random)")
        }
        var low = RefreshPolicy(settings: .init(interval: 300), random: { 0 })
        #expect(low.handle(.started, now: at(0)) == .sleep(until: at(30)), "never before 10 % of the interval")
        var high = RefreshPolicy(settings: .init(interval: 300), random: { 1 })
        #expect(high.handle(.started, now: at(0)) == .sleep(until: at(300)), "never after the interval")
        var short = RefreshPolicy(settings: .init(interval: 1), random: { 0 })
        #expect(short.handle(.started, now: at(0)) == .sleep(until: at(1)), "never under a second")
    }

    @Test func anEarlyTimerSleepsOnAndALateOneRefreshes() {
        var machine = RefreshPolicy(settings: .init(interval: 100), random: { 0.5 })
        #expect(machine.handle(.started, now: at(0)) == .sleep(until: at(55)))
        #expect(machine.handle(.timerFired, now: at(50)) == .sleep(until: at(55)))
        #expect(machine.handle(.timerFired, now: at(100)) == .refresh)
        #expect(machine.handle(.timerFired, now: at(101)) == .wait, "one round at a time")
    }

    @Test func failuresBackOffUpToTheInterval() {
        var machine = RefreshPolicy(settings: .init(interval: 10), random: { 0.999 })
        _ = machine.handle(.started, now: at(0))
        _ = machine.handle(.timerFired, now: at(10))
        var delays: [TimeInterval] = []
        var now: TimeInterval = 10
        for _ in 0..<7 {
            guard case .sleep(let until) = machine.handle(.refreshFailed, now: at(now)) else { return }
            delays.append((until.timeIntervalSince(at(now)) * 1000).rounded() / 1000)
            now = until.timeIntervalSince(start)
            #expect(machine.handle(.timerFired, now: at(now)) == .refresh)
        }
        #expect(delays == [0.999, 1.998, 3.996, 7.992, 9.99, 9.99, 9.99])
        #expect(machine.consecutiveFailures == 7)
        guard case .sleep(let after) = machine.handle(.refreshed(.init()), now: at(now)) else { return }
        #expect(machine.consecutiveFailures == 0)
        #expect(after.timeIntervalSince(at(now)) > 10, "back to the interval after a success")
    }

    @Test func backoffHasFullJitterButAFloor() {
        var machine = RefreshPolicy(settings: .init(interval: 300), random: { 0 })
        _ = machine.handle(.started, now: at(0))
        _ = machine.handle(.refreshRequested, now: at(1))
        #expect(machine.handle(.refreshFailed, now: at(2)) == .sleep(until: at(2.1)))
    }

    @Test func anOverdueRotationIsCheckedWithinAMinute() {
        var machine = RefreshPolicy(settings: .init(interval: 3600), random: { 0.999 })
        _ = machine.handle(.started, now: at(0))
        _ = machine.handle(.refreshRequested, now: at(0))
        guard case .sleep(let next) = machine.handle(.refreshed(.init(rotationOverdue: true)), now: at(5)) else {
            return
        }
        #expect(next.timeIntervalSince(at(5)) <= 60 && next.timeIntervalSince(at(5)) >= 30)
    }

    @Test func anUpcomingRotationBringsTheRefreshForward() {
        var machine = RefreshPolicy(settings: .init(interval: 3600), random: { 0.5 })
        _ = machine.handle(.started, now: at(0))
        _ = machine.handle(.refreshRequested, now: at(0))
        #expect(machine.handle(.refreshed(.init(nextRotation: at(600))), now: at(1)) == .sleep(until: at(600)))
        _ = machine.handle(.timerFired, now: at(600))
        // A rotation date in the past is not "upcoming".
        #expect(
            machine.handle(.refreshed(.init(nextRotation: at(100))), now: at(601)) == .sleep(until: at(4201)))
    }

    @Test func requestsDuringARefreshAreCoalescedIntoOne() {
        var machine = RefreshPolicy(settings: .init(interval: 300), random: { 0.5 })
        _ = machine.handle(.started, now: at(0))
        #expect(machine.handle(.refreshRequested, now: at(1)) == .refresh)
        #expect(machine.handle(.refreshRequested, now: at(2)) == .wait)
        #expect(machine.handle(.refreshRequested, now: at(3)) == .wait)
        #expect(machine.handle(.timerFired, now: at(4)) == .wait)
        #expect(
            machine.handle(.refreshed(.init()), now: at(5)) == .refresh, "one more round for all three requests")
        #expect(machine.handle(.refreshed(.init()), now: at(6)) == .sleep(until: at(306)))
        // A request after a failure is served at once too.
        #expect(machine.handle(.refreshRequested, now: at(7)) == .refresh)
        #expect(machine.handle(.refreshRequested, now: at(7.5)) == .wait)
        #expect(machine.handle(.refreshFailed, now: at(8)) == .refresh)
    }

    @Test func aRoundWithAFailedRequiredSecretIsAFailedRound() {
        var machine = RefreshPolicy(settings: .init(interval: 300), random: { 0.999 })
        _ = machine.handle(.started, now: at(0))
        _ = machine.handle(.refreshRequested, now: at(1))
        let failed = RefreshPolicy.RoundReport(failedSecrets: ["pipeline-pulse/prod/database"])
        #expect(machine.handle(.refreshed(failed), now: at(2)) == .sleep(until: at(2.999)), "backs off")
        #expect(machine.consecutiveFailures == 1)
        #expect(machine.staleness(now: at(2)) == 2, "the last complete round is still the start")
        _ = machine.handle(.timerFired, now: at(3))
        _ = machine.handle(.refreshed(failed), now: at(4))
        #expect(machine.consecutiveFailures == 2)
        _ = machine.handle(.timerFired, now: at(6))
        _ = machine.handle(.refreshed(.init()), now: at(7))
        #expect(machine.consecutiveFailures == 0)
        #expect(machine.staleness(now: at(7)) == 0)
    }

    @Test func strategyChoice() {
        #expect(RefreshStrategy.auto.resolved(discovers: true) == .list)
        #expect(RefreshStrategy.auto.resolved(discovers: false) == .describe)
        for strategy in [RefreshStrategy.list, .describe, .get] {
            #expect(strategy.resolved(discovers: true) == strategy)
            #expect(strategy.resolved(discovers: false) == strategy)
        }
    }
}
