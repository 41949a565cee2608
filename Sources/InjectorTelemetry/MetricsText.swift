import FoundationEssentials
public import InjectorAgent
import InjectorBase

/// `/metrics` in the Prometheus text format (version 0.0.4).
public enum MetricsText {
    /// The page: the sidecar's counters, the health report's state, Secrets Manager's calls by
    /// operation, and the failovers so far.
    public static func render(
        metrics: SidecarMetrics, health: HealthReport, apiCalls: [String: Int], failovers: Int = 0
    ) -> String {
        var lines: [String] = []
        func counter(_ name: String, _ help: String, _ value: Int) {
            lines += ["# HELP \(name) \(help)", "# TYPE \(name) counter", "\(name) \(value)"]
        }
        counter("secrets_injector_refreshes_total", "Refresh rounds run.", metrics.refreshes)
        counter(
            "secrets_injector_refresh_failures_total", "Refresh rounds that failed as a whole.",
            metrics.refreshFailures)
        counter(
            "secrets_injector_generations_total", "Generations committed (the first included).",
            metrics.generations)
        counter(
            "secrets_injector_notifications_total", "Times the application was told of a change.",
            metrics.notifications)
        counter(
            "secrets_injector_failovers_total", "Times the sidecar moved to a replica region.", failovers)
        lines += [
            "# HELP secrets_injector_healthy 1 when /health is healthy.", "# TYPE secrets_injector_healthy gauge",
            "secrets_injector_healthy \(health.status == .healthy ? 1 : 0)",
            "# HELP secrets_injector_health_status The /health status: 1 for the current one.",
            "# TYPE secrets_injector_health_status gauge",
        ]
        for status in [HealthReport.Status.healthy, .degraded, .unhealthy] {
            lines.append(
                "secrets_injector_health_status{status=\"\(status.rawValue)\"} \(health.status == status ? 1 : 0)")
        }
        lines += [
            "# HELP secrets_injector_consecutive_failures Refresh rounds failed in a row.",
            "# TYPE secrets_injector_consecutive_failures gauge",
            "secrets_injector_consecutive_failures \(health.consecutiveFailures)",
            "# HELP secrets_injector_refresh_strategy The strategy the last round used, after fallbacks.",
            "# TYPE secrets_injector_refresh_strategy gauge",
        ]
        if let strategy = health.strategy {
            lines.append("secrets_injector_refresh_strategy{strategy=\"\(strategy.rawValue)\"} 1")
        }
        lines += [
            "# HELP secrets_injector_denied_operation Operations the task role is refused, worked around.",
            "# TYPE secrets_injector_denied_operation gauge",
        ]
        for operation in health.deniedOperations {
            lines.append("secrets_injector_denied_operation{operation=\"\(operation)\"} 1")
        }
        lines += [
            "# HELP secrets_injector_secret_last_success_timestamp_seconds Last successful check of each secret.",
            "# TYPE secrets_injector_secret_last_success_timestamp_seconds gauge",
        ]
        for status in health.secrets {
            if let success = status.lastSuccess {
                lines.append(
                    "secrets_injector_secret_last_success_timestamp_seconds{secret=\(label(status.id))} \(Int(success.timeIntervalSince1970))"
                )
            }
        }
        lines += [
            "# HELP secrets_injector_secret_failing 1 when the last check of a secret failed.",
            "# TYPE secrets_injector_secret_failing gauge",
        ]
        for status in health.secrets {
            lines.append(
                "secrets_injector_secret_failing{secret=\(label(status.id))} \(status.lastError == nil ? 0 : 1)")
        }
        lines += [
            "# HELP secrets_injector_api_calls_total Secrets Manager HTTP requests, every attempt counted.",
            "# TYPE secrets_injector_api_calls_total counter",
        ]
        for (operation, count) in apiCalls.sorted(by: { $0.key < $1.key }) {
            lines.append("secrets_injector_api_calls_total{operation=\(label(operation))} \(count)")
        }
        lines += [
            "# HELP secrets_injector_requests_total Requests served, by status.",
            "# TYPE secrets_injector_requests_total counter",
        ]
        for (status, count) in metrics.served {
            lines.append("secrets_injector_requests_total{status=\"\(status)\"} \(count)")
        }
        counter(
            "secrets_injector_requests_refused_total",
            "Requests refused: bad token, peer not allowed, unknown secret, bad request.", metrics.requestsRefused)
        lines += [
            "# HELP secrets_injector_request_duration_seconds Time to answer a request.",
            "# TYPE secrets_injector_request_duration_seconds histogram",
        ]
        let counts = metrics.latencyCounts
        var cumulative = 0
        for (index, bound) in SidecarMetrics.latencyBuckets.enumerated() {
            cumulative += counts[index]
            lines.append("secrets_injector_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)")
        }
        cumulative += counts.last ?? 0
        lines.append("secrets_injector_request_duration_seconds_bucket{le=\"+Inf\"} \(cumulative)")
        lines.append("secrets_injector_request_duration_seconds_sum \(metrics.latencySum)")
        lines.append("secrets_injector_request_duration_seconds_count \(cumulative)")
        return lines.joined(separator: "\n") + "\n"
    }

    static func label(_ value: String) -> String {
        "\"" + value.replacingBackslashesAndQuotes() + "\""
    }
}

extension String {
    fileprivate func replacingBackslashesAndQuotes() -> String {
        var out = ""
        for character in self {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
