public import FoundationEssentials
import InjectorBase

/// CloudWatch metrics in the Embedded Metric Format: JSON lines on standard output,
/// which the `awslogs` log driver (or the CloudWatch agent) turns into metrics — no agent in the
/// task and no `PutMetricData` permission. Ordinary log lines go to standard error; an EMF line is
/// told apart by its `_aws` key.
///
/// Each line: `_aws.Timestamp` (ms since the epoch), one `CloudWatchMetrics` directive with the
/// namespace, the dimension set (`ServiceName`, and `SecretName` for `SecretAge`) and each
/// metric's name and unit; every dimension and metric value at the top level. A line names
/// secrets, never a value.
public final class EMFWriter: Sendable {
    public struct Metric: Sendable, Equatable {
        public var name: String
        public var unit: String
        public var value: Double

        public init(_ name: String, _ unit: String, _ value: Double) {
            self.name = name
            self.unit = unit
            self.value = value
        }
    }

    public let namespace: String
    public let serviceName: String
    let output: @Sendable (String) -> Void

    public init(namespace: String, serviceName: String, output: @escaping @Sendable (String) -> Void = EMFWriter.stdout)
    {
        self.namespace = namespace
        self.serviceName = serviceName
        self.output = output
    }

    /// The line for `metrics` with the dimensions `ServiceName` (and `SecretName`, when given).
    public func line(_ metrics: [Metric], secretName: String? = nil, at date: Date) -> String {
        var dimensionKeys: [JSONValue] = [.string("ServiceName")]
        var members: [JSONValue.Member] = []
        if secretName != nil { dimensionKeys.append(.string("SecretName")) }
        let directive = JSONValue.object([
            .init(key: "Namespace", value: .string(namespace)),
            .init(key: "Dimensions", value: .array([.array(dimensionKeys)])),
            .init(
                key: "Metrics",
                value: .array(
                    metrics.map {
                        .object([
                            .init(key: "Name", value: .string($0.name)), .init(key: "Unit", value: .string($0.unit)),
                        ])
                    })),
        ])
        members.append(
            .init(
                key: "_aws",
                value: .object([
                    .init(key: "Timestamp", value: .number("\(Int64((date.timeIntervalSince1970 * 1000).rounded()))")),
                    .init(key: "CloudWatchMetrics", value: .array([directive])),
                ])))
        members.append(.init(key: "ServiceName", value: .string(serviceName)))
        if let secretName { members.append(.init(key: "SecretName", value: .string(secretName))) }
        for metric in metrics { members.append(.init(key: metric.name, value: .number(Self.number(metric.value)))) }
        return JSONValue.object(members).serialized
    }

    public func emit(_ metrics: [Metric], secretName: String? = nil, at date: Date = Date()) {
        guard !metrics.isEmpty else { return }
        output(line(metrics, secretName: secretName, at: date))
    }

    /// An `init` or a refresh round: how many secrets were fetched or checked, how many failed,
    /// how long it took, and how many times it moved to a replica region.
    public func fetched(succeeded: Int, failed: Int, seconds: Double, failovers: Int = 0, at date: Date = Date()) {
        emit(
            [
                Metric("FetchSuccess", "Count", Double(succeeded)), Metric("FetchFailure", "Count", Double(failed)),
                Metric("RefreshLatency", "Milliseconds", (seconds * 1000 * 1000).rounded() / 1000),
                Metric("Failover", "Count", Double(failovers)),
            ], at: date)
    }

    /// Whole numbers without a fraction, others with at most three decimals.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return "\(Int64(value))" }
        return "\((value * 1000).rounded() / 1000)"
    }

    /// One line to standard output, whole.
    public static let stdout: @Sendable (String) -> Void = { line in StandardStream.output.write(line + "\n") }
}
