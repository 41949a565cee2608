import HTTPTransport
import InjectorBase
import InjectorOutputs

/// `secrets-injector refresh`: `POST /refresh` on the running sidecar's socket, as an app's
/// reconnect path sends it (issue 20). One line for each outcome, never a value.
public enum RefreshClient {
    public enum Outcome: Sendable, Equatable {
        /// 0: the sidecar checked (or answered its last check): what changed, or `unchanged`.
        case answered(String)
        /// 1: no answer, or a refusal (token, connection limit, a generation it could not write).
        case refused(String)
        /// 3: the secret is not configured, or Secrets Manager denied or lacks it.
        case missing(String)
    }

    public static func ask(socket path: String, secretID: String?) async -> Outcome {
        let transport = CurlTransport(configuration: .init(maximumConcurrentTransfers: 1))
        let query = secretID.map { "?secretId=" + TemplateFilters.urlencode(Array($0.utf8)) } ?? ""
        let response: HTTPResponse
        do {
            // A check is one Secrets Manager call with its retries: at most about half a minute.
            response = try await transport.send(
                HTTPRequest(
                    method: "POST", url: "http://localhost/refresh\(query)", connectTimeout: .seconds(2),
                    timeout: .seconds(60), proxy: .never, unixSocketPath: path))
        } catch {
            return .refused("no answer on \(path): \(error)")
        }
        let body: JSONValue? = try? JSONValue.parse(response.body)
        switch response.status {
        case 200:
            let changed = body?["changed"].flatMap { value -> [String]? in
                guard case .array(let ids) = value else { return nil }
                return ids.map(\.text)
            }
            var line = changed.map { "changed: " + $0.joined(separator: ", ") } ?? "unchanged"
            if case .array(let failed)? = body?["failed"], !failed.isEmpty {
                line +=
                    "; failed: "
                    + failed.map { "\($0["secretId"]?.text ?? "?") (\($0["error"]?.text ?? "?"))" }
                    .joined(separator: ", ")
            }
            if body?["cached"] == .bool(true) {
                line += " (the last check's result: checked less than refresh.minRefreshSeconds ago)"
            }
            return .answered(line)
        case 404 where body?["error"]?.text == "not configured":
            return .missing("\(secretID ?? "?") is not a configured secret of this sidecar")
        default:
            if let type = body?["__type"]?.text {
                // Secrets Manager's own refusal, as the Agent passes it on.
                let message = body?["message"]?.text ?? body?["Message"]?.text ?? ""
                return .missing("\(type.split(separator: "#").last.map(String.init) ?? type): \(message)")
            }
            let text = String(decoding: response.body.prefix(200), as: UTF8.self)
            return .refused("HTTP \(response.status): \(text.split(whereSeparator: \.isNewline).first ?? "")")
        }
    }
}
