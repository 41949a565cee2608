import Foundation
import TestSupport
import Testing

/// Failover to a replica region: two moto servers standing for two regions, seeded with
/// the same names and different values; the primary reached through the harness's forwarder,
/// which the tests cut and restore.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"), .serialized)
struct FailoverTests {
    static let replicaRegion = "ap-south-1"

    struct Harness {
        let peers: PeerProcess
        let folder: String
        var output: String { "\(folder)/out" }
        var socket: String { "\(output)/injector.sock" }

        init() async throws {
            peers = try await PeerProcess.start(
                python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"),
                arguments: ["--replica", FailoverTests.replicaRegion], timeout: 120)
            folder = try BlackBox.temporaryFolder()
        }

        func stop() {
            peers.stop()
            try? FileManager.default.removeItem(atPath: folder)
        }

        func environment(role: String = "pipeline-pulse-task", _ extra: String = "") -> [String: String] {
            let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
            var environment = BlackBox.taskEnvironment(
                peers, role: role,
                [
                    "SECRETS_INJECTOR_CONFIG":
                        #"{\#(owner)\#(extra)"outputDir": "\#(output)", "server": {"socketPath": "\#(socket)"}, "secrets": [{"id": "pipeline-pulse/prod/database", "file": "database.json"}, {"id": "pipeline-pulse/prod/jwt", "file": "jwt.json"}], "failover": [{"region": "\#(FailoverTests.replicaRegion)", "endpoint": "\#(peers.string("replicaEndpoint"))"}]}"#,
                    "AWS_MAX_ATTEMPTS": "2",
                ])
            environment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = peers.string("routedEndpoint")
            return environment
        }

        func route(_ on: Bool) async throws {
            _ = try await SidecarCommandTests.curl([peers.string("control") + (on ? "route-on" : "route-off")])
        }

        var replicaSecrets: [String: String] { peers.ready["replicaSecrets"] as? [String: String] ?? [:] }
        var primarySecrets: [String: String] { peers.ready["secrets"] as? [String: String] ?? [:] }

        func file(_ name: String) -> String? { try? String(contentsOfFile: "\(output)/\(name)", encoding: .utf8) }

        func health() async throws -> [String: Any] {
            let body = try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost/health"]).body
            return try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
        }

        /// PutSecretValue in the replica region's moto.
        func putInReplica(_ name: String, _ value: String) async throws {
            let result = try await run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    "import boto3, sys; boto3.client('secretsmanager', endpoint_url=sys.argv[1], region_name=sys.argv[2], aws_access_key_id='a', aws_secret_access_key='b').put_secret_value(SecretId=sys.argv[3], SecretString=sys.argv[4])",
                    peers.string("replicaEndpoint"), FailoverTests.replicaRegion, name, value,
                ], environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
            try #require(result.status == 0, "\(result.stderr)")
        }
    }

    @Test func withThePrimaryDownInitReadsTheReplicaAndSaysSo() async throws {
        let task = try await Harness()
        defer { task.stop() }
        try await task.route(false)
        let result = try await run(BlackBox.binary, ["init"], environment: task.environment(), timeout: 90)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(task.file("database.json") == task.replicaSecrets["pipeline-pulse/prod/database"])
        #expect(task.file("jwt.json") == task.replicaSecrets["pipeline-pulse/prod/jwt"])
        let replicaLines = result.stderr.split(separator: "\n").filter {
            $0.contains(#""message":"read from a replica region""#)
        }
        #expect(replicaLines.count == 1, "\(result.stderr)")
        #expect(replicaLines.first?.contains(#""region":"ap-south-1""#) == true)
        #expect(replicaLines.first?.contains("pipeline-pulse/prod/database") == true)
    }

    @Test func accessDeniedInThePrimaryIsAnAnswerNotAnOutage() async throws {
        let task = try await Harness()
        defer { task.stop() }
        let result = try await run(
            BlackBox.binary, ["init"], environment: task.environment(role: "pipeline-pulse-describe-only"), timeout: 90)
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("AccessDenied"))
        #expect(!result.stderr.contains(Self.replicaRegion), "no failover: \(result.stderr)")
        #expect(task.file("database.json") == nil)
    }

    @Test func theSidecarFailsOverFollowsTheReplicaAndComesBack() async throws {
        let task = try await Harness()
        defer { task.stop() }
        let log = "\(task.folder)/sidecar.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let sidecar = try BlackBox.launch(
            ["run"], environment: task.environment(#""refresh": {"intervalSeconds": 1}, "#), log: log)
        defer { if sidecar.isRunning { kill(sidecar.processIdentifier, SIGKILL) } }
        try #require(
            await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(task.output)/.ready") })
        #expect(task.file("database.json") == task.primarySecrets["pipeline-pulse/prod/database"])
        #expect(try await task.health()["status"] as? String == "healthy")

        // The primary goes away: degraded, naming the replica region, and the replica's values.
        try await task.route(false)
        #expect(
            try await SidecarCommandTests.waitFor(20) {
                try await task.health()["servingRegion"] as? String == Self.replicaRegion
            })
        let degraded = try await task.health()
        #expect(degraded["status"] as? String == "degraded", "\(degraded)")
        #expect((degraded["reason"] as? String)?.contains(Self.replicaRegion) == true)
        #expect(
            try await SidecarCommandTests.waitFor(10) {
                task.file("database.json") == task.replicaSecrets["pipeline-pulse/prod/database"]
            })
        // A change made in the replica reaches the files.
        try await task.putInReplica("pipeline-pulse/prod/jwt", #"{"secret": "rotated-in-the-replica"}"#)
        #expect(
            try await SidecarCommandTests.waitFor(10) {
                task.file("jwt.json") == #"{"secret": "rotated-in-the-replica"}"#
            })
        let metrics = try await SidecarCommandTests.curl(["--unix-socket", task.socket, "http://localhost/metrics"])
        #expect(metrics.body.contains("secrets_injector_failovers_total 1"), "\(metrics.body)")

        // The primary is back: the sidecar returns to it, healthy again, with the primary's values.
        try await task.route(true)
        #expect(
            try await SidecarCommandTests.waitFor(20) {
                let health = try await task.health()
                return health["status"] as? String == "healthy" && health["servingRegion"] == nil
            })
        #expect(
            try await SidecarCommandTests.waitFor(10) {
                task.file("jwt.json") == task.primarySecrets["pipeline-pulse/prod/jwt"]
            })
        kill(sidecar.processIdentifier, SIGTERM)
        sidecar.waitUntilExit()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains(#""message":"the primary region answers again; back on it""#))
        try BlackBox.expectNoSecret(of: task.primarySecrets.merging(task.replicaSecrets) { $1 }, in: text)
    }
}
