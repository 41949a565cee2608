import FoundationEssentials
import InjectorBase
import SecretsManager

/// One configured secret's cached answer: the request it was configured as, its value and the
/// response body, encoded once per version.
package struct AgentEntry: Sendable {
    package let request: SecretRequest
    package let value: SecretValue
    /// The whole answer, built once per version and stages.
    package let response: AgentResponse
    package var body: [UInt8] { response.body }
    /// The versions this request was answered with before (the last 16): a query for one of them
    /// with a stage another entry now carries is Secrets Manager's 400, not a 404.
    package let former: [String]

    /// `replacing`: the entry this one follows, whose version (and former ones) become former.
    package init(request: SecretRequest, value: SecretValue, replacing previous: AgentEntry? = nil) {
        self.request = request
        self.value = value
        if let previous, previous.value.versionID != value.versionID {
            former = Array((previous.former.filter { $0 != value.versionID } + [previous.value.versionID]).suffix(16))
        } else {
            former = previous?.former ?? []
        }
        var response = AgentResponse.json(200, Self.encode(value))
        response.secretName = value.name
        response.versionID = value.versionID
        self.response = response.encodedOnce()
    }

    /// `GetSecretValue`'s shape as the Agent writes it (`output.rs`): `ARN`, `Name`, `VersionId`,
    /// `SecretString` or `SecretBinary` (base64), `VersionStages`, and `CreatedDate` as a string of
    /// seconds (or null).
    static func encode(_ value: SecretValue) -> [UInt8] {
        var members: [JSONValue.Member] = [
            .init(key: "ARN", value: .string(value.arn)), .init(key: "Name", value: .string(value.name)),
            .init(key: "VersionId", value: .string(value.versionID)),
        ]
        if let string = value.secretString {
            members.append(.init(key: "SecretString", value: .string(string)))
        } else if let binary = value.secretBinary {
            members.append(.init(key: "SecretBinary", value: .string(Data(binary).base64EncodedString())))
        }
        members.append(.init(key: "VersionStages", value: .array(value.versionStages.map { .string($0) })))
        members.append(.init(key: "CreatedDate", value: value.createdDate.map { .string(createdDate($0)) } ?? .null))
        return Array(JSONValue.object(members).serialized.utf8)
    }

    /// Seconds since the epoch as Rust prints an `f64` (`serde_with`'s `TimestampSecondsWithFrac<String>`):
    /// the shortest text that reads back the same number, without a trailing `.0`.
    static func createdDate(_ date: Date) -> String {
        let text = "\(date.timeIntervalSince1970)"
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// Every id form that names this entry's secret: the configured id, the name, the full ARN,
    /// and the ARN without its random suffix.
    var idForms: Set<String> {
        var forms: Set<String> = [request.id, value.name, value.arn]
        if value.arn.hasPrefix("arn:"), let short = SecretName.withoutRandomSuffix(Substring(value.arn)) {
            forms.insert(String(short))
        }
        return forms
    }

    /// Among the entries an id names (``AgentSnapshot``), the one that answers `query`, or the answer
    /// that refuses it. An id matches an entry by exactly what it names: a name matches the
    /// secret's name (or the configured id); a full ARN matches only that ARN, and an ARN without
    /// its random suffix only the secret it names. Among several entries of one secret, the one
    /// configured for the requested stage (current, unless a stage is asked for) comes first, then
    /// the others in a fixed order.
    package static func select(_ query: SecretQuery, among candidates: [AgentEntry]) -> Selection {
        let stage = query.versionStage ?? "AWSCURRENT"
        // The first in that order that `matches`, found in one pass: this runs on every request,
        // and sorting a copy of the candidates cost a retain of each entry's fields per request.
        func first(where matches: (AgentEntry) -> Bool) -> AgentEntry? {
            func configuredFirst(_ entry: AgentEntry) -> Bool {
                (entry.request.versionStage ?? "AWSCURRENT") == stage && entry.request.versionID == nil
            }
            var best: AgentEntry?
            for candidate in candidates where matches(candidate) {
                guard let current = best else {
                    best = candidate
                    continue
                }
                let (candidateFirst, currentFirst) = (configuredFirst(candidate), configuredFirst(current))
                let precedes =
                    candidateFirst != currentFirst
                    ? candidateFirst : candidate.request.description < current.request.description
                if precedes { best = candidate }
            }
            return best
        }
        if let versionID = query.versionID {
            guard let entry = first(where: { $0.value.versionID == versionID }) else {
                // A version served before, asked with a stage that another version carries now: a
                // stage is on one version at a time, so Secrets Manager refuses the pair (400).
                if let wanted = query.versionStage, candidates.contains(where: { $0.former.contains(versionID) }),
                    candidates.contains(where: { $0.value.versionStages.contains(wanted) })
                {
                    return .refused(.stageNotOnVersion)
                }
                return .refused(.notFound)
            }
            if let wanted = query.versionStage, !entry.value.versionStages.contains(wanted) {
                return .refused(.stageNotOnVersion)
            }
            return .entry(entry)
        }
        guard let entry = first(where: { $0.value.versionStages.contains(stage) }) else {
            return .refused(.notFound)
        }
        return .entry(entry)
    }

    package enum Selection {
        case entry(AgentEntry)
        case refused(AgentResponse)

        var entry: AgentEntry? { if case .entry(let entry) = self { entry } else { nil } }
    }
}

/// What the server answers from, immutable: the entries by every id form that names them, and each
/// request's last error (for `refreshNow`). ``SecretStore`` publishes a new one whenever an answer
/// changes; the event loop reads it without waiting, so that serving keeps up with nginx.
package struct AgentSnapshot: Sendable {
    package let byID: [String: [AgentEntry]]
    package let lastErrors: [SecretRequest: AWSCallError]

    package init(entries: some Sequence<AgentEntry> = [], lastErrors: [SecretRequest: AWSCallError] = [:]) {
        var byID: [String: [AgentEntry]] = [:]
        // The Agent API is Secrets Manager's: a Parameter Store parameter is not one of its answers.
        for entry in entries where SecretName(entry.request.id).parameter == nil {
            for form in entry.idForms { byID[form, default: []].append(entry) }
        }
        self.byID = byID
        self.lastErrors = lastErrors
    }

    /// The configured request that answers `query`: the entry it selects, or, for a `versionId`
    /// the entries do not hold, the secret's entry for the stage asked (the one a `refreshNow`
    /// checks, reading that version as well). Nil when no configured secret has the id.
    package func request(answering query: SecretQuery) -> SecretRequest? {
        let candidates = byID[query.secretID] ?? []
        switch AgentEntry.select(query, among: candidates) {
        case .entry(let entry): return entry.request
        case .refused:
            guard query.versionID != nil else { return nil }
            return AgentEntry.select(SecretQuery(secretID: query.secretID), among: candidates).entry?.request
                ?? candidates.map(\.request).min { $0.description < $1.description }
        }
    }

    /// The answer to an Agent request. After a `refreshNow` round, a secret whose check failed in
    /// it answers with that failure, as the Agent does.
    package func answer(_ query: SecretQuery, refreshed: Bool = false) -> AgentResponse {
        switch AgentEntry.select(query, among: byID[query.secretID] ?? []) {
        case .refused(let refusal):
            return refusal
        case .entry(let entry):
            if refreshed, let error = lastErrors[entry.request] { return .failure(error) }
            return entry.response
        }
    }
}
