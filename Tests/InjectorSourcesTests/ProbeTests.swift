import Foundation
import InjectorBase
import SecretsManager
import Testing

@testable import InjectorSources

@Suite struct ProbeTests {
    /// Two versions carrying AWSCURRENT (moto can do it): always the same one, round after round.
    @Test func aStageOnSeveralVersionsIsResolvedTheSameWayEveryTime() {
        var seen: Set<String> = []
        for _ in 0..<50 {
            var versions: [String: [String]] = [:]
            for id in ["b60f", "99da", "0a1b", "ffff"].shuffled() {
                versions[id] = id == "99da" || id == "b60f" ? ["AWSCURRENT"] : ["AWSPREVIOUS"]
            }
            if case .version(let version, _, _) = SecretsManagerSource.probe(
                SecretRequest(id: "a"), versions: versions, nextRotation: nil)
            {
                seen.insert(version)
            }
        }
        #expect(seen == ["99da"])
    }
}
