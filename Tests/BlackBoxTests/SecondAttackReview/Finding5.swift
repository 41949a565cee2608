import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// A Compose file that names `env_file`s outside the scanned folder (an absolute path, `../`,
    /// a symbolic link inside the folder pointing out): `scan` reads none of them, and reports each
    /// reference as an `env-file-outside` finding; an `env_file` inside is still read.
    @Test("5. scan reads no env_file outside the scanned folders or through a link, and reports the reference")
    func envFileOutsideTheTreeIsReportedNotRead() async throws {
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let repository = "\(folder)/repository"
        let outside = "\(folder)/outside"
        try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "DB_PASSWORD=outside-secret-value\n".write(
            toFile: "\(outside)/secret.env", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: "\(repository)/linked.env", withDestinationPath: "../outside/secret.env")
        try "JWT_SECRET=inside-secret-value\n".write(toFile: "\(repository)/app.env", atomically: true, encoding: .utf8)
        try """
        services:
          api:
            env_file:
              - app.env
              - \(outside)/secret.env
              - ../outside/secret.env
              - linked.env

        """.write(toFile: "\(repository)/docker-compose.yml", atomically: true, encoding: .utf8)
        let result = try await MigrationTests.tool(["scan", "--format", "json"], in: repository)
        #expect(result.status == 1, "\(result.stderr)")
        let findings =
            try (JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any])["findings"]
            as! [[String: Any]]
        let seen = findings.map { "\($0["file"]!):\($0["line"]!):\($0["container"]!):\($0["name"]!):\($0["rule"]!)" }
        #expect(
            seen == [
                "app.env:1:api:JWT_SECRET:sensitive-name",
                "docker-compose.yml:5:api:env_file:env-file-outside",
                "docker-compose.yml:6:api:env_file:env-file-outside",
                "docker-compose.yml:7:api:env_file:env-file-outside",
            ], "\(seen)")
        let text = try await MigrationTests.tool(["scan"], in: repository)
        #expect(text.status == 1 && !text.stdout.contains("DB_PASSWORD"), "\(text.stdout)")
    }
}
