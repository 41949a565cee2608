public import FoundationEssentials
import InjectorBase
public import SecretsManager

/// `review access`'s report: the window, what CloudTrail gave, and each secret's readers, denials
/// and findings; as text, JSON (fixed key order) or markdown.
public struct AccessReport: Sendable {
    public var secrets: [SecretAccess]
    public var expected: [String]
    public var days: Int
    public var start: Date
    public var end: Date
    public var region: String
    public var lookup: CloudTrailClient.Totals
    public var records: Int
    public var unreadable: Int

    public enum Format: String, Sendable, CaseIterable { case text, json, markdown }

    public var findingCount: Int { secrets.map(\.findings.count).reduce(0, +) }
    /// Exit 1: a finding, or a record that could not be read (whose call it was is unknown).
    public var failed: Bool { findingCount > 0 || unreadable > 0 }

    public func render(_ format: Format) -> String {
        switch format {
        case .text: text()
        case .json: json().serialized.escapingControls(c0: false) + "\n"
        case .markdown: markdown()
        }
    }

    /// `2026-12-06T16:55:06Z`, or `never`.
    static func time(_ date: Date?) -> String {
        guard let date else { return "never" }
        let t = UTCTime(epochSeconds: date.timeIntervalSince1970.rounded(.down))
        return "\(t.date)T\(UTCTime.pad(t.hour, 2)):\(UTCTime.pad(t.minute, 2)):\(UTCTime.pad(t.second, 2))Z"
    }

    /// A user agent is the caller's own text: one line, at most 200 characters.
    static func agent(_ text: String) -> String {
        let line = text.oneLine
        return line.count > 200 ? String(line.prefix(200)) + "…" : line
    }

    var window: String {
        "\(Self.time(start)) to \(Self.time(end)) (\(days) day\(days == 1 ? "" : "s")), CloudTrail event history in \(region)"
    }

    var readLine: String {
        var line =
            "\(records) Secrets Manager event\(records == 1 ? "" : "s") in \(lookup.pages) page\(lookup.pages == 1 ? "" : "s")"
        if lookup.throttled > 0 {
            line += ", \(lookup.throttled) throttled request\(lookup.throttled == 1 ? "" : "s") retried"
        }
        if unreadable > 0 {
            line +=
                ", \(unreadable) unreadable record\(unreadable == 1 ? "" : "s") (a finding: whose call each was is unknown)"
        }
        return line
    }

    var summary: String {
        let count = findingCount
        let withFindings = secrets.filter { !$0.findings.isEmpty }.count
        let total = "\(secrets.count) secret\(secrets.count == 1 ? "" : "s")"
        return count == 0
            ? "no finding in \(total)"
            : "\(count) finding\(count == 1 ? "" : "s") in \(withFindings) of \(total)"
    }

    func text() -> String {
        var out = ""
        for secret in secrets {
            out += secret.target.id.escapingControls() + "\n"
            out += "  arn: \((secret.target.arn ?? "unknown").escapingControls())\n"
            for reader in secret.readers {
                out +=
                    "  reader: \(reader.principal.escapingControls()) (\(reader.kind.escapingControls()), \(reader.expected ? "expected" : "not expected")): \(AccessLedger.times(reader.reads, "read")), \(Self.time(reader.first)) to \(Self.time(reader.last))\n"
                for source in reader.sources {
                    out +=
                        "    from \(source.from.escapingControls())\(source.viaVPCEndpoint ? " (VPC endpoint)" : "") with \(Self.agent(source.userAgent)): \(AccessLedger.times(source.reads, "read")), \(Self.time(source.first)) to \(Self.time(source.last))\n"
                }
            }
            for denial in secret.denied {
                out +=
                    "  denied: \(denial.principal.escapingControls()) \(denial.operation.escapingControls()): \(AccessLedger.times(denial.attempts, "attempt")), \(Self.time(denial.first)) to \(Self.time(denial.last))\n"
            }
            for finding in secret.findings { out += "  finding: \(finding.escapingControls())\n" }
        }
        out += "window: \(window)\n"
        out += "read: \(readLine)\n"
        out += "expected: \(expected.map { $0.escapingControls() }.joined(separator: ", "))\n"
        return out + summary + "\n"
    }

    func json() -> JSONValue {
        func date(_ value: Date?) -> JSONValue { value.map { .string(Self.time($0)) } ?? .null }
        let secrets = secrets.map { secret -> JSONValue in
            let readers = secret.readers.map { reader -> JSONValue in
                .fields([
                    "principal": .string(reader.principal), "type": .string(reader.kind),
                    "expected": .bool(reader.expected), "reads": .number("\(reader.reads)"),
                    "first": date(reader.first), "last": date(reader.last),
                    "sources": .array(
                        reader.sources.map { source in
                            .fields([
                                "from": .string(source.from), "vpcEndpoint": .bool(source.viaVPCEndpoint),
                                "userAgent": .string(
                                    source.userAgent.count > 200
                                        ? String(source.userAgent.prefix(200)) + "…" : source.userAgent),
                                "reads": .number("\(source.reads)"), "first": date(source.first),
                                "last": date(source.last),
                            ])
                        }),
                ])
            }
            let denied = secret.denied.map { denial -> JSONValue in
                .fields([
                    "principal": .string(denial.principal), "operation": .string(denial.operation),
                    "attempts": .number("\(denial.attempts)"), "first": date(denial.first),
                    "last": date(denial.last),
                ])
            }
            return .fields([
                "secretId": .string(secret.target.id), "arn": secret.target.arn.map(JSONValue.string) ?? .null,
                "readers": .array(readers), "denied": .array(denied),
                "findings": .array(secret.findings.map(JSONValue.string)),
            ])
        }
        return .fields([
            "window": .fields([
                "start": date(start), "end": date(end), "days": .number("\(days)"), "region": .string(region),
            ]),
            "lookup": .fields([
                "pages": .number("\(lookup.pages)"), "events": .number("\(records)"),
                "throttled": .number("\(lookup.throttled)"), "unreadable": .number("\(unreadable)"),
            ]),
            "expectedPrincipals": .array(expected.map(JSONValue.string)),
            "secrets": .array(secrets),
            "findings": .number("\(findingCount)"),
        ])
    }

    func markdown() -> String {
        func cell(_ text: String) -> String { text.markdownTableCell }
        var out = "Window: \(cell(window)); \(cell(readLine)).\n\n"
        out +=
            "| secret | reader | expected | reads | first | last | from | with |\n|---|---|---|---|---|---|---|---|\n"
        for secret in secrets {
            if secret.readers.isEmpty {
                out += "| `\(cell(secret.target.id))` | — | — | 0 | — | — | — | — |\n"
            }
            for reader in secret.readers {
                for source in reader.sources {
                    let cells = [
                        "`\(cell(secret.target.id))`", cell(reader.principal), reader.expected ? "yes" : "**no**",
                        "\(source.reads)", Self.time(source.first), Self.time(source.last),
                        cell(source.from) + (source.viaVPCEndpoint ? " (VPC endpoint)" : ""),
                        cell(Self.agent(source.userAgent)),
                    ]
                    out += "| " + cells.joined(separator: " | ") + " |\n"
                }
            }
        }
        let findings = secrets.flatMap { secret in secret.findings.map { (secret.target.id, $0) } }
        if !findings.isEmpty {
            out += "\n| secret | finding |\n|---|---|\n"
            for (id, finding) in findings { out += "| `\(cell(id))` | \(cell(finding)) |\n" }
        }
        return out + "\n" + summary + "\n"
    }
}
