import AWSCredentials
import Foundation
import HTTPTransport
import TestSupport
import Testing

@testable import SecretsManager

/// The Parameter Store client: `GetParameters` and `GetParametersByPath`
/// against moto, which verifies the SigV4 signature (service `ssm`), seeded by the harness's
/// admin user.
@Suite(.enabled(if: pythonHasModule("moto") && pythonHasModule("boto3"), "moto[server] and boto3 are not installed"))
struct ParameterStoreClientTests {
    /// The harness's admin keys, which moto's IAM allows everything.
    static func client(_ peers: PeerProcess) throws -> ParameterStoreClient {
        let provider = try EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": peers.string("adminAccessKeyId"),
            "AWS_SECRET_ACCESS_KEY": peers.string("adminSecretAccessKey"),
        ])!
        let endpoint = try Endpoint.resolve(
            environment: ["AWS_ENDPOINT_URL_SSM": peers.string("endpoint")], configured: "http://127.0.0.1:1/not-this",
            region: peers.string("region"), service: .parameterStore)
        return ParameterStoreClient(
            AWSJSONClient(
                configuration: .init(service: .parameterStore, endpoint: endpoint, region: peers.string("region")),
                credentials: RefreshingCredentials(provider: provider), transport: CurlTransport()))
    }

    @Test func getParametersReadsEachTypeSelectorsAndInvalidNamesInCallsOfTen() async throws {
        let peers = try await PeerProcess.start(
            python: Repository.root.appendingPathComponent("scripts/harness/aws_peers.py"), timeout: 90)
        defer { peers.stop() }
        try await peers.admin(["ssm-put", "/pipeline-pulse/prod/region", "ap-southeast-1"])
        try await peers.admin(["ssm-put", "/pipeline-pulse/prod/db-pass", "old p@ss:w/rd", "SecureString", "previous"])
        try await peers.admin(["ssm-put", "/pipeline-pulse/prod/db-pass", "new p@ss:w/rd", "SecureString"])
        try await peers.admin(["ssm-put", "/pipeline-pulse/prod/hosts", "a.example,b.example", "StringList"])
        try await peers.admin(["ssm-put", "db-pass", "a name without a slash", "SecureString"])
        let client = try Self.client(peers)

        let result = try await client.getParameters(names: [
            "/pipeline-pulse/prod/region", "/pipeline-pulse/prod/db-pass", "/pipeline-pulse/prod/hosts", "db-pass",
            "/pipeline-pulse/prod/nope",
        ])
        func answer(_ name: String) -> Parameter? { result.parameters.first { $0.name == name } }
        #expect(answer("/pipeline-pulse/prod/region")?.value == "ap-southeast-1")
        #expect(answer("/pipeline-pulse/prod/region")?.type == "String")
        let current = try #require(answer("/pipeline-pulse/prod/db-pass"), "\(result.parameters)")
        #expect(current.value == "new p@ss:w/rd" && current.type == "SecureString" && current.version == 2)
        #expect(answer("/pipeline-pulse/prod/hosts")?.value == "a.example,b.example")
        #expect(answer("/pipeline-pulse/prod/hosts")?.type == "StringList")
        #expect(answer("db-pass")?.value == "a name without a slash")
        #expect(result.invalid == ["/pipeline-pulse/prod/nope"])
        // Selectors: a version and a label. (AWS answers which selector each answer is for in
        // `Selector`; moto does not, so each is asked alone here.)
        for selector in ["1", "previous"] {
            let old = try await client.getParameters(names: ["/pipeline-pulse/prod/db-pass:\(selector)"])
            #expect(old.parameters.map(\.value) == ["old p@ss:w/rd"] && old.parameters.map(\.version) == [1])
        }
        #expect(!"\(current)".contains("p@ss"), "a parameter never prints its value")

        // Twenty-five names: three calls.
        try await peers.admin(["ssm-seed", "/pipeline-pulse/many/p", "25"])
        let before = client.apiCalls["GetParameters"] ?? 0
        let many = try await client.getParameters(names: (0..<25).map { "/pipeline-pulse/many/p\($0)" })
        #expect(many.parameters.count == 25 && many.invalid.isEmpty)
        #expect((client.apiCalls["GetParameters"] ?? 0) - before == 3)

        // A path, recursively, paged (moto answers ten a page).
        let path = try await client.parameterNames(underPath: "/pipeline-pulse/")
        #expect(Set(path).count == 28, "\(path)")
        #expect((client.apiCalls["GetParametersByPath"] ?? 0) >= 3)
    }

    /// A denied call is Parameter Store's own error, naming the `ssm:` permission and the
    /// parameter's ARN (never a value), and a client for Secrets Manager keeps its endpoint and
    /// signing name.
    @Test func theServiceSetsTheSigningNameTargetAndEndpoint() async throws {
        let transport = FakeTransport { request, _ in
            HTTPResponse(
                status: 400, headers: [],
                body: Array(
                    #"{"__type":"AccessDeniedException","message":"not authorized to perform: ssm:GetParameters"}"#.utf8
                ))
        }
        let provider = try EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
        ])!
        let endpoint = try Endpoint.resolve(
            environment: [:], configured: nil, region: "ap-southeast-1", service: .parameterStore)
        #expect(endpoint.url == "https://ssm.ap-southeast-1.amazonaws.com/")
        let client = ParameterStoreClient(
            AWSJSONClient(
                configuration: .init(service: .parameterStore, endpoint: endpoint, region: "ap-southeast-1"),
                credentials: RefreshingCredentials(provider: provider), transport: transport, sleep: { _ in }))
        let error = await #expect(throws: ParameterStoreError.self) {
            try await client.getParameters(names: ["/pipeline-pulse/prod/db-pass"])
        }
        #expect(error?.category == .accessDenied && error?.operation == "GetParameters")
        #expect(error?.service == .parameterStore)
        #expect(
            error?.description
                == "AccessDeniedException for /pipeline-pulse/prod/db-pass: the task role needs ssm:GetParameters on arn:aws:ssm:ap-southeast-1:*:parameter/pipeline-pulse/prod/db-pass (AWS: not authorized to perform: ssm:GetParameters)"
        )
        let request = try #require(transport.requests.first)
        func header(_ name: String) -> String? {
            request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
        #expect(header("X-Amz-Target") == "AmazonSSM.GetParameters")
        #expect(header("Authorization")?.contains("/ap-southeast-1/ssm/aws4_request") == true)
        #expect(
            try Endpoint.resolve(environment: [:], configured: nil, region: "ap-southeast-1").url
                == "https://secretsmanager.ap-southeast-1.amazonaws.com/")
    }
}

/// Parameter Store's errors, offline.
@Suite struct ParameterStoreErrorTests {
    /// Parameter Store's failures name Parameter Store, its resource and its endpoint variable, not
    /// Secrets Manager's; its calls are retried as every AWS JSON call is.
    @Test func failuresNameParameterStore() async throws {
        let provider = try EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
        ])!
        func client(_ transport: FakeTransport) throws -> ParameterStoreClient {
            ParameterStoreClient(
                AWSJSONClient(
                    configuration: .init(
                        service: .parameterStore, endpoint: try Endpoint(url: "http://127.0.0.1:1", origin: "test"),
                        region: "ap-southeast-1"),
                    credentials: RefreshingCredentials(provider: provider), transport: transport, sleep: { _ in }))
        }
        let refused = FakeTransport { request, _ in
            throw TransportError(kind: .connectionRefused, url: request.url, detail: "Failed to connect")
        }
        let network = await #expect(throws: ParameterStoreError.self) {
            try await client(refused).parameterNames(underPath: "/pipeline-pulse/")
        }
        #expect(refused.requests.count == 3)
        #expect(network?.category == .network)
        #expect(
            network?.description.hasPrefix("Parameter Store GetParametersByPath failed after 3 attempts: ") == true,
            "\(network.map { "\($0)" } ?? "")")
        #expect(network?.description.contains("or AWS_ENDPOINT_URL_SSM") == true)
        #expect(network?.description.contains("Secrets Manager") == false)

        let missing = FakeTransport { _, _ in
            .json(400, #"{"__type":"ParameterVersionNotFound","message":"Version 9 not found"}"#)
        }
        let notFound = await #expect(throws: ParameterStoreError.self) {
            try await client(missing).getParameters(names: ["/pipeline-pulse/prod/db-pass:9"])
        }
        #expect(
            notFound?.description
                == "ParameterVersionNotFound: parameter /pipeline-pulse/prod/db-pass:9 not found in region ap-southeast-1 (AWS: Version 9 not found); check the parameter's name and the region"
        )
    }
}
