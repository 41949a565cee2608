import Foundation
import Synchronization
import TestSupport
import Testing

@testable import AWSCredentials

/// A provider that hands out numbered credentials expiring `lifetime` after the clock's now,
/// optionally failing or waiting at a gate.
final class CountingProvider: CredentialProvider, @unchecked Sendable {
    let name = "counting provider"
    let clock: ManualClock
    let lifetime: TimeInterval
    let fetches = Atomic<Int>(0)
    let failing = Atomic<Bool>(false)
    let gate: Gate?

    init(clock: ManualClock, lifetime: TimeInterval = 3600, gate: Gate? = nil) {
        self.clock = clock
        self.lifetime = lifetime
        self.gate = gate
    }

    func fetch() async throws(CredentialError) -> Credentials {
        let number = fetches.add(1, ordering: .relaxed).newValue
        if let gate { await gate.wait() }
        if failing.load(ordering: .relaxed) { throw CredentialError(.unavailable, "endpoint down") }
        return Credentials(
            accessKeyID: "KEY\(number)", secretAccessKey: "s", sessionToken: "t",
            expiration: clock.now().addingTimeInterval(lifetime), source: "test")
    }
}

@Suite struct RefreshingCredentialsTests {
    @Test func noRefreshBeforeTheAdvisoryWindow() async throws {
        let clock = ManualClock()
        let provider = CountingProvider(clock: clock)
        let cache = RefreshingCredentials(provider: provider, clock: clock)
        #expect(try await cache.current().accessKeyID == "KEY1")
        clock.advance(by: 3600 - 15 * 60 - 1)
        #expect(try await cache.current().accessKeyID == "KEY1")
        #expect(provider.fetches.load(ordering: .relaxed) == 1)
    }

    @Test func advisoryWindowRefreshes() async throws {
        let clock = ManualClock()
        let provider = CountingProvider(clock: clock)
        let cache = RefreshingCredentials(provider: provider, clock: clock)
        _ = try await cache.current()
        clock.advance(by: 3600 - 15 * 60 + 1)
        #expect(try await cache.current().accessKeyID == "KEY2")
        #expect(try await cache.current().accessKeyID == "KEY2")
        #expect(provider.fetches.load(ordering: .relaxed) == 2)
    }

    @Test func failedAdvisoryRefreshKeepsTheOldCredentialsAndPausesBeforeTryingAgain() async throws {
        let clock = ManualClock()
        let provider = CountingProvider(clock: clock)
        let cache = RefreshingCredentials(provider: provider, clock: clock)
        _ = try await cache.current()
        provider.failing.store(true, ordering: .relaxed)
        clock.advance(by: 3600 - 14 * 60)  // 14 min left: advisory
        #expect(try await cache.current().accessKeyID == "KEY1")
        #expect(try await cache.current().accessKeyID == "KEY1")
        #expect(provider.fetches.load(ordering: .relaxed) == 2, "one advisory attempt, then a pause")
        clock.advance(by: 61)
        #expect(try await cache.current().accessKeyID == "KEY1")
        #expect(provider.fetches.load(ordering: .relaxed) == 3)
        provider.failing.store(false, ordering: .relaxed)
        clock.advance(by: 61)
        #expect(try await cache.current().accessKeyID == "KEY4")
    }

    @Test func failedMandatoryRefreshIsAnError() async throws {
        let clock = ManualClock()
        let provider = CountingProvider(clock: clock)
        let cache = RefreshingCredentials(provider: provider, clock: clock)
        _ = try await cache.current()
        provider.failing.store(true, ordering: .relaxed)
        clock.advance(by: 3600 - 10 * 60 + 1)  // just inside the mandatory window
        let error = await #expect(throws: CredentialError.self) { try await cache.current() }
        #expect(error?.message == "endpoint down")
    }

    @Test func oneRefreshInFlightForManyCallers() async throws {
        let clock = ManualClock()
        let gate = Gate()
        let provider = CountingProvider(clock: clock, gate: gate)
        let cache = RefreshingCredentials(provider: provider, clock: clock)
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { try await cache.current().accessKeyID } }
            // Let every caller reach the cache: without coalescing each would start a fetch.
            for _ in 0..<100 where provider.fetches.load(ordering: .relaxed) == 0 {
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(provider.fetches.load(ordering: .relaxed) == 1)
            gate.open()
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(keys.count == 50)
        #expect(Set(keys) == ["KEY1"])
        #expect(provider.fetches.load(ordering: .relaxed) == 1)
    }

    @Test func forceRefreshFetchesEvenWhenFresh() async throws {
        let clock = ManualClock()
        let provider = CountingProvider(clock: clock)
        let cache = RefreshingCredentials(provider: provider, clock: clock)
        _ = try await cache.current()
        #expect(try await cache.forceRefresh().accessKeyID == "KEY2")
        #expect(try await cache.current().accessKeyID == "KEY2")
    }

    @Test func staticCredentialsAreNeverRefreshed() async throws {
        let clock = ManualClock()
        let provider = try #require(
            try EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S"]))
        let cache = RefreshingCredentials(provider: provider, clock: clock)
        _ = try await cache.current()
        clock.advance(by: 10 * 365 * 86_400)
        #expect(try await cache.current().accessKeyID == "A")
    }
}
