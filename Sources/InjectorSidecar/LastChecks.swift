import FoundationEssentials
import InjectorAgent
import InjectorBase
import SecretsManager
import Synchronization

/// Each configured secret's last check, by a round, `refreshNow` or `POST /refresh`: when it began,
/// until when `POST /refresh` answers with its result instead of checking again, and what it found.
/// A check opens a window of `refresh.minRefreshSeconds` plus a random 0–50 % of it: a thousand app
/// processes that fail to log in at once make one call, not a thousand; and a fleet whose apps all
/// failed within the same second (a single-user rotation's `setSecret`) spreads its next checks, and
/// the new version's `GetSecretValue`, over seconds instead of one (`scripts/bench fleet --rotate`).
///
/// The ``Refresher`` records its rounds here and ``OnDemandChecks`` its checks; both read and write
/// it without waiting for each other.
final class LastChecks: Sendable {
    let minRefresh: TimeInterval
    /// Numbers in 0..<1 for the window's spread; tests pass fixed ones.
    private let random: @Sendable () -> Double
    private let state = Mutex(State())

    private struct State {
        var windows: [SecretRequest: (opened: Date, next: Date)] = [:]
        var results: [SecretRequest: CheckResult] = [:]
    }

    init(minRefresh: TimeInterval, random: @escaping @Sendable () -> Double) {
        self.minRefresh = minRefresh
        self.random = random
    }

    /// The requests among `requests` whose window is closed at `now`, in order.
    func due(_ requests: [SecretRequest], at now: Date) -> [SecretRequest] {
        state.withLock { state in requests.filter { state.windows[$0].map { now >= $0.next } ?? true } }
    }

    /// Opens the windows of checks that began at `now`, unless those checks or later ones opened
    /// them already.
    func began(_ requests: [SecretRequest], at now: Date) {
        state.withLock { state in
            for request in requests { open(request, at: now, in: &state) }
        }
    }

    /// What a check of `requests` that began at `now` found (`changed` nil: the new generation could
    /// not be written); their windows open.
    func record(
        _ requests: [SecretRequest], outcomes: [SecretRequest: Result<SecretValue, AWSCallError>],
        changed: Set<SecretRequest>?, at now: Date
    ) {
        state.withLock { state in
            for request in requests {
                open(request, at: now, in: &state)
                if case .failure(let error)? = outcomes[request] {
                    state.results[request] = .failed(error)
                } else if let changed {
                    state.results[request] = changed.contains(request) ? .changed : .unchanged
                } else {
                    state.results[request] = .notWritten
                }
            }
        }
    }

    /// A check of `requests` that could not ask Secrets Manager at all.
    func record(failure error: any Error, for requests: [SecretRequest]) {
        state.withLock { state in
            for request in requests { state.results[request] = .failed(error) }
        }
    }

    /// Each request's last result (`unchanged` before its first check).
    func results(for requests: [SecretRequest]) -> [(SecretRequest, CheckResult)] {
        state.withLock { state in requests.map { ($0, state.results[$0] ?? .unchanged) } }
    }

    private func open(_ request: SecretRequest, at now: Date, in state: inout State) {
        if let window = state.windows[request], window.opened >= now { return }
        state.windows[request] = (now, now.addingTimeInterval(minRefresh * (1 + 0.5 * random())))
    }
}
