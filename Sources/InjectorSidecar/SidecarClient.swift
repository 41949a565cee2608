import HTTPTransport
import InjectorBase
import InjectorOutputs

/// The commands that ask a running sidecar on its socket: `secrets-injector health` (the ECS
/// `healthCheck` command) and `secrets-injector refresh`.
public enum SidecarClient {
    public enum Verdict: Sendable, Equatable {
        case healthy
        case degraded(reason: String)
        case unhealthy(reason: String)
    }

    /// `GET /health`; healthy and degraded (still serving its last values) pass; unhealthy, or no
    /// answer within 4 s, fails.
    public static func health(socket path: String) async -> Verdict {
        let response: HTTPResponse
        do {
            response = try await send("GET", "/health", socket: path, timeout: .seconds(4))
        } catch {
            return .unhealthy(reason: "no answer on \(path): \(error)")
        }
        // 200 with `healthy` or `degraded`, 503 with `unhealthy`.
        let report: JSONValue? = try? JSONValue.parse(response.body)
        let status = report?["status"]?.text
        let reason = report?["reason"]?.text
        switch (response.status, status) {
        case (200, "healthy"?): return .healthy
        case (200, "degraded"?): return .degraded(reason: reason ?? "a check failed")
        default: return .unhealthy(reason: "\(status ?? "HTTP \(response.status)"): \(reason ?? "no reason given")")
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// 0: the sidecar checked (or answered its last check): what changed, or `unchanged`.
        case answered(String)
        /// 1: no answer, or a refusal (token, connection limit, a generation it could not write).
        case refused(String)
        /// 3: the secret is not configured, or Secrets Manager denied or lacks it.
        case missing(String)
    }

    /// `POST /refresh`, as an app's reconnect path sends it: one line for each outcome, never a value.
    public static func refresh(socket path: String, secretID: String?) async -> Outcome {
        let query = secretID.map { "?secretId=" + TemplateFilters.urlencode(Array($0.utf8)) } ?? ""
        let response: HTTPResponse
        do {
            // A check is one Secrets Manager call with its retries: at most about half a minute.
            response = try await send("POST", "/refresh\(query)", socket: path, timeout: .seconds(60))
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

    private static func send(_ method: String, _ target: String, socket path: String, timeout: Duration)
        async throws -> HTTPResponse
    {
        let transport = CurlTransport(configuration: .init(maximumConcurrentTransfers: 1))
        return try await transport.send(
            HTTPRequest(
                method: method, url: "http://localhost\(target)", connectTimeout: .seconds(2), timeout: timeout,
                proxy: .never, unixSocketPath: path))
    }
}
