import InjectorBase
import TestSupport
import Testing

@testable import InjectorConfig

/// `check` says which calls a refresh round makes with the configured strategy, and what it falls
/// back to: no call is made to find out.
@Suite struct PlanRoundCallsTests {
    static let four = pipelinePulseFour.keys.sorted().map { #"{"id": "\#($0)"}"# }.joined(separator: ",")

    @Test(arguments: [
        (
            "auto",
            "strategy auto (each round: ListSecrets under pipeline-pulse/prod/ for 4 secrets; DescribeSecret per secret when ListSecrets is denied or throttled, GetSecretValue where DescribeSecret is denied)"
        ),
        ("describe", "strategy describe (each round: DescribeSecret per secret; GetSecretValue where it is denied)"),
        (
            "list",
            "strategy list (each round: ListSecrets, one per 100 secrets; DescribeSecret per secret when it is denied)"
        ),
        (
            "get",
            "strategy get (each round: BatchGetSecretValue, one per 20 secrets; GetSecretValue per secret when it is denied)"
        ),
    ])
    func thePlanNamesTheCallsOfARound(strategy: String, expected: String) throws {
        let config = try makeConfig(
            #"{"outputDir": "/tmp/x", "secrets": [\#(Self.four)], "refresh": {"strategy": "\#(strategy)"}}"#)
        #expect(config.plan.contains(expected), "\(config.plan)")
    }

    /// Names that share no first path segment are described: nothing worth listing.
    @Test func namesWithoutACommonSegmentAreDescribed() throws {
        let config = try makeConfig(#"{"outputDir": "/tmp/x", "secrets": [{"id": "db"}, {"id": "app/jwt"}]}"#)
        #expect(
            config.plan.contains(
                "strategy auto (each round: DescribeSecret per secret; GetSecretValue where it is denied)"),
            "\(config.plan)")
    }
}
