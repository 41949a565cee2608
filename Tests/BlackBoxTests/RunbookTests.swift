import Foundation
import TestSupport
import Testing

/// `docs/operations.md`: every case's line and exit code are what the binary prints, provoked
/// against moto, the harness's credential endpoint, or a Secrets Manager that misbehaves
/// (`Fixtures/fake_secretsmanager.py`).
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
struct RunbookTests {
    struct Case {
        var heading: String
        var line: String
        var exitCode: Int32
    }

    /// Each `## heading` with its first `text` block and its "Exit code N".
    static func cases() throws -> [Case] {
        let text = try String(
            contentsOf: Repository.root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        var cases: [Case] = []
        for section in text.components(separatedBy: "\n## ").dropFirst() {
            let heading = String(section.prefix { $0 != "\n" })
            guard let block = section.range(of: "```text\n"),
                let end = section.range(of: "\n```", range: block.upperBound..<section.endIndex),
                let code = section.range(of: #"Exit code (\d)"#, options: .regularExpression)
            else { continue }
            cases.append(
                Case(
                    heading: heading, line: String(section[block.upperBound..<end.lowerBound]),
                    exitCode: Int32(section[code].last!.wholeNumberValue!)))
        }
        return cases
    }

    /// The documented line as a pattern: `<…>` matches anything, the rest literally.
    static func matches(_ documented: String, _ actual: String) -> Bool {
        var pattern = "^"
        var rest = Substring(documented)
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            pattern += NSRegularExpression.escapedPattern(for: String(rest[..<open])) + ".*?"
            rest = rest[rest.index(after: close)...]
        }
        pattern += NSRegularExpression.escapedPattern(for: String(rest)) + "$"
        return actual.range(of: pattern, options: .regularExpression) != nil
    }

    func misbehaving(_ mode: String) async throws -> PeerProcess {
        try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("Tests/BlackBoxTests/Fixtures/fake_secretsmanager.py"),
            arguments: [mode])
    }

    @Test func everyDocumentedLineIsWhatTheBinaryPrints() async throws {
        let documented = try Self.cases()
        #expect(
            documented.map(\.heading) == [
                "Secret not found", "Access denied", "Connection timeout", "Invalid JSON",
                "Credentials endpoint unreachable", "Throttled", "On a replica region", "Plain http to Secrets Manager",
            ])
        let peers = try await BlackBox.sharedPeers.value
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        func config(_ rest: String) -> String { #"{\#(owner)"outputDir": "\#(folder)/out", \#(rest)}"# }
        let database = #""secrets": [{"id": "pipeline-pulse/prod/database"}]"#
        let (silent, throttling, plaintext) = (
            try await misbehaving("silent"), try await misbehaving("throttle"), try await misbehaving("plaintext")
        )
        let regions = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"),
            arguments: ["--replica", "ap-south-1"], timeout: 120)
        defer { [silent, throttling, plaintext, regions].forEach { $0.stop() } }

        for entry in documented {
            var environment = BlackBox.taskEnvironment(peers)
            switch entry.heading {
            case "Secret not found":
                environment["SECRETS_INJECTOR_CONFIG"] = config(
                    #""secrets": [{"id": "pipeline-pulse/prod/database"}, {"id": "pipeline-pulse/prod/missing"}]"#)
            case "Access denied":
                environment = BlackBox.taskEnvironment(peers, role: "pipeline-pulse-describe-only")
                environment["SECRETS_INJECTOR_CONFIG"] = config(database)
            case "Connection timeout":
                environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "http://127.0.0.1:\(silent.string("port"))"
                environment["AWS_MAX_ATTEMPTS"] = "1"
                environment["SECRETS_INJECTOR_CONFIG"] = config(database)
            case "Invalid JSON":
                environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "http://127.0.0.1:\(plaintext.string("port"))"
                environment["SECRETS_INJECTOR_CONFIG"] = config(
                    #""secrets": [{"id": "pipeline-pulse/prod/database", "alias": "database"}], "templates": [{"file": "app.env", "template": "DATABASE_URL={{ database.password }}\n"}]"#
                )
            case "Credentials endpoint unreachable":
                environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:\(freeLoopbackPort())/creds"
                environment["SECRETS_INJECTOR_CONFIG"] = config(database)
            case "Throttled":
                environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "http://127.0.0.1:\(throttling.string("port"))"
                environment["SECRETS_INJECTOR_CONFIG"] = config(database)
            case "On a replica region":
                environment = BlackBox.taskEnvironment(regions)
                _ = try await SidecarCommandTests.curl([regions.string("control") + "route-off"])
                environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = regions.string("routedEndpoint")
                environment["AWS_MAX_ATTEMPTS"] = "1"
                environment["SECRETS_INJECTOR_CONFIG"] = config(
                    database
                        + #", "failover": [{"region": "ap-south-1", "endpoint": "\#(regions.string("replicaEndpoint"))"}]"#
                )
            case "Plain http to Secrets Manager":
                // 192.0.2.0/24 is documentation's own network (RFC 5737); the check stops before any call.
                environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = "http://192.0.2.10:4566"
                environment["SECRETS_INJECTOR_CONFIG"] = config(database)
            default:
                Issue.record("no scenario for \(entry.heading)")
                continue
            }
            let result = try await run(BlackBox.binary, ["init"], environment: environment, timeout: 60)
            // An error line, or (for a case that is not an error) the first line like the one documented.
            let lines = result.stderr.split(separator: "\n").map(String.init)
            let line =
                entry.line.hasPrefix("secrets-injector: error:")
                ? lines.first { $0.hasPrefix("secrets-injector: error:") } ?? ""
                : lines.first { Self.matches(entry.line, $0) } ?? lines.joined(separator: "\n")
            #expect(Self.matches(entry.line, line), "\(entry.heading): the binary prints \(line)")
            #expect(result.status == entry.exitCode, "\(entry.heading): exit \(result.status)")
        }
    }
}
