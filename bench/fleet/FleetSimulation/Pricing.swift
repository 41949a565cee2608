/// What the calls cost: the only place prices are written down. Read from AWS's pricing pages on
/// 2026-12-06: https://aws.amazon.com/secrets-manager/pricing/ (API calls) and
/// https://aws.amazon.com/systems-manager/pricing/ (Parameter Store API interactions).
public enum Pricing {
    public static let source =
        "https://aws.amazon.com/secrets-manager/pricing/ and https://aws.amazon.com/systems-manager/pricing/, read 2026-12-06"
    /// Secrets Manager: $0.05 per 10,000 API calls, whatever the operation.
    public static let secretsManagerPer10000Calls = 0.05
    /// Parameter Store: standard throughput is free; higher throughput $0.05 per 10,000 interactions.
    public static func parameterStorePer10000Calls(_ throughput: ParameterThroughput) -> Double {
        throughput == .standard ? 0 : 0.05
    }
    /// A month, for the bill: 30 days.
    public static let monthSeconds = 30.0 * 86_400

    /// Dollars per 10,000 calls of `operation`.
    public static func per10000Calls(_ operation: Operation, parameterThroughput: ParameterThroughput) -> Double {
        operation == .getParameters ? parameterStorePer10000Calls(parameterThroughput) : secretsManagerPer10000Calls
    }
}
