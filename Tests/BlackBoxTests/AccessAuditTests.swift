import Foundation
import TestSupport
import Testing

/// The access audit trail: which process read which secret, what was refused, folded
/// over 60 s, with no value and no token in it.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
struct AccessAuditTests {
    static let token = "audit-test-token-3f9a"

    @Test func socketReadsFoldPerPeerAndARefusalHasItsOwnLine() async throws {
        let peers = try await BlackBox.sharedPeers.value
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (output, log, port) = ("\(folder)/out", "\(folder)/sidecar.log", freeLoopbackPort())
        let socket = "\(output)/injector.sock"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        let config = #"{\#(owner)"server": {"socketPath": "\#(socket)", "tcpPort": \#(port)}}"#
        let sidecar = try BlackBox.launch(
            ["run", "--config", Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path],
            environment: BlackBox.taskEnvironment(
                peers,
                [
                    "SECRETS_INJECTOR_OUTPUT_DIR": output, "SECRETS_INJECTOR_CONFIG": config, "AWS_TOKEN": Self.token,
                ]),
            log: log)
        defer { if sidecar.isRunning { kill(sidecar.processIdentifier, SIGKILL) } }
        try #require(
            await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") })
        try #require(await SidecarCommandTests.waitFor(10) { FileManager.default.fileExists(atPath: socket) })

        // One process reads the database secret five times, each on a connection of its own.
        let reader = try await run(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import socket, sys
                for _ in range(5):
                    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
                    s.sendall(b"GET /secretsmanager/get?secretId=pipeline-pulse/prod/database HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
                    data = b""
                    while chunk := s.recv(65536): data += chunk
                    print(data.split(b" ")[1].decode())
                """,
                socket,
            ], environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        #expect(reader.stdout == "200\n200\n200\n200\n200\n", "\(reader)")
        // A TCP request with a wrong token: refused, and counted.
        let refused = try await SidecarCommandTests.curl([
            "-H", "X-Aws-Parameters-Secrets-Token: wrong-token-7c2e",
            "http://127.0.0.1:\(port)/secretsmanager/get?secretId=pipeline-pulse/prod/jwt",
        ])
        #expect(refused.status == 403)
        let metrics = try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost/metrics"]).body
        #expect(metrics.contains("secrets_injector_requests_refused_total 1"), "\(metrics)")

        kill(sidecar.processIdentifier, SIGTERM)
        sidecar.waitUntilExit()
        #expect(sidecar.terminationStatus == 0)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let access = text.split(separator: "\n").compactMap { line -> [String: Any]? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["message"] as? String == "access"
            else { return nil }
            return object
        }
        let reads = access.filter {
            $0["secret"] as? String == "pipeline-pulse/prod/database" && $0["status"] as? Int == 200
                && $0["transport"] as? String == "unix"
        }
        #expect((1...2).contains(reads.count), "\(reads)")
        #expect(reads.allSatisfy { $0["peerUid"] as? Int == Int(getuid()) && ($0["peerPid"] as? Int ?? 0) > 0 })
        #expect(Set(reads.compactMap { $0["peerPid"] as? Int }).count == 1, "one reader process")
        #expect(reads.map { $0["count"] as? Int ?? 1 }.reduce(0, +) == 5, "\(reads)")
        #expect(
            reads.allSatisfy { $0["versionId"] as? String != nil && $0["path"] as? String == "/secretsmanager/get" })
        let denied = access.filter { $0["status"] as? Int == 403 && $0["transport"] as? String == "tcp" }
        #expect(denied.count == 1, "\(access)")
        #expect(denied.first?["secret"] as? String == "pipeline-pulse/prod/jwt")
        #expect(denied.first?["level"] as? String == "warning")
        // No value, no token, in any audit line.
        let lines = text.split(separator: "\n").filter { $0.contains(#""message":"access""#) }.joined(separator: "\n")
        try BlackBox.expectNoSecret(of: peers.ready["secrets"] as? [String: String] ?? [:], in: lines)
        #expect(!lines.contains(Self.token) && !lines.contains("wrong-token-7c2e"))
    }
}
