import InjectorBase
import SecretsManager

/// What the last check of one configured secret found (by a round, `refreshNow` or `POST /refresh`),
/// as `POST /refresh` reports it: never a value.
package enum CheckResult: Sendable {
    case changed, unchanged
    case failed(any Error)
    /// A new version came, but its generation could not be written: the last one stays.
    case notWritten
}

extension AgentResponse {
    /// `POST /refresh` (ours, not the Agent's): `{"result": "changed", "changed": [ids], "cached": false}`
    /// or `{"result": "unchanged", …}`; `cached` when nothing was checked again and the answer is the
    /// last checks' results. A secret whose check failed: the Agent's error answer when it was the
    /// only one asked, else listed with its error code; a new generation that could not be written: 500.
    package static func refreshed(_ results: [(SecretRequest, CheckResult)], cached: Bool) -> AgentResponse {
        var changed: [JSONValue] = []
        var failed: [JSONValue] = []
        for (request, result) in results {
            switch result {
            case .changed: changed.append(.string(request.id))
            case .unchanged: continue
            case .failed(let error):
                let serviceError = AWSCallError(error)
                if results.count == 1, let serviceError { return .failure(serviceError) }
                let code = serviceError.map { $0.code ?? "\($0.category)" } ?? "\(error)"
                failed.append(.fields(["secretId": .string(request.id), "error": .string(code)]))
            case .notWritten:
                return .json(
                    500, Array(#"{"error":"the new generation could not be written; the last one stays"}"#.utf8))
            }
        }
        var members: [JSONValue.Member] = [
            .init(key: "result", value: .string(changed.isEmpty ? "unchanged" : "changed"))
        ]
        if !changed.isEmpty { members.append(.init(key: "changed", value: .array(changed))) }
        if !failed.isEmpty { members.append(.init(key: "failed", value: .array(failed))) }
        members.append(.init(key: "cached", value: .bool(cached)))
        return .json(200, Array(JSONValue.object(members).serialized.utf8))
    }

    /// `POST /refresh?secretId=ID` for an id no configured secret answers to.
    package static func notConfigured(secretID: String) -> AgentResponse {
        .json(404, Array(#"{"error":"not configured","secretId":\#(JSONValue.quoted(secretID))}"#.utf8))
    }

    /// `refreshNow` for one version (`versionId`) the cache does not keep: the version as Secrets
    /// Manager gives it now, or Secrets Manager's own refusal.
    package static func version(
        _ outcome: Result<SecretValue, AWSCallError>, of request: SecretRequest
    ) -> AgentResponse {
        switch outcome {
        case .success(let value): AgentEntry(request: request, value: value).response
        case .failure(let error): .failure(error)
        }
    }
}
