import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// Finding 9: a custom `server.ssrfEnvVariables` name holds the SSRF token, and the profile's
    /// `credential_process` (a child of the injector) dumped its environment: the token was there,
    /// as only the four default names were withheld.
    @Test(
        "9. a credential_process runs without any configured SSRF token variable",
        .enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func credentialProcessGetsNoConfiguredTokenVariable() async throws {
        let peers = try await BlackBox.sharedPeers.value
        let home = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: "\(home)/.aws", withIntermediateDirectories: true)
        let keys =
            #"{"Version": 1, "AccessKeyId": "\#(peers.string("adminAccessKeyId"))", "SecretAccessKey": "\#(peers.string("adminSecretAccessKey"))"}"#
        try "env > \"$HOME/child-environment\"\nprintf '%s' '\(keys)'\n".write(
            toFile: "\(home)/creds.sh", atomically: true, encoding: .utf8)
        try "[profile ops]\ncredential_process = /bin/sh \"\(home)/creds.sh\"\n".write(
            toFile: "\(home)/.aws/config", atomically: true, encoding: .utf8)
        let token = "ssrf-token-5e3b9c1d7a2f"
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        let config = """
            {\(owner)"outputDir": "\(home)/out", "secrets": [{"id": "pipeline-pulse/prod/jwt"}],
             "server": {"ssrfEnvVariables": ["INJECTOR_SSRF_TOKEN", "APP_SSRF_TOKEN"]}}
            """
        let result = try await run(
            BlackBox.binary, ["init"],
            environment: [
                "HOME": home, "AWS_PROFILE": "ops", "AWS_REGION": peers.string("region"),
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"), "AWS_EC2_METADATA_DISABLED": "true",
                "SECRETS_INJECTOR_CONFIG": config, "INJECTOR_SSRF_TOKEN": token, "APP_SSRF_TOKEN": "file:///run/t",
            ],
            timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let child = try String(contentsOfFile: "\(home)/child-environment", encoding: .utf8)
        #expect(child.contains("AWS_PROFILE=ops"), "the dump is the child's environment")
        #expect(!child.contains(token), "the SSRF token reached credential_process")
        let names = child.split(separator: "\n").map { $0.prefix { $0 != "=" } }
        #expect(!names.contains("INJECTOR_SSRF_TOKEN") && !names.contains("APP_SSRF_TOKEN"), "\(names)")
        #expect(!result.stderr.contains(token))
    }
}
