import Foundation
import HTTPTransport
import TestSupport
import Testing

@testable import AWSCredentials

let credentialJSON =
    #"{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"secret-key-value","Token":"session-token-value","Expiration":"2027-01-15T08:30:00Z","RoleArn":"arn:aws:iam::123456789012:role/app"}"#

@Suite struct EnvironmentProviderTests {
    @Test func bothKeysMakeCredentials() async throws {
        let provider = try #require(
            try EnvironmentCredentialProvider(environment: [
                "AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t",
            ]))
        let credentials = try await provider.fetch()
        #expect(credentials.accessKeyID == "AKIA1")
        #expect(credentials.sessionToken == "t")
        #expect(credentials.expiration == nil)
        #expect(!credentials.description.contains("s,") && !"\(credentials)".contains("secretAccessKey"))
    }

    @Test func noKeysIsNotConfigured() throws {
        #expect(try EnvironmentCredentialProvider(environment: ["AWS_REGION": "x"]) == nil)
    }

    @Test func halfSetKeysAreAConfigurationError() {
        let error = #expect(throws: CredentialError.self) {
            try EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "AKIA1"])
        }
        #expect(error?.kind == .configuration)
        #expect(error?.message.contains("AWS_SECRET_ACCESS_KEY") == true)
    }
}

@Suite struct ContainerProviderTests {
    @Test func relativeURIIsOnTheECSAgentAndWinsOverFullURI() throws {
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://10.0.0.1/x",
                ],
                transport: FakeTransport(script: [])))
        #expect(provider.url == "http://169.254.170.2/v2/credentials/abc")
    }

    @Test(arguments: [
        "https://creds.example.com/role", "http://127.0.0.1:8080/creds", "http://127.2.3.4/creds",
        "http://localhost:51679/creds",
        "http://169.254.170.2/v2/x", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
        "http://[::1]:9000/c",
    ])
    func allowedFullURIs(_ uri: String) throws {
        let provider = try ContainerCredentialProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri], transport: FakeTransport(script: []))
        #expect(provider?.url == uri)
    }

    @Test(arguments: [
        "http://10.0.0.1/creds", "http://example.com/creds", "http://169.254.169.254/latest", "ftp://127.0.0.1/x",
        "not a url", "http://128.0.0.1/x",
    ])
    func disallowedFullURIs(_ uri: String) {
        let error = #expect(throws: CredentialError.self) {
            try ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": uri], transport: FakeTransport(script: []))
        }
        #expect(error?.kind == .configuration)
        #expect(error?.message.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI") == true)
        #expect(error?.message.contains("\n") == false)
    }

    @Test func tokenWithALineBreakIsRefusedBeforeAnyRequest() {
        let transport = FakeTransport(script: [.success(.json(200, credentialJSON))])
        for token in ["abc\ndef", "abc\r\n", "\rabc"] {
            let error = #expect(throws: CredentialError.self) {
                try ContainerCredentialProvider(
                    environment: [
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/c",
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
                    ],
                    transport: transport)
            }
            #expect(error?.kind == .configuration)
            #expect(error?.message.contains("line break") == true)
            #expect(error?.message.contains("abc") == false)
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func fetchSendsTheTokenWithoutProxyAndDecodes() async throws {
        let transport = FakeTransport(script: [.success(.json(200, credentialJSON))])
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "tok-123",
                ],
                transport: transport))
        let credentials = try await provider.fetch()
        #expect(credentials.accessKeyID == "ASIAEXAMPLE")
        #expect(credentials.secretAccessKey == "secret-key-value")
        #expect(credentials.sessionToken == "session-token-value")
        #expect(credentials.expiration == parseISO8601("2027-01-15T08:30:00Z"))
        let request = try #require(transport.requests.first)
        #expect(request.method == "GET")
        #expect(request.url == "http://127.0.0.1:9/creds")
        #expect(request.proxy == .never)
        #expect(request.timeout == .seconds(2))
        #expect(request.headers.contains(HTTPHeader("Authorization", "tok-123")))
        #expect(request.headers.contains(HTTPHeader("Accept", "application/json")))
    }

    @Test func tokenFileIsReReadOnEveryFetchAndWinsOverTheVariable() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try "first-token".write(to: file, atomically: true, encoding: .utf8)
        let transport = FakeTransport(script: [.success(.json(200, credentialJSON))])
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:9/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": file.path,
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ignored",
                ], transport: transport))
        _ = try await provider.fetch()
        try "second-token".write(to: file, atomically: true, encoding: .utf8)
        _ = try await provider.fetch()
        #expect(
            transport.requests.map { $0.headers.first { $0.name == "Authorization" }?.value } == [
                "first-token", "second-token",
            ])

        try "third\n".write(to: file, atomically: true, encoding: .utf8)
        let error = await #expect(throws: CredentialError.self) { try await provider.fetch() }
        #expect(error?.kind == .configuration)
        #expect(transport.requests.count == 2)
    }

    /// Read like the SSRF token: a FIFO (here behind a link) is not waited on, and a
    /// file over 4 KiB is refused; each before any request, with the reason. A link to a regular
    /// file is followed, as botocore follows it (EKS Pod Identity's projected token is one).
    @Test func theTokenFileIsReadSafely() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent("target").path
        try "linked-token".write(toFile: target, atomically: true, encoding: .utf8)
        let link = folder.appendingPathComponent("link").path
        symlink(target, link)
        let fifo = folder.appendingPathComponent("fifo").path
        mkfifo(fifo, 0o600)
        let fifoLink = folder.appendingPathComponent("fifo-link").path
        symlink(fifo, fifoLink)
        let large = folder.appendingPathComponent("large").path
        try String(repeating: "t", count: 4097).write(toFile: large, atomically: true, encoding: .utf8)

        let linked = FakeTransport(script: [.success(.json(200, credentialJSON))])
        _ = try await #require(
            try ContainerCredentialProvider(
                environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:9/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": link,
                ], transport: linked)
        ).fetch()
        #expect(linked.requests.first?.headers.contains(HTTPHeader("Authorization", "linked-token")) == true)

        for (path, reason) in [
            (fifo, "not a regular file"), (fifoLink, "not a regular file"), (large, "larger than 4096 bytes"),
        ] {
            let transport = FakeTransport(script: [.success(.json(200, credentialJSON))])
            let provider = try #require(
                try ContainerCredentialProvider(
                    environment: [
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://localhost:9/creds",
                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": path,
                    ], transport: transport))
            let started = Date()
            let error = await #expect(throws: CredentialError.self) { try await provider.fetch() }
            #expect(error?.kind == .configuration)
            #expect("\(error.map { "\($0)" } ?? "")".contains(reason), "\(String(describing: error))")
            #expect(transport.requests.isEmpty)
            #expect(Date().timeIntervalSince(started) < 2, "waited on \(path)")
        }
    }

    @Test func threeAttemptsOnServerErrorsThenAClearError() async throws {
        let transport = FakeTransport(script: [.success(.json(500, "oops"))])
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/c"], transport: transport, pause: { _ in })
        )
        let error = await #expect(throws: CredentialError.self) { try await provider.fetch() }
        #expect(transport.requests.count == 3)
        #expect(error?.kind == .unavailable)
        #expect(
            error?.message
                == "ECS container credential endpoint http://169.254.170.2/v2/c answered HTTP 500 after 3 attempts")
    }

    @Test func recoversWithinItsAttempts() async throws {
        let refused = TransportError(kind: .connectionRefused, url: "http://169.254.170.2/v2/c", detail: "refused")
        let transport = FakeTransport(script: [
            .failure(refused), .success(.json(503, "")), .success(.json(200, credentialJSON)),
        ])
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/c"], transport: transport, pause: { _ in })
        )
        #expect(try await provider.fetch().accessKeyID == "ASIAEXAMPLE")
        #expect(transport.requests.count == 3)
    }

    @Test func unreachableEndpointNamesIt() async throws {
        let refused = TransportError(
            kind: .connectionRefused, url: "http://169.254.170.2/v2/c", detail: "Failed to connect")
        let transport = FakeTransport(script: [.failure(refused)])
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/c"], transport: transport, pause: { _ in })
        )
        let error = await #expect(throws: CredentialError.self) { try await provider.fetch() }
        #expect(error?.message.contains("http://169.254.170.2/v2/c") == true)
        #expect(transport.requests.count == 3)
    }

    @Test func refusedTokenIsNotRetried() async throws {
        let transport = FakeTransport(script: [.success(.json(403, "denied"))])
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/c"], transport: transport, pause: { _ in })
        )
        let error = await #expect(throws: CredentialError.self) { try await provider.fetch() }
        #expect(transport.requests.count == 1)
        #expect(error?.message.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN") == true)
    }

    @Test(arguments: [
        "not json at all", #"{"AccessKeyId":"A"}"#,
        #"{"AccessKeyId":"A","SecretAccessKey":"leaky-secret","Expiration":"tomorrow"}"#, "[]",
    ])
    func garbageIsAnInvalidResponseThatQuotesNothingSecret(_ body: String) async throws {
        let transport = FakeTransport(script: [.success(.json(200, body))])
        let provider = try #require(
            try ContainerCredentialProvider(
                environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/c"], transport: transport, pause: { _ in })
        )
        let error = await #expect(throws: CredentialError.self) { try await provider.fetch() }
        #expect(error?.kind == .invalidResponse)
        #expect(error?.message.contains("leaky-secret") == false)
    }
}

@Suite struct SharedFileAndIMDSTests {
    let file = """
        # comment
        [default]
        aws_access_key_id = AKIADEFAULT
        aws_secret_access_key = default-secret

        [dev]
        aws_access_key_id=AKIADEV
        aws_secret_access_key=dev-secret
        aws_session_token = dev-token
        """

    @Test func readsTheNamedProfile() async throws {
        let provider = try #require(
            try SharedCredentialsFileProvider(
                environment: ["HOME": "/home/me", "AWS_PROFILE": "dev"],
                readFile: { path in path == "/home/me/.aws/credentials" ? self.file : nil }))
        let credentials = try await provider.fetch()
        #expect(credentials.accessKeyID == "AKIADEV")
        #expect(credentials.sessionToken == "dev-token")
        let fallback = try #require(
            try SharedCredentialsFileProvider(
                environment: ["AWS_SHARED_CREDENTIALS_FILE": "/x"], readFile: { _ in self.file }))
        #expect(try await fallback.fetch().accessKeyID == "AKIADEFAULT")
    }

    @Test func missingFileIsNotConfiguredButAMissingNamedProfileIsAnError() throws {
        #expect(try SharedCredentialsFileProvider(environment: ["HOME": "/nowhere"], readFile: { _ in nil }) == nil)
        let error = #expect(throws: CredentialError.self) {
            try SharedCredentialsFileProvider(environment: ["AWS_PROFILE": "prod"], readFile: { _ in self.file })
        }
        #expect(error?.message.contains("[prod]") == true)
    }

    @Test func imdsV2TokenThenRoleThenCredentials() async throws {
        let transport = FakeTransport { request, _ in
            switch (request.method, request.url) {
            case ("PUT", "http://169.254.169.254/latest/api/token"): return .json(200, "imds-token")
            case ("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"):
                return .json(200, "app-role\n")
            case ("GET", "http://169.254.169.254/latest/meta-data/iam/security-credentials/app-role"):
                return .json(200, credentialJSON)
            default: return .json(404, "")
            }
        }
        let provider = try #require(InstanceMetadataProvider(environment: [:], transport: transport))
        #expect(try await provider.fetch().accessKeyID == "ASIAEXAMPLE")
        #expect(transport.requests.count == 3)
        #expect(transport.requests.allSatisfy { $0.proxy == .never })
        #expect(transport.requests[1].headers.contains(HTTPHeader("X-aws-ec2-metadata-token", "imds-token")))
        #expect(
            InstanceMetadataProvider(environment: ["AWS_EC2_METADATA_DISABLED": "true"], transport: transport) == nil)
    }

    @Test func chainOrder() throws {
        let transport = FakeTransport(script: [])
        let both = [
            "AWS_ACCESS_KEY_ID": "A", "AWS_SECRET_ACCESS_KEY": "S", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x",
        ]
        #expect(try CredentialChain.provider(environment: both, transport: transport) is EnvironmentCredentialProvider)
        let container = ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/x", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"]
        #expect(
            try CredentialChain.provider(environment: container, transport: transport) is ContainerCredentialProvider)
        let error = #expect(throws: CredentialError.self) {
            try CredentialChain.provider(
                environment: ["HOME": "/nowhere", "AWS_EC2_METADATA_DISABLED": "true"], transport: transport)
        }
        #expect(error?.message.contains("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") == true)
    }

    @Test func iso8601() {
        #expect(parseISO8601("2015-08-30T12:36:00Z") == Date(timeIntervalSince1970: 1_440_938_160))
        #expect(parseISO8601("2015-08-30T14:36:00+02:00") == Date(timeIntervalSince1970: 1_440_938_160))
        #expect(parseISO8601("2015-08-30T12:36:00.500Z") == Date(timeIntervalSince1970: 1_440_938_160.5))
        #expect(parseISO8601("2000-02-29T00:00:00Z") == Date(timeIntervalSince1970: 951_782_400))
        for bad in [
            "", "2015-08-30", "2015-13-01T00:00:00Z", "2015-08-30T12:36:00", "tomorrow", "2015-08-30T12:36:00Zjunk",
        ] {
            #expect(parseISO8601(bad) == nil, "\(bad)")
        }
    }
}

/// Profiles in the config file (`~/.aws/config`), as botocore reads them: a `credential_process`
/// (how SSO users export their credentials) or static keys, after the credentials file.
@Suite struct ConfigFileProfileTests {
    /// A folder with a config file and the process's script; `script` is the script's body.
    func folder(config: (String) -> String, script: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try script.write(toFile: "\(folder)/creds.sh", atomically: true, encoding: .utf8)
        try config(folder).write(toFile: "\(folder)/config", atomically: true, encoding: .utf8)
        return folder
    }

    @Test func aCredentialProcessGivesItsCredentialsAndGetsNoneOfOurs() async throws {
        let folder = try folder(
            config: { #"[profile ops]\#ncredential_process = /bin/sh "\#($0)/creds.sh" --flag 'with space'\#n"# },
            script: """
                printf '%s\\n' "$@" > "$(dirname "$0")/arguments"
                env | cut -d= -f1 | sort > "$(dirname "$0")/names"
                echo "a line on standard error" >&2
                printf '{"Version": 1, "AccessKeyId": "AKIAPROCESS", "SecretAccessKey": "process-secret", "SessionToken": "process-token", "Expiration": "2026-12-02T20:00:00Z"}'
                """)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let provider = try #require(
            try SharedCredentialsFileProvider(environment: [
                "HOME": "/nowhere", "AWS_CONFIG_FILE": "\(folder)/config", "AWS_PROFILE": "ops", "AWS_TOKEN": "ssrf",
                "PATH": "/usr/bin:/bin",
            ]))
        #expect(provider.name == "credential_process of profile [ops] in \(folder)/config")
        let credentials = try await provider.fetch()
        #expect(credentials.accessKeyID == "AKIAPROCESS")
        #expect(credentials.secretAccessKey == "process-secret")
        #expect(credentials.sessionToken == "process-token")
        #expect(credentials.expiration == parseISO8601("2026-12-02T20:00:00Z"))
        #expect(try String(contentsOfFile: "\(folder)/arguments", encoding: .utf8) == "--flag\nwith space\n")
        let names = try String(contentsOfFile: "\(folder)/names", encoding: .utf8).split(separator: "\n")
        #expect(names.contains("AWS_PROFILE") && names.contains("HOME") && !names.contains("AWS_TOKEN"), "\(names)")
    }

    @Test func aProcessThatFailsOrPrintsNoCredentialsIsAnErrorThatRepeatsNothing() async throws {
        for (script, expected) in [
            (
                "echo '{\"AccessKeyId\": \"AKIA\", \"SecretAccessKey\": \"leaked-secret\"}'; exit 3",
                "exited with status 3"
            ),
            ("echo '{\"Version\": 2, \"AccessKeyId\": \"AKIA\", \"SecretAccessKey\": \"leaked-secret\"}'", "Version"),
            ("echo 'leaked-secret is not JSON'", "did not print a JSON object"),
            ("echo '{\"Version\": 1, \"SecretAccessKey\": \"leaked-secret\"}'", "no AccessKeyId"),
        ] {
            let folder = try folder(
                config: { "[default]\ncredential_process = /bin/sh \($0)/creds.sh\n" }, script: script)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            let provider = try #require(
                try SharedCredentialsFileProvider(environment: ["HOME": folder, "AWS_CONFIG_FILE": "\(folder)/config"]))
            let error = await #expect(throws: CredentialError.self) { try await provider.fetch() }
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("leaked-secret") == false)
        }
    }

    @Test func staticKeysInTheConfigFileAndWhereTheProfileIsLookedFor() throws {
        let config = """
            [default]
            aws_access_key_id = AKIACONFIGDEFAULT
            aws_secret_access_key = config-default
            [profile dev]
            aws_access_key_id = AKIACONFIGDEV
            aws_secret_access_key = config-dev
            [sso-only]
            aws_access_key_id = AKIANOTAPROFILE
            aws_secret_access_key = not-a-profile
            """
        let files = ["/home/me/.aws/config": config]
        let dev = try #require(
            try SharedCredentialsFileProvider(
                environment: ["HOME": "/home/me", "AWS_PROFILE": "dev"], readFile: { files[$0] }))
        #expect(dev.name == "config file /home/me/.aws/config [profile dev]")
        let fallback = try #require(
            try SharedCredentialsFileProvider(environment: ["HOME": "/home/me"], readFile: { files[$0] }))
        #expect(fallback.name == "config file /home/me/.aws/config [profile default]")
        // In the config file a profile is `[profile NAME]`: a bare `[NAME]` section is not one.
        let error = #expect(throws: CredentialError.self) {
            try SharedCredentialsFileProvider(
                environment: ["HOME": "/home/me", "AWS_PROFILE": "sso-only"], readFile: { files[$0] })
        }
        #expect(
            error?.message
                == "profile [sso-only] (AWS_PROFILE) is not in /home/me/.aws/credentials or /home/me/.aws/config")
        // The credentials file comes first.
        let both = [
            "/home/me/.aws/config": config,
            "/home/me/.aws/credentials": "[dev]\naws_access_key_id = AKIAFILE\naws_secret_access_key = s\n",
        ]
        let first = try #require(
            try SharedCredentialsFileProvider(
                environment: ["HOME": "/home/me", "AWS_PROFILE": "dev"], readFile: { both[$0] }))
        #expect(first.name == "shared credentials file /home/me/.aws/credentials [dev]")
    }

    /// A FIFO, a folder or an oversized file where a shared file should be is read as absent, at
    /// once: `get` never hangs on one.
    @Test func aFIFOOrAHugeFileIsNotWaitedOnOrReadWhole() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("profile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(mkfifo("\(folder)/fifo", 0o600) == 0)
        try String(repeating: "# padding\n", count: 120_000).write(
            toFile: "\(folder)/huge", atomically: true, encoding: .utf8)
        for path in ["\(folder)/fifo", folder, "\(folder)/huge"] {
            #expect(SharedCredentialsFileProvider.readProfileFile(path) == nil, "\(path)")
            #expect(
                try SharedCredentialsFileProvider(environment: [
                    "HOME": "/nowhere", "AWS_CONFIG_FILE": path, "AWS_SHARED_CREDENTIALS_FILE": path,
                ]) == nil)
        }
        try "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\n".write(
            toFile: "\(folder)/config", atomically: true, encoding: .utf8)
        #expect(SharedCredentialsFileProvider.readProfileFile("\(folder)/config")?.hasPrefix("[default]") == true)
    }

    /// Python's `shlex.split`, which botocore uses for `credential_process`.
    @Test func commandLinesSplitAsAShellWould() {
        #expect(
            shellWords(#"aws configure export-credentials --profile ops --format process"#) == [
                "aws", "configure", "export-credentials", "--profile", "ops", "--format", "process",
            ])
        #expect(
            shellWords(#"/bin/sh -c 'echo "$HOME"' "a b" c\ d "e\"f" "g\h""#) == [
                "/bin/sh", "-c", #"echo "$HOME""#, "a b", "c d", #"e"f"#, #"g\h"#,
            ])
        #expect(shellWords("''") == [""])
        #expect(shellWords("unclosed 'quote") == nil)
        #expect(shellWords("   ") == [])
    }
}
