import FoundationEssentials
import HTTPTransport
import InjectorBase
import InjectorRefresh
import InjectorSources

/// The Secrets Manager operations the injector calls, with the account's request quotas per region
/// (AWS's "Secrets Manager quotas" page), shared by every task and every other client.
public enum Operation: String, CaseIterable, Sendable, Codable {
    case getSecretValue = "GetSecretValue"
    case batchGetSecretValue = "BatchGetSecretValue"
    case describeSecret = "DescribeSecret"
    case listSecrets = "ListSecrets"
    /// Parameter Store's: its quota is the account's throughput setting.
    case getParameters = "GetParameters"

    /// Secrets Manager's quotas; Parameter Store's standard throughput (``ParameterThroughput``).
    public var quotaPerSecond: Double {
        switch self {
        case .getSecretValue: 10_000
        case .batchGetSecretValue: 100
        case .describeSecret: 40_000
        case .listSecrets: 100
        case .getParameters: ParameterThroughput.standard.quotaPerSecond
        }
    }
}

/// Parameter Store's throughput setting per account and region, for GetParameter, GetParameters and
/// PutParameter: `standard` (40 a second) or `higher` (paid per call; up to 3,000). docs/outputs.md,
/// "Parameter Store".
public enum ParameterThroughput: String, CaseIterable, Sendable {
    case standard, higher

    public var quotaPerSecond: Double { self == .standard ? 40 : 3_000 }
}

/// What a task role may call (docs/deploying.md's permissions table).
public enum Policy: String, CaseIterable, Sendable {
    /// `task-role-policy-minimal.json`: GetSecretValue on the secrets' ARNs only.
    case minimal
    /// GetSecretValue and DescribeSecret on the secrets' ARNs.
    case describe
    /// GetSecretValue on the ARNs and BatchGetSecretValue on `*`.
    case batch
    /// `task-role-policy.json`: all four (ListSecrets and BatchGetSecretValue on `*`).
    case recommended

    /// Each with `ssm:GetParameters` on the parameters (docs/outputs.md, "Parameter Store").
    var allowed: Set<Operation> {
        switch self {
        case .minimal: [.getSecretValue, .getParameters]
        case .describe: [.getSecretValue, .describeSecret, .getParameters]
        case .batch: [.getSecretValue, .batchGetSecretValue, .getParameters]
        case .recommended: Set(Operation.allCases)
        }
    }
}

/// One region's Secrets Manager as a fleet meets it: a token bucket per operation (refilled at the
/// quota, holding one second of it), `ThrottlingException` when a bucket is empty, as AWS answers,
/// `AccessDeniedException` for an operation the policy does not allow, and a fixed round trip.
/// Counts every request per operation and per second of simulated time.
public final class SimulatedSecretsManager: HTTPTransport, @unchecked Sendable {
    let simulation: Simulation
    let policy: Policy
    /// Seconds from sending a request to its answer.
    let roundTrip: Double
    /// Secret names, each with one version, but for the rotated one.
    let secrets: [String]
    /// The secret rotated (`scripts/bench fleet --rotate`): its second version exists from
    /// `createdAt` (`AWSPENDING`) and is `AWSCURRENT` from `finishedAt` (the old one `AWSPREVIOUS`).
    let rotation: (secret: String, createdAt: Double, finishedAt: Double)?
    private var buckets: [Operation: (tokens: Double, at: Double)] = [:]
    private(set) var requests: [Operation: [Int: Int]] = [:]
    private(set) var throttled: [Operation: Int] = [:]
    /// The second of each operation's last throttled request.
    private(set) var lastThrottled: [Operation: Int] = [:]

    /// Parameter names (`/fleet/app/p0` …), each with one version.
    let parameters: Set<String>
    let parameterThroughput: ParameterThroughput

    init(
        simulation: Simulation, policy: Policy, secrets: [String], parameters: [String] = [],
        parameterThroughput: ParameterThroughput = .standard,
        rotation: (secret: String, createdAt: Double, finishedAt: Double)? = nil, roundTrip: Double = 0.02
    ) {
        self.simulation = simulation
        self.policy = policy
        self.secrets = secrets
        self.parameters = Set(parameters)
        self.parameterThroughput = parameterThroughput
        self.rotation = rotation
        self.roundTrip = roundTrip
        for operation in Operation.allCases { buckets[operation] = (quota(of: operation), 0) }
    }

    /// The account's quota for `operation` in this simulation.
    func quota(of operation: Operation) -> Double {
        operation == .getParameters ? parameterThroughput.quotaPerSecond : operation.quotaPerSecond
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let target = request.headers.first { $0.name.lowercased() == "x-amz-target" }?.value ?? ""
        let name = target.split(separator: ".", maxSplits: 1).last.map(String.init) ?? ""
        guard let operation = Operation(rawValue: name), (operation == .getParameters) == target.hasPrefix("AmazonSSM.")
        else {
            return Self.error(400, "UnknownOperationException", "unknown operation \(target)")
        }
        await simulation.sleep(roundTrip / 2)
        requests[operation, default: [:]][Int(simulation.now), default: 0] += 1
        let answer: HTTPResponse
        if !policy.allowed.contains(operation) {
            answer = Self.error(
                400, "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/task/x is not authorized to perform: secretsmanager:\(operation.rawValue)"
            )
        } else if !take(operation) {
            throttled[operation, default: 0] += 1
            lastThrottled[operation] = Int(simulation.now)
            answer = Self.error(400, "ThrottlingException", "Rate exceeded")
        } else {
            answer = respond(operation, to: (try? JSONValue.parse(request.body)) ?? .object([]))
        }
        await simulation.sleep(roundTrip / 2)
        return answer
    }

    /// One token from the operation's bucket, if it has one now.
    private func take(_ operation: Operation) -> Bool {
        let quota = quota(of: operation)
        var bucket = buckets[operation]!
        bucket.tokens = min(quota, bucket.tokens + (simulation.now - bucket.at) * quota)
        bucket.at = simulation.now
        defer { buckets[operation] = bucket }
        guard bucket.tokens >= 1 else { return false }
        bucket.tokens -= 1
        return true
    }

    private func respond(_ operation: Operation, to body: JSONValue) -> HTTPResponse {
        switch operation {
        case .getSecretValue:
            let id = body["SecretId"]?.text ?? ""
            guard secrets.contains(id) else { return Self.notFound }
            if let asked = body["VersionId"]?.text {
                guard versions(id)[asked] != nil else { return Self.notFound }
                return Self.json(.object(value(id, version: asked)))
            }
            return Self.json(.object(value(id)))
        case .batchGetSecretValue:
            var ids: [String] = []
            if case .array(let list)? = body["SecretIdList"] { ids = list.map(\.text) }
            let found = ids.filter(secrets.contains)
            let errors = ids.filter { !secrets.contains($0) }.map { id in
                JSONValue.object([
                    .init(key: "SecretId", value: .string(id)),
                    .init(key: "ErrorCode", value: .string("ResourceNotFoundException")),
                    .init(key: "Message", value: .string("Secrets Manager can't find the specified secret.")),
                ])
            }
            return Self.json(
                .object([
                    .init(key: "SecretValues", value: .array(found.map { .object(value($0)) })),
                    .init(key: "Errors", value: .array(errors)),
                ]))
        case .describeSecret:
            let id = body["SecretId"]?.text ?? ""
            guard secrets.contains(id) else { return Self.notFound }
            return Self.json(.object(identity(id) + [.init(key: "VersionIdsToStages", value: stages(id))]))
        case .getParameters:
            var names: [String] = []
            if case .array(let list)? = body["Names"] { names = list.map(\.text) }
            let found = names.filter(parameters.contains)
            return Self.json(
                .object([
                    .init(
                        key: "Parameters",
                        value: .array(
                            found.map {
                                .object([
                                    .init(key: "Name", value: .string($0)),
                                    .init(key: "Type", value: .string("SecureString")),
                                    .init(key: "Value", value: .string("simulated")),
                                    .init(key: "Version", value: .number("1")),
                                    .init(
                                        key: "ARN",
                                        value: .string("arn:aws:ssm:ap-southeast-1:123456789012:parameter\($0)")),
                                ])
                            })),
                    .init(
                        key: "InvalidParameters",
                        value: .array(names.filter { !parameters.contains($0) }.map { .string($0) })),
                ]))
        case .listSecrets:
            var prefixes: [String] = []
            if case .array(let filters)? = body["Filters"] {
                for filter in filters {
                    if case .array(let values)? = filter["Values"] { prefixes += values.map(\.text) }
                }
            }
            let listed = secrets.filter { name in prefixes.isEmpty || prefixes.contains { name.hasPrefix($0) } }
            return Self.json(
                .object([
                    .init(
                        key: "SecretList",
                        value: .array(
                            listed.map {
                                .object(identity($0) + [.init(key: "SecretVersionsToStages", value: stages($0))])
                            }))
                ]))
        }
    }

    private func identity(_ name: String) -> [JSONValue.Member] {
        [
            .init(
                key: "ARN", value: .string("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:\(name)-AbCdEf")),
            .init(key: "Name", value: .string(name)),
        ]
    }

    /// The secret's versions and their stages now.
    func versions(_ name: String) -> [String: [String]] {
        guard let rotation, rotation.secret == name, simulation.now >= rotation.createdAt else {
            return [Self.version: ["AWSCURRENT"]]
        }
        if simulation.now < rotation.finishedAt {
            return [Self.version: ["AWSCURRENT"], Self.rotatedVersion: ["AWSPENDING"]]
        }
        return [Self.version: ["AWSPREVIOUS"], Self.rotatedVersion: ["AWSCURRENT"]]
    }

    private func stages(_ name: String) -> JSONValue {
        .object(
            versions(name).sorted { $0.key < $1.key }.map {
                .init(key: $0.key, value: .array($0.value.map { .string($0) }))
            })
    }

    private func value(_ name: String, version: String? = nil) -> [JSONValue.Member] {
        let all = versions(name)
        let version = version ?? all.first { $0.value.contains("AWSCURRENT") }!.key
        return identity(name) + [
            .init(key: "VersionId", value: .string(version)),
            .init(key: "SecretString", value: .string("{\"key\":\"simulated \(version)\"}")),
            .init(key: "VersionStages", value: .array((all[version] ?? []).map { .string($0) })),
        ]
    }

    static let version = "00000000-0000-4000-8000-000000000001"
    /// The rotated secret's new version.
    public static let rotatedVersion = "00000000-0000-4000-8000-000000000002"
    static let notFound = error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")

    static func json(_ body: JSONValue) -> HTTPResponse {
        HTTPResponse(
            status: 200, headers: [HTTPHeader("Content-Type", "application/x-amz-json-1.1")],
            body: Array(body.serialized.utf8))
    }

    static func error(_ status: Int, _ type: String, _ message: String) -> HTTPResponse {
        json(.object([.init(key: "__type", value: .string(type)), .init(key: "message", value: .string(message))]))
            .with(status: status)
    }
}

extension HTTPResponse {
    func with(status: Int) -> HTTPResponse {
        var response = self
        response.status = status
        return response
    }
}
