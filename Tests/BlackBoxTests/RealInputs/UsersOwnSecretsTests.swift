import Foundation
import TestSupport
import Testing

/// The first user's secrets as they exist, not as our seed has them: Pipeline Pulse created
/// `pipeline-pulse/prod/database` with `database`, not AWS's rotation shape's `dbname`, and a
/// string port (SPEC's secret table).
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
struct UsersOwnSecretsTests {
    @Test func theShippedExampleRendersTheDatabaseSecretAsTheUserCreatedIt() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        let value =
            #"{"username":"pipeline_user","password":"Pp-s3cret$x","host":"db.internal","port":"5432","database":"pipeline_pulse_prod"}"#
        _ = try await BlackBox.admin(peers, ["put", "pipeline-pulse/prod/database", value])
        let output = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try await BlackBox.initExample(peers, output: output)
        #expect(result.status == 0, "\(result.stderr)")
        let app = try String(contentsOfFile: "\(output)/app.env", encoding: .utf8)
        #expect(
            app.hasPrefix(
                "DATABASE_URL=postgresql://pipeline_user:Pp-s3cret%24x@db.internal:5432/pipeline_pulse_prod\n"),
            "\(app.prefix(120))")

        // Neither key: one line naming both, exit 3.
        _ = try await BlackBox.admin(
            peers, ["put", "pipeline-pulse/prod/database", #"{"username":"u","password":"p","host":"h","port":1}"#])
        let missing = try await BlackBox.initExample(peers, output: output)
        #expect(missing.status == 3)
        #expect(
            missing.stderr.contains(#"has no key "database.dbname" nor "database.database""#), "\(missing.stderr)")
    }
}
