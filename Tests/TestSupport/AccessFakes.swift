import AWSCredentials
import Foundation
import HTTPTransport
import SecretsManager
import Synchronization

/// Every pause a client took, in order: its injectable sleep, which returns at once.
public final class Pauses: Sendable {
    private let taken = Mutex<[Duration]>([])
    public init() {}
    public var durations: [Duration] { taken.withLock { $0 } }
    public var sleep: @Sendable (Duration) async throws -> Void {
        { duration in self.taken.withLock { $0.append(duration) } }
    }
}

/// A JSON 1.1 client for `service` with static keys over `transport`, pausing with `pauses`
/// (never really sleeping) and with jitter `random`.
public func testJSONClient(
    _ service: AWSService, _ transport: FakeTransport, pauses: Pauses = Pauses(), random: Double = 0
) throws -> AWSJSONClient {
    let provider = try EnvironmentCredentialProvider(environment: [
        "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
    ])!
    return AWSJSONClient(
        configuration: .init(
            service: service, endpoint: try Endpoint(url: "http://127.0.0.1:1", origin: "test"),
            region: "ap-southeast-1"),
        credentials: RefreshingCredentials(provider: provider), transport: transport, sleep: pauses.sleep,
        random: { random })
}
