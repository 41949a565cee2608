import Foundation
import TestSupport
import Testing

/// The built `secrets-injector` binary against moto_server (signature verification on) and a
/// fake ECS container credential endpoint, both started by `scripts/harness/aws_peers.py`.
@Suite struct GetCommandTests {
    static let binary = BlackBox.binary
    static let hasPeers = BlackBox.hasPeers

    let peers: PeerProcess
    let secrets: [String: String]

    init() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.binary),
            "build the binary first (swift build): \(Self.binary)")
        peers = try await BlackBox.sharedPeers.value
        secrets = peers.ready["secrets"] as? [String: String] ?? [:]
    }

    func taskEnvironment(
        role: String = "pipeline-pulse-task", tokenFromFile: Bool = false, _ extra: [String: String] = [:]
    ) -> [String: String] {
        BlackBox.taskEnvironment(peers, role: role, tokenFromFile: tokenFromFile, extra)
    }

    func get(_ arguments: [String], _ environment: [String: String]) async throws -> CommandResult {
        try await run(Self.binary, ["get"] + arguments, environment: environment, timeout: 60)
    }

    /// Every secret value and JSON field value must be absent from `text`.
    func expectNoSecretIn(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try BlackBox.expectNoSecret(of: secrets, in: text, sourceLocation: sourceLocation)
    }

    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func printsEachPipelinePulseSecretWithTokenAndTokenFile() async throws {
        try #require(secrets.count == 4)
        for (name, value) in secrets.sorted(by: { $0.key < $1.key }) {
            for fromFile in [false, true] {
                let result = try await get(
                    [name], taskEnvironment(tokenFromFile: fromFile, ["SECRETS_INJECTOR_LOG_LEVEL": "trace"]))
                #expect(result.status == 0, "\(name): \(result.stderr)")
                #expect(result.stdout == value, "\(name) printed byte for byte")
                try expectNoSecretIn(result.stderr)
            }
        }
    }

    /// An operator's profile with a `credential_process` (how SSO users export credentials), as
    /// botocore runs it: no ECS endpoint, no keys in the environment.
    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func aProfilesCredentialProcessSignsTheCalls() async throws {
        let home = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: "\(home)/.aws", withIntermediateDirectories: true)
        let keys =
            #"{"Version": 1, "AccessKeyId": "\#(peers.string("adminAccessKeyId"))", "SecretAccessKey": "\#(peers.string("adminSecretAccessKey"))"}"#
        try "printf '%s' '\(keys)'\n".write(toFile: "\(home)/creds.sh", atomically: true, encoding: .utf8)
        try "[profile ops]\ncredential_process = /bin/sh \"\(home)/creds.sh\"\n".write(
            toFile: "\(home)/.aws/config", atomically: true, encoding: .utf8)
        let result = try await get(
            ["pipeline-pulse/prod/database"],
            [
                "HOME": home, "AWS_PROFILE": "ops", "AWS_REGION": peers.string("region"),
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"), "AWS_EC2_METADATA_DISABLED": "true",
                "SECRETS_INJECTOR_LOG_LEVEL": "trace",
            ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == secrets["pipeline-pulse/prod/database"])
        try expectNoSecretIn(result.stderr)
        #expect(!result.stderr.contains(peers.string("adminSecretAccessKey")))
    }

    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func jsonKeyPrintsOneField() async throws {
        let password = try await get(["pipeline-pulse/prod/database", "--json-key", "password"], taskEnvironment())
        #expect(password.status == 0, "\(password.stderr)")
        #expect(password.stdout == "Xq7#p@ss:w/rd?&=+ %ü")
        let port = try await get(["pipeline-pulse/prod/database", "--json-key", "port"], taskEnvironment())
        #expect(port.stdout == "5432")
        let missing = try await get(["pipeline-pulse/prod/jwt", "--json-key", "nope"], taskEnvironment())
        #expect(missing.status == 3)
        #expect(
            missing.stderr
                == "secrets-injector: error: secret pipeline-pulse/prod/jwt has no key \"nope\" (its keys: secret, algorithm, expire_minutes)\n"
        )
    }

    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func missingSecretExits3WithTheNameAndRegion() async throws {
        let result = try await get(
            ["pipeline-pulse/prod/nope"], taskEnvironment(["SECRETS_INJECTOR_LOG_LEVEL": "trace"]))
        #expect(result.status == 3)
        #expect(result.stdout.isEmpty)
        let lastLine = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(
            lastLine.hasPrefix(
                "secrets-injector: error: ResourceNotFoundException: secret pipeline-pulse/prod/nope not found in region ap-southeast-1"
            ))
        try expectNoSecretIn(result.stderr)
    }

    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func roleWithoutGetSecretValueExits3NamingTheActionAndSecret() async throws {
        let result = try await get(["pipeline-pulse/prod/zoho"], taskEnvironment(role: "pipeline-pulse-no-get"))
        #expect(result.status == 3)
        #expect(
            result.stderr.hasPrefix(
                "secrets-injector: error: AccessDenied for pipeline-pulse/prod/zoho: the task role needs secretsmanager:GetSecretValue on arn:aws:secretsmanager:ap-southeast-1:*:secret:pipeline-pulse/prod/zoho-*"
            ))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }

    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func signaturesAreCheckedKeysMoto() async throws {
        // Keys moto never issued: refused, which shows verification is on for the calls above.
        let result = try await get(
            ["pipeline-pulse/prod/jwt"],
            [
                "AWS_ACCESS_KEY_ID": "AKIANOTISSUED", "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_REGION": "ap-southeast-1",
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": peers.string("endpoint"),
            ])
        #expect(result.status == 3)
        #expect(result.stderr.contains("refused the credentials"))
    }

    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func credentialEndpointNeverGoesThroughTheProxy() async throws {
        // A dead proxy for every http URL; Secrets Manager on 127.0.0.1 is exempt by NO_PROXY, the
        // credential endpoint (named "localhost") is not — it must be reached directly anyway.
        var environment = taskEnvironment([
            "http_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1",
        ])
        environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = peers.string("credentialsLocalhost") + "pipeline-pulse-task"
        let direct = try await get(["pipeline-pulse/prod/currency"], environment)
        #expect(direct.status == 0, "\(direct.stderr)")
        // And Secrets Manager calls do honour the proxy variables: without the exemption they fail.
        environment["NO_PROXY"] = nil
        let proxied = try await get(
            ["pipeline-pulse/prod/currency"], environment.merging(["AWS_MAX_ATTEMPTS": "1"]) { $1 })
        #expect(proxied.status == 4)
        #expect(
            proxied.stderr.contains("proxy") || proxied.stderr.contains("127.0.0.1:9")
                || proxied.stderr.contains("cannot connect"))
    }

    @Test(.enabled(if: hasPeers, "moto[server] and boto3 are not installed"))
    func badInputGivesOneLineAndTheDocumentedCode() async throws {
        let cases: [(String, [String: String], Int32, String)] = [
            (
                "unreachable endpoint",
                taskEnvironment(["AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:1", "AWS_MAX_ATTEMPTS": "2"]), 4,
                "secrets-injector: error: Secrets Manager GetSecretValue failed after 2 attempts: cannot connect to http://127.0.0.1:1/: connection refused"
            ),
            (
                "credential endpoint answers 500", taskEnvironment(role: "fail500"), 4,
                "secrets-injector: error: no usable AWS credentials: ECS container credential endpoint \(peers.string("credentials"))fail500 answered HTTP 500 after 3 attempts"
            ),
            (
                "garbage credentials JSON", taskEnvironment(role: "garbage"), 4,
                "secrets-injector: error: no usable AWS credentials: ECS container credential endpoint \(peers.string("credentials"))garbage did not answer with credentials JSON"
            ),
            (
                "FULL_URI on a disallowed host",
                taskEnvironment(["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.10/creds"]), 2,
                "secrets-injector: error: AWS_CONTAINER_CREDENTIALS_FULL_URI host 192.0.2.10 is not allowed over plain http"
            ),
            (
                "token with a newline",
                taskEnvironment(["AWS_CONTAINER_AUTHORIZATION_TOKEN": peers.string("token") + "\nX-Injected: 1"]), 2,
                "secrets-injector: error: AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break"
            ),
            (
                "wrong token", taskEnvironment(["AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong"]), 2,
                "secrets-injector: error: ECS container credential endpoint \(peers.string("credentials"))pipeline-pulse-task refused the request (HTTP 401)"
            ),
            (
                "endpoint that is not a URL", taskEnvironment(["AWS_ENDPOINT_URL_SECRETS_MANAGER": "127.0.0.1:5000"]),
                2,
                "secrets-injector: error: AWS_ENDPOINT_URL_SECRETS_MANAGER \"127.0.0.1:5000\" is not an http(s) URL"
            ),
            ("no region", taskEnvironment(["AWS_REGION": ""]), 2, "secrets-injector: error: no AWS region"),
        ]
        for (name, environment, status, prefix) in cases {
            let result = try await get(["pipeline-pulse/prod/jwt"], environment)
            #expect(result.status == status, "\(name): \(result.stderr)")
            #expect(result.stderr.hasPrefix(prefix), "\(name): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(name): one line")
            #expect(result.stdout.isEmpty, "\(name)")
            #expect(result.duration < 30, "\(name): bounded by the timeouts")
        }
    }
}

/// Usage errors need no peers.
@Suite struct UsageTests {
    @Test func usageErrorsExit2() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: GetCommandTests.binary))
        for arguments in [["get"], ["get", "a", "--bogus"], ["nosuchcommand"]] {
            let result = try await run(GetCommandTests.binary, arguments, environment: [:])
            #expect(result.status == 2, "\(arguments)")
        }
        #expect(try await run(GetCommandTests.binary, ["--help"], environment: [:]).status == 0)
        #expect(
            try await run(GetCommandTests.binary, ["version"], environment: [:]).stdout == "secrets-injector 0.1.0\n")
    }
}
