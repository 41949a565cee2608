import HTTPTransport
import InjectorBase

/// `secrets-injector health`, the ECS `healthCheck` command: asks the running sidecar's socket for
/// `/health`. Healthy and degraded (still serving its last values) pass; unhealthy, or no answer
/// within 4 s, fails.
public enum HealthProbe {
    public enum Verdict: Sendable, Equatable {
        case healthy
        case degraded(reason: String)
        case unhealthy(reason: String)
    }

    public static func ask(socket path: String) async -> Verdict {
        let transport = CurlTransport(configuration: .init(maximumConcurrentTransfers: 1))
        let response: HTTPResponse
        do {
            response = try await transport.send(
                HTTPRequest(
                    method: "GET", url: "http://localhost/health", connectTimeout: .seconds(2), timeout: .seconds(4),
                    proxy: .never, unixSocketPath: path))
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
}
