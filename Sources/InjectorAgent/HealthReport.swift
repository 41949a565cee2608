public import FoundationEssentials
public import InjectorBase

/// What `/health` says: one of three states with the reason, each secret's version, last
/// successful check and last error — never a value.
///
/// - `healthy`: every secret's last check succeeded.
/// - `degraded`: a check failed (a secret's last one, or whole rounds), and no required secret has
///   gone unchecked past `maxStaleSeconds`. The files and answers keep their last values.
/// - `unhealthy` (HTTP 503, `secrets-injector health` exits 1): nothing committed yet, or a
///   required secret has not been checked successfully for longer than `maxStaleSeconds`.
public struct HealthReport: Sendable {
    public enum Status: String, Sendable {
        case healthy, degraded, unhealthy
    }

    public var ready: Bool
    public var consecutiveFailures: Int
    /// Seconds since the last round that checked every required secret.
    public var secondsSinceLastRefresh: Double?
    public var generation: String?
    public var strategy: RefreshStrategy?
    public var deniedOperations: [String]
    /// Why the last generation could not be written, if it could not.
    public var writeFailure: String?
    /// The replica region the sidecar reads from while the primary cannot answer.
    public var servingRegion: String?
    /// Why the last `onChange` notification could not finish, if it could not.
    public var notifierProblem: String?
    public var secrets: [SecretStatus]
    public let status: Status
    /// Why the status is not `healthy`, in one line.
    public let reason: String?
    let now: Date

    public init(
        ready: Bool, consecutiveFailures: Int = 0, secondsSinceLastRefresh: Double? = nil, generation: String? = nil,
        strategy: RefreshStrategy? = nil, deniedOperations: [String] = [], writeFailure: String? = nil,
        servingRegion: String? = nil, notifierProblem: String? = nil, secrets: [SecretStatus],
        maxStaleSeconds: Int? = nil, now: Date
    ) {
        self.servingRegion = servingRegion
        self.notifierProblem = notifierProblem
        self.ready = ready
        self.consecutiveFailures = consecutiveFailures
        self.secondsSinceLastRefresh = secondsSinceLastRefresh
        self.generation = generation
        self.strategy = strategy
        self.deniedOperations = deniedOperations
        self.writeFailure = writeFailure
        self.secrets = secrets
        self.now = now
        (status, reason) = Self.evaluate(
            ready: ready, consecutiveFailures: consecutiveFailures, writeFailure: writeFailure,
            servingRegion: servingRegion, notifierProblem: notifierProblem, secrets: secrets,
            maxStaleSeconds: maxStaleSeconds, now: now)
    }

    private static func evaluate(
        ready: Bool, consecutiveFailures: Int, writeFailure: String?, servingRegion: String?, notifierProblem: String?,
        secrets: [SecretStatus], maxStaleSeconds: Int?, now: Date
    ) -> (Status, String?) {
        guard ready else { return (.unhealthy, "no generation committed yet") }
        if let maxStaleSeconds {
            for secret in secrets where secret.required {
                let age = secret.lastSuccess.map { now.timeIntervalSince($0) } ?? .infinity
                guard age > Double(maxStaleSeconds) else { continue }
                let since =
                    secret.lastSuccess == nil
                    ? "never checked successfully" : "not checked successfully for \(Int(age)) s"
                return (
                    .unhealthy,
                    "\(secret.id): \(since) (maxStaleSeconds \(maxStaleSeconds))"
                        + (secret.lastError.map { "; last error: \($0)" } ?? "")
                )
            }
        }
        if let writeFailure { return (.degraded, "the new generation cannot be written: \(writeFailure)") }
        if let servingRegion {
            return (.degraded, "serving from the replica region \(servingRegion): the primary region cannot answer")
        }
        if let notifierProblem { return (.degraded, notifierProblem) }
        if let failing = secrets.first(where: { $0.lastError != nil }), let error = failing.lastError {
            return (.degraded, "\(failing.id): \(error)")
        }
        if consecutiveFailures > 0 {
            return (
                .degraded, "\(consecutiveFailures) refresh round\(consecutiveFailures == 1 ? "" : "s") failed in a row"
            )
        }
        return (.healthy, nil)
    }

    public var json: [UInt8] {
        var members: [JSONValue.Member] = [.init(key: "status", value: .string(status.rawValue))]
        if let reason { members.append(.init(key: "reason", value: .string(reason))) }
        members += [
            .init(key: "ready", value: .bool(ready)),
            .init(key: "consecutiveFailures", value: .number(String(consecutiveFailures))),
        ]
        if let secondsSinceLastRefresh {
            members.append(.init(key: "secondsSinceLastRefresh", value: .number(String(Int(secondsSinceLastRefresh)))))
        }
        if let generation { members.append(.init(key: "generation", value: .string(generation))) }
        if let strategy { members.append(.init(key: "strategy", value: .string(strategy.rawValue))) }
        members.append(.init(key: "deniedOperations", value: .array(deniedOperations.map { .string($0) })))
        members.append(.init(key: "writeFailure", value: writeFailure.map { .string($0) } ?? .null))
        if let servingRegion { members.append(.init(key: "servingRegion", value: .string(servingRegion))) }
        members.append(.init(key: "onChange", value: notifierProblem.map { .string($0) } ?? .null))
        members.append(
            .init(
                key: "secrets",
                value: .array(
                    secrets.map { status in
                        var fields: [JSONValue.Member] = [.init(key: "secret", value: .string(status.id))]
                        if let alias = status.alias { fields.append(.init(key: "alias", value: .string(alias))) }
                        fields.append(.init(key: "required", value: .bool(status.required)))
                        fields.append(.init(key: "versionId", value: status.versionID.map { .string($0) } ?? .null))
                        fields.append(
                            .init(
                                key: "lastSuccess",
                                value: status.lastSuccess.map { .number(String(Int($0.timeIntervalSince1970))) }
                                    ?? .null))
                        fields.append(
                            .init(
                                key: "secondsSinceLastSuccess",
                                value: status.lastSuccess.map { .number(String(Int(now.timeIntervalSince($0)))) }
                                    ?? .null))
                        fields.append(.init(key: "lastError", value: status.lastError.map { .string($0) } ?? .null))
                        return .object(fields)
                    })))
        return Array(JSONValue.object(members).serialized.utf8)
    }
}

/// One secret's status for `/health` and `/metrics` (never its value).
public struct SecretStatus: Sendable {
    public var id: String
    public var alias: String?
    /// A required secret that goes unchecked past `maxStaleSeconds` makes the sidecar unhealthy.
    public var required: Bool
    public var versionID: String?
    public var lastSuccess: Date?
    public var lastError: String?
    public var lastErrorCode: String?

    public init(
        id: String, alias: String? = nil, required: Bool, versionID: String? = nil, lastSuccess: Date? = nil,
        lastError: String? = nil, lastErrorCode: String? = nil
    ) {
        self.id = id
        self.alias = alias
        self.required = required
        self.versionID = versionID
        self.lastSuccess = lastSuccess
        self.lastError = lastError
        self.lastErrorCode = lastErrorCode
    }
}
