import Synchronization

/// How `auto` checks named secrets with one `ListSecrets` a round instead of one `DescribeSecret`
/// per secret: which name prefixes to list, and when not to.
///
/// The prefixes: the secrets are grouped by their first path segment (`pipeline-pulse/`), and each
/// group of two or more is listed by the longest prefix its names share (`pipeline-pulse/prod/`); a
/// `name` filter is a prefix match, so the answer may hold other secrets, which are ignored. A name
/// without a `/`, and a group of one, is described on its own: a prefix shorter than a first path
/// segment could list a whole account, and a listing of one secret saves no call. Up to ten prefixes
/// go in one call (one filter, its values OR'ed).
///
/// When not to: a listing whose pages are no fewer than the secrets it checks saves nothing (its
/// prefix holds a hundred times more secrets than the task reads): the source stops listing for
/// the life of the process. A throttled listing (ListSecrets has 100 a second for the whole
/// account) is not retried: that round describes each secret, and the next 1–2 rounds do too; each
/// further throttled listing doubles that. A listing that is answered halves it again, one step
/// at a time: a fleet that asked beyond the quota comes back to listing gradually, not all at once
/// into the next throttling. The third throttled listing in the life of the process ends listing
/// for good: a fleet whose rounds ask more listings than the quota sheds tasks to `DescribeSecret`
/// until its listings are no longer throttled, and leaves the rest of the quota to the account's
/// other callers (a new task tries listing again).
package struct ListingPlan: Equatable {
    /// The prefixes, and the names each group lists.
    package var prefixes: [String]
    package var listed: [String]
    /// Names described one by one.
    package var described: [String]

    /// At most ten values in one `name` filter.
    package static let prefixesPerCall = 10

    package init(names: [String]) {
        var groups: [String: [String]] = [:]
        var described: [String] = []
        for name in names {
            if let slash = name.firstIndex(of: "/") {
                groups[String(name[...slash]), default: []].append(name)
            } else {
                described.append(name)
            }
        }
        var prefixes: [String] = []
        var listed: [String] = []
        for (_, group) in groups.sorted(by: { $0.key < $1.key }) {
            guard group.count > 1 else {
                described += group
                continue
            }
            prefixes.append(Self.commonPrefix(group))
            listed += group
        }
        self.prefixes = prefixes
        self.listed = listed
        self.described = described
    }

    /// The calls a listing takes before paging: one per ten prefixes.
    package var calls: Int { (prefixes.count + Self.prefixesPerCall - 1) / Self.prefixesPerCall }

    static func commonPrefix(_ names: [String]) -> String {
        guard var prefix = names.first.map(Array.init) else { return "" }
        for name in names.dropFirst() {
            let characters = Array(name)
            var count = 0
            while count < min(prefix.count, characters.count), prefix[count] == characters[count] { count += 1 }
            prefix.removeLast(prefix.count - count)
        }
        return String(prefix)
    }
}

/// The listing's state for the life of the process: rounds still to describe after throttling, the
/// back-off's level, the throttled listings so far, and whether listing was given up (it saved
/// nothing, or was throttled too often).
final class ListingState: Sendable {
    private struct State {
        var skipRounds = 0
        var level = 0
        var throttled = 0
        var givenUp = false
        var plan: (names: Set<String>, plan: ListingPlan)?
    }
    /// Throttled listings after which the process describes for good.
    static let throttlingLimit = 3
    private let state = Mutex(State())

    /// The plan for these names: made once, and again only when the names change.
    func plan(for names: Set<String>) -> ListingPlan {
        state.withLock { state in
            if let cached = state.plan, cached.names == names { return cached.plan }
            let plan = ListingPlan(names: Array(names))
            state.plan = (names, plan)
            return plan
        }
    }

    /// Whether this round may list; a round that may not counts down the back-off.
    func mayList() -> Bool {
        state.withLock { state in
            if state.givenUp { return false }
            guard state.skipRounds == 0 else {
                state.skipRounds -= 1
                return false
            }
            return true
        }
    }

    /// After a throttled listing: one level up (at most 6), and `2^(level-1)` to `2^level` rounds
    /// (random within) to describe. True when this one ends listing (to warn once).
    func throttled(random: Double) -> Bool {
        state.withLock { state in
            state.throttled += 1
            state.level = min(state.level + 1, 6)
            state.skipRounds = Self.rounds(level: state.level, random: random)
            guard state.throttled >= Self.throttlingLimit, !state.givenUp else { return false }
            state.givenUp = true
            return true
        }
    }

    /// After an answered listing: one level down, and the shorter wait of that level.
    func succeeded(random: Double) {
        state.withLock { state in
            guard state.level > 0 else { return }
            state.level -= 1
            state.skipRounds = Self.rounds(level: state.level, random: random)
        }
    }

    private static func rounds(level: Int, random: Double) -> Int {
        guard level > 0 else { return 0 }
        let base = 1 << (level - 1)
        return base + Int(random * Double(base + 1)).clamped(0, base)
    }

    /// True the first time (to warn once).
    func giveUp() -> Bool {
        state.withLock { state in
            defer { state.givenUp = true }
            return !state.givenUp
        }
    }
}

extension Int {
    fileprivate func clamped(_ low: Int, _ high: Int) -> Int { Swift.min(high, Swift.max(low, self)) }
}
