import Foundation
import InjectorAgent
import InjectorBase
import SecretsManager
import Synchronization

/// The Agent's own test fixtures (its stub client in `cache_manager.rs`): secrets `MyTest` and
/// `My/Test`, version `5767290c-…`, value `hunter2`, `CreatedDate` 1569534789.046, token `xyzzy`;
/// a store holding them and a responder over it, without a socket.
public enum AgentFixtures {
    public static let version = "5767290c-d089-49ed-b97c-17086f8c9d79"
    public static let created = Date(timeIntervalSince1970: 1_569_534_789.046)
    public static func arn(_ name: String) -> String {
        "arn:aws:secretsmanager:us-west-2:123456789012:secret:\(name)-NhBWsc"
    }
    public static func value(
        _ name: String, version: String = version, stages: [String] = ["AWSCURRENT"], secret: String = "hunter2"
    ) -> SecretValue {
        SecretValue(
            arn: arn(name), name: name, versionID: version, secretString: secret, versionStages: stages,
            createdDate: created)
    }

    /// The configured entries: each secret current, `MyTest` also pinned to `AWSPENDING` and to two
    /// versions (the Agent's `version_success` and `all_args_success` cases).
    public static func store() async -> SecretStore {
        let store = SecretStore()
        await store.record(
            [
                SecretRequest(id: "MyTest"): .success(value("MyTest")),
                SecretRequest(id: "My/Test"): .success(value("My/Test")),
                SecretRequest(id: "MyTest", versionStage: "AWSPENDING"): .success(
                    value("MyTest", version: "pending-version", stages: ["AWSPENDING"])),
                SecretRequest(id: "My/Test", versionStage: "AWSPENDING"): .success(
                    value("My/Test", version: "pending-version", stages: ["AWSPENDING"])),
                SecretRequest(id: "MyTest", versionID: "11111"): .success(value("MyTest", version: "11111")),
                SecretRequest(id: "My/Test", versionID: "11111"): .success(value("My/Test", version: "11111")),
                SecretRequest(id: "MyTest", versionID: "000000000000"): .success(
                    value("MyTest", version: "000000000000", stages: ["AWSPENDING"])),
                SecretRequest(id: "My/Test", versionID: "000000000000"): .success(
                    value("My/Test", version: "000000000000", stages: ["AWSPENDING"])),
            ], at: Date())
        return store
    }

    public final class Refreshes: Sendable {
        public let count = Atomic<Int>(0)
        public init() {}
    }

    public static func responder(
        store: SecretStore? = nil, settings: AgentAPI.Settings = .init(), refreshes: Refreshes = Refreshes(),
        onRefresh: @escaping @Sendable (SecretStore) async -> Void = { _ in }
    ) async -> AgentResponder {
        let store = if let store { store } else { await Self.store() }
        return AgentResponder(
            api: AgentAPI(settings: settings), store: store,
            health: { HealthReport(ready: true, secrets: [], now: Date()) }, metricsText: { "m 1\n" },
            refreshNow: { _ in
                refreshes.count.add(1, ordering: .relaxed)
                await onRefresh(store)
                return nil
            }, token: { "xyzzy" })
    }
}
