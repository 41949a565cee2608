import Synchronization

/// What the role was refused, remembered for the life of the process: whole operations
/// (`BatchGetSecretValue` and `ListSecrets` have no resource-level permissions), and `DescribeSecret`
/// per secret (it has). Each `insert` says whether this is the first denial of its kind, to warn once.
final class Denials: Sendable {
    enum Operation: String, Sendable, CaseIterable {
        case batchGetSecretValue = "BatchGetSecretValue"
        case listSecrets = "ListSecrets"
    }

    private struct State {
        var operations: Set<Operation> = []
        var describe: Set<String> = []
    }
    private let state = Mutex(State())

    func contains(_ operation: Operation) -> Bool { state.withLock { $0.operations.contains(operation) } }
    func containsDescribe(of id: String) -> Bool { state.withLock { $0.describe.contains(id) } }

    func insert(_ operation: Operation) -> Bool { state.withLock { $0.operations.insert(operation).inserted } }

    /// True when these are the first secrets whose DescribeSecret was denied.
    func insertDescribe(of ids: [String]) -> Bool {
        state.withLock { state in
            let first = state.describe.isEmpty
            state.describe.formUnion(ids)
            return first
        }
    }

    var operations: [String] {
        state.withLock { state in
            Operation.allCases.filter(state.operations.contains).map(\.rawValue)
                + (state.describe.isEmpty ? [] : ["DescribeSecret"])
        }.sorted()
    }
}
