import AWSCredentials
import AWSSigning
import Foundation
import HTTPTransport
import Synchronization
import TestSupport
import Testing

@testable import SecretsManager

/// Static keys that count their fetches and change on each one (KEY1, KEY2, …).
final class SequenceProvider: CredentialProvider, @unchecked Sendable {
    let name = "test keys"
    let fetches = Atomic<Int>(0)
    func fetch() async throws(CredentialError) -> Credentials {
        let number = fetches.add(1, ordering: .relaxed).newValue
        return Credentials(
            accessKeyID: "KEY\(number)", secretAccessKey: "secret\(number)", sessionToken: "token\(number)",
            source: "test")
    }
}

final class SleepRecorder: @unchecked Sendable {
    let sleeps = Mutex<[Duration]>([])
    var recorded: [Duration] { sleeps.withLock { $0 } }
    func record(_ duration: Duration) { sleeps.withLock { $0.append(duration) } }
}

struct Harness {
    let transport: FakeTransport
    let provider = SequenceProvider()
    let sleeps = SleepRecorder()
    let clock: ManualClock
    let client: SecretsManagerClient

    init(
        maxAttempts: Int = 3, endpoint: String = "http://127.0.0.1:4566", random: Double = 1.0,
        clock: ManualClock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000)),
        _ handler: @escaping FakeTransport.Handler
    ) throws {
        self.clock = clock
        transport = FakeTransport(handler)
        let sleeps = self.sleeps
        client = SecretsManagerClient(
            AWSJSONClient(
                configuration: .init(
                    service: .secretsManager, endpoint: try Endpoint(url: endpoint, origin: "test"),
                    region: "ap-southeast-1", maxAttempts: maxAttempts),
                credentials: RefreshingCredentials(provider: provider, clock: clock), transport: transport,
                clock: clock, sleep: { sleeps.record($0) }, random: { random }))
    }

    static func target(_ request: HTTPRequest) -> String {
        request.headers.first { $0.name == "X-Amz-Target" }?.value ?? ""
    }
    static func body(_ request: HTTPRequest) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any]) ?? [:]
    }
}

let databaseJSON =
    #"{"username":"pp_app","password":"p@ss:w/rd?#1","host":"db.internal","port":5432,"database":"pipeline_pulse"}"#

func secretValueJSON(_ name: String, value: String = databaseJSON, version: String = "v1") -> String {
    let escaped = String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    return
        #"{"ARN":"arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:\#(name)-AbCdEf","Name":"\#(name)","VersionId":"\#(version)","SecretString":\#(escaped),"VersionStages":["AWSCURRENT"],"CreatedDate":1.523477145713E9}"#
}

@Suite struct ClientRequestTests {
    @Test func getSecretValueIsASignedJSONCall() async throws {
        let harness = try Harness { _, _ in .json(200, secretValueJSON("pipeline-pulse/prod/database")) }
        let value = try await harness.client.getSecretValue(
            id: "pipeline-pulse/prod/database", versionStage: "AWSCURRENT")
        #expect(value.secretString == databaseJSON)
        #expect(value.versionID == "v1")
        #expect(value.createdDate == Date(timeIntervalSince1970: 1.523477145713E9))
        #expect(!"\(value)".contains("p@ss"))

        let request = try #require(harness.transport.requests.first)
        #expect(request.method == "POST")
        #expect(request.url == "http://127.0.0.1:4566/")
        #expect(request.proxy == .fromEnvironment)
        func header(_ name: String) -> String? {
            request.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
        #expect(header("Host") == "127.0.0.1:4566")
        #expect(header("Content-Type") == "application/x-amz-json-1.1")
        #expect(header("X-Amz-Target") == "secretsmanager.GetSecretValue")
        #expect(header("User-Agent") == "secrets-injector/\(secretsInjectorVersion)")
        #expect(header("X-Amz-Security-Token") == "token1")
        #expect(header("X-Amz-Date") == "20270115T080000Z")
        let authorization = try #require(header("Authorization"))
        #expect(
            authorization.hasPrefix(
                "AWS4-HMAC-SHA256 Credential=KEY1/20270115/ap-southeast-1/secretsmanager/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
            ))
        #expect(Harness.body(request)["SecretId"] as? String == "pipeline-pulse/prod/database")
        #expect(Harness.body(request)["VersionStage"] as? String == "AWSCURRENT")
        #expect(Harness.body(request)["VersionId"] == nil)

        // The signature is the signer's for exactly these bytes.
        let signer = SigV4Signer(
            credentials: SigningCredentials(accessKeyID: "KEY1", secretAccessKey: "secret1", sessionToken: "token1"),
            region: "ap-southeast-1", service: "secretsmanager")
        let expected = try signer.sign(
            SigV4Request(
                method: "POST",
                headers: [
                    HTTPHeaderField("Host", "127.0.0.1:4566"),
                    HTTPHeaderField("Content-Type", "application/x-amz-json-1.1"),
                    HTTPHeaderField("X-Amz-Target", "secretsmanager.GetSecretValue"),
                ], body: request.body),
            date: harness.clock.now())
        #expect(authorization == expected.authorization)
    }

    @Test func binarySecretsAreDecoded() async throws {
        let harness = try Harness { _, _ in
            .json(
                200,
                #"{"ARN":"arn:x","Name":"bin","VersionId":"v9","SecretBinary":"AAEC/w==","VersionStages":["AWSCURRENT"]}"#
            )
        }
        let value = try await harness.client.getSecretValue(id: "bin")
        #expect(value.secretBinary == [0, 1, 2, 255])
        #expect(value.bytes == [0, 1, 2, 255])
        #expect(value.secretString == nil)
    }

    @Test func garbageSuccessBodyIsAServiceErrorThatQuotesNothing() async throws {
        let harness = try Harness { _, _ in .json(200, #"{"SecretString": "hunter2-leak" "#) }
        let error = await #expect(throws: SecretsManagerError.self) { try await harness.client.getSecretValue(id: "x") }
        #expect(error?.category == .service)
        #expect(error?.description.contains("hunter2") == false)
    }

    @Test func describeSecretDecodesVersionsAndRotation() async throws {
        let harness = try Harness { _, _ in
            .json(
                200,
                #"{"ARN":"arn:x","Name":"pipeline-pulse/prod/jwt","VersionIdsToStages":{"v1":["AWSPREVIOUS"],"v2":["AWSCURRENT","AWSPENDING"]},"NextRotationDate":1800003600,"RotationEnabled":true,"LastChangedDate":1799999000.5}"#
            )
        }
        let description = try await harness.client.describeSecret(id: "pipeline-pulse/prod/jwt")
        #expect(description.currentVersionID == "v2")
        #expect(description.nextRotationDate == Date(timeIntervalSince1970: 1_800_003_600))
        #expect(description.rotationEnabled == true)
        #expect(Harness.target(harness.transport.requests[0]) == "secretsmanager.DescribeSecret")
    }

    /// What a review reads: rules, dates, the key, replicas, the description and tags.
    @Test func describeSecretDecodesWhatAReviewReads() async throws {
        let harness = try Harness { _, _ in
            .json(
                200,
                #"{"ARN":"arn:x","Name":"db","VersionIdsToStages":{"v1":["AWSCURRENT"]},"RotationEnabled":true,"RotationRules":{"AutomaticallyAfterDays":30},"LastRotatedDate":1790000000,"LastAccessedDate":1799884800,"CreatedDate":1700000000.25,"KmsKeyId":"arn:aws:kms:ap-southeast-1:123456789012:key/k","PrimaryRegion":"ap-southeast-1","ReplicationStatus":[{"Region":"ap-south-1","Status":"InSync"},{"Region":"eu-west-1","Status":"Failed","StatusMessage":"no key"}],"Description":"the app's database","Tags":[{"Key":"team","Value":"pulse"}]}"#
            )
        }
        let description = try await harness.client.describeSecret(id: "db")
        #expect(description.rotationRules?.automaticallyAfterDays == 30)
        #expect(description.lastRotatedDate == Date(timeIntervalSince1970: 1_790_000_000))
        #expect(description.lastAccessedDate == Date(timeIntervalSince1970: 1_799_884_800))
        #expect(description.createdDate == Date(timeIntervalSince1970: 1_700_000_000.25))
        #expect(description.kmsKeyID == "arn:aws:kms:ap-southeast-1:123456789012:key/k")
        #expect(description.replicationStatus.map(\.status) == ["InSync", "Failed"])
        #expect(description.summary == "the app's database")
        #expect(description.tags == [SecretTag(key: "team", value: "pulse")])
    }

    @Test func versionsArePagedAndAPolicyMayBeAbsent() async throws {
        let harness = try Harness { request, _ in
            switch (Harness.target(request), Harness.body(request)["NextToken"] as? String) {
            case ("secretsmanager.ListSecretVersionIds", nil):
                return .json(
                    200,
                    #"{"Versions":[{"VersionId":"v1","VersionStages":["AWSPREVIOUS"],"CreatedDate":1}],"NextToken":"2"}"#
                )
            case ("secretsmanager.ListSecretVersionIds", "2"?):
                return .json(200, #"{"Versions":[{"VersionId":"v2","VersionStages":["AWSCURRENT"],"CreatedDate":2}]}"#)
            default:
                return .json(200, #"{"ARN":"arn:x","Name":"db"}"#)
            }
        }
        let versions = try await harness.client.listSecretVersionIDs(id: "db")
        #expect(versions.map(\.versionID) == ["v1", "v2"])
        #expect(versions.last?.createdDate == Date(timeIntervalSince1970: 2))
        #expect(try await harness.client.getResourcePolicy(id: "db") == nil)
    }
}

@Suite struct ClientErrorTests {
    @Test(arguments: [
        (
            404,
            #"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
            "ResourceNotFoundException", "Secrets Manager can't find the specified secret."
        ),
        (
            400,
            #"{"__type":"com.amazonaws.secretsmanager#AccessDeniedException:http://internal.amazon.com/coral/","Message":"User is not authorized"}"#,
            "AccessDeniedException", "User is not authorized"
        ),
        (
            403,
            "<?xml version=\"1.0\"?><ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: secretsmanager:GetSecretValue</Message></Error></ErrorResponse>",
            "AccessDenied",
            "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to perform: secretsmanager:GetSecretValue"
        ),
    ])
    func errorBodies(status: Int, body: String, code: String, message: String) {
        let parsed = AWSJSONClient.parseError(.json(status, body))
        #expect(parsed.code == code)
        #expect(parsed.message == message)
    }

    @Test func errorTypeHeaderAndBareStatus() {
        #expect(
            AWSJSONClient.parseError(
                .json(400, "", headers: [HTTPHeader("x-amzn-ErrorType", "ThrottlingException:http://x")])
            ).code == "ThrottlingException")
        #expect(AWSJSONClient.parseError(.json(502, "<html>bad gateway</html>")).code == "HTTP502")
    }

    @Test func notFoundNamesTheSecretAndTheRegionAndIsNotRetried() async throws {
        let harness = try Harness { _, _ in
            .json(
                404,
                #"{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#)
        }
        let error = await #expect(throws: SecretsManagerError.self) {
            try await harness.client.getSecretValue(id: "pipeline-pulse/prod/nope")
        }
        #expect(error?.category == .notFound)
        #expect(
            error?.description
                == "ResourceNotFoundException: secret pipeline-pulse/prod/nope not found in region ap-southeast-1 (AWS: Secrets Manager can't find the specified secret.); check the secret's name and the region"
        )
        #expect(harness.transport.requests.count == 1)
    }

    @Test func accessDeniedNamesTheActionAndTheSecret() async throws {
        let harness = try Harness { _, _ in
            .json(
                403,
                "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not\nauthorized</Message></Error></ErrorResponse>"
            )
        }
        let error = await #expect(throws: SecretsManagerError.self) {
            try await harness.client.getSecretValue(id: "pipeline-pulse/prod/zoho")
        }
        #expect(error?.category == .accessDenied)
        #expect(
            error?.description
                == "AccessDenied for pipeline-pulse/prod/zoho: the task role needs secretsmanager:GetSecretValue on arn:aws:secretsmanager:ap-southeast-1:*:secret:pipeline-pulse/prod/zoho-* (AWS: not authorized)"
        )
        #expect(harness.transport.requests.count == 1)
    }

    @Test func throttlingIsRetriedWithStandardBackoff() async throws {
        let harness = try Harness { _, index in
            index < 2
                ? .json(400, #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
                : .json(200, secretValueJSON("a"))
        }
        #expect(try await harness.client.getSecretValue(id: "a").name == "a")
        #expect(harness.transport.requests.count == 3)
        // random() = 1: delays are min(2^(attempt-1), 20) seconds.
        #expect(harness.sleeps.recorded == [.seconds(1), .seconds(2)])
        // Every attempt is signed anew.
        #expect(harness.client.apiCalls["GetSecretValue"] == 3)
    }

    @Test func retriesStopAtMaxAttempts() async throws {
        let harness = try Harness(maxAttempts: 5, random: 0.5) { _, _ in .json(503, "<html>unavailable</html>") }
        let error = await #expect(throws: SecretsManagerError.self) { try await harness.client.getSecretValue(id: "a") }
        #expect(harness.transport.requests.count == 5)
        #expect(error?.category == .service)
        #expect(error?.attempts == 5)
        #expect(harness.sleeps.recorded == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)])
        #expect(
            error?.description
                == "Secrets Manager GetSecretValue failed after 5 attempts at http://127.0.0.1:4566/: HTTP503")
    }

    @Test func refusedConnectionsAreRetriedAndNameTheEndpoint() async throws {
        let harness = try Harness { request, _ in
            throw TransportError(
                kind: .connectionRefused, url: request.url, detail: "Failed to connect to 127.0.0.1 port 4566")
        }
        let error = await #expect(throws: SecretsManagerError.self) { try await harness.client.getSecretValue(id: "a") }
        #expect(harness.transport.requests.count == 3)
        #expect(error?.category == .network)
        #expect(error?.description.contains("cannot connect to http://127.0.0.1:4566/") == true)
        #expect(error?.description.contains("check the route to Secrets Manager") == true)
        #expect(error?.description.contains("AWS_ENDPOINT_URL_SECRETS_MANAGER") == true)
    }

    @Test func expiredTokenForcesOneCredentialRefresh() async throws {
        let harness = try Harness { request, _ in
            let key = request.headers.first { $0.name == "Authorization" }!.value
            return key.contains("Credential=KEY1/")
                ? .json(
                    400,
                    #"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#
                ) : .json(200, secretValueJSON("a"))
        }
        #expect(try await harness.client.getSecretValue(id: "a").name == "a")
        #expect(harness.provider.fetches.load(ordering: .relaxed) == 2)
        #expect(harness.transport.requests.count == 2)
        #expect(harness.sleeps.recorded.isEmpty)
    }

    @Test func unrecognizedClientTwiceIsAnAuthenticationError() async throws {
        let harness = try Harness { _, _ in
            .json(
                400,
                #"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#
            )
        }
        let error = await #expect(throws: SecretsManagerError.self) { try await harness.client.getSecretValue(id: "a") }
        #expect(error?.category == .authentication)
        #expect(harness.provider.fetches.load(ordering: .relaxed) == 2)
        #expect(harness.transport.requests.count == 2)
    }

    @Test func clockSkewIsLearnedFromTheDateHeaderAndRetriedOnce() async throws {
        // The server's clock is one hour ahead of ours and refuses signatures more than 5 min off.
        let clock = ManualClock(Date(timeIntervalSince1970: 1_800_000_000))
        let serverOffset: TimeInterval = 3600
        let serverDate = "Fri, 15 Jan 2027 09:00:00 GMT"  // 1_800_003_600
        let harness = try Harness(clock: clock) { request, _ in
            let amzDate = request.headers.first { $0.name == "X-Amz-Date" }!.value
            let signedAt = AMZDate(clock.now().addingTimeInterval(serverOffset)).dateTime
            if amzDate != signedAt {
                return .json(
                    400,
                    #"{"__type":"InvalidSignatureException","message":"Signature expired: \#(amzDate) is now earlier than 20270115T085500Z (20270115T090000Z - 5 min.)"}"#,
                    headers: [HTTPHeader("Date", serverDate)])
            }
            return .json(200, secretValueJSON("a"), headers: [HTTPHeader("Date", serverDate)])
        }
        #expect(try await harness.client.getSecretValue(id: "a").name == "a")
        #expect(harness.transport.requests.count == 2)
        #expect(abs(harness.client.jsonClient.clockSkew - serverOffset) < 1)
        // The next call is signed with the corrected clock at once.
        _ = try await harness.client.getSecretValue(id: "a")
        #expect(harness.transport.requests.count == 3)
    }

    @Test func skewErrorWithoutRealSkewIsNotRetried() async throws {
        let harness = try Harness { _, _ in
            .json(
                400, #"{"__type":"InvalidSignatureException","message":"Signature expired: x"}"#,
                headers: [HTTPHeader("Date", "Fri, 15 Jan 2027 08:00:00 GMT")])
        }
        let error = await #expect(throws: SecretsManagerError.self) { try await harness.client.getSecretValue(id: "a") }
        #expect(error?.category == .authentication)
        #expect(harness.transport.requests.count == 1)
    }

    @Test func httpDates() {
        #expect(parseHTTPDate("Fri, 15 Jan 2027 09:00:00 GMT") == Date(timeIntervalSince1970: 1_800_003_600))
        #expect(parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") == Date(timeIntervalSince1970: 784_111_777))
        #expect(parseHTTPDate("yesterday") == nil)
    }
}

@Suite struct ClientPaginationTests {
    @Test func batchGetSplitsIntoCallsOfTwentyAndReportsPerSecretErrors() async throws {
        let harness = try Harness { request, _ in
            let ids = Harness.body(request)["SecretIdList"] as! [String]
            let values = ids.filter { !$0.hasSuffix("7") }.map { secretValueJSON($0) }
            let errors = ids.filter { $0.hasSuffix("7") }.map {
                #"{"SecretId":"\#($0)","ErrorCode":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}"#
            }
            return .json(
                200,
                #"{"SecretValues":[\#(values.joined(separator: ","))],"Errors":[\#(errors.joined(separator: ","))]}"#)
        }
        let ids = (0..<45).map { "app/secret-\($0)" }
        let result = try await harness.client.batchGetSecretValue(ids: ids)
        #expect(
            harness.transport.requests.map { (Harness.body($0)["SecretIdList"] as! [String]).count } == [20, 20, 5])
        #expect(result.values.count == 41)
        #expect(result.errors.map(\.resourceID) == ["app/secret-7", "app/secret-17", "app/secret-27", "app/secret-37"])
        #expect(result.errors.allSatisfy { $0.category == .notFound })
        #expect(result.errors.first?.description.contains("app/secret-7 not found in region ap-southeast-1") == true)
    }

    @Test func batchGetFollowsNextToken() async throws {
        let harness = try Harness { request, _ in
            Harness.body(request)["NextToken"] == nil
                ? .json(200, #"{"SecretValues":[\#(secretValueJSON("a"))],"Errors":[],"NextToken":"page2"}"#)
                : .json(200, #"{"SecretValues":[\#(secretValueJSON("b"))],"Errors":[]}"#)
        }
        let result = try await harness.client.batchGetSecretValue(ids: ["a", "b"])
        #expect(result.values.map(\.name) == ["a", "b"])
        #expect(harness.transport.requests.count == 2)
        #expect(Harness.body(harness.transport.requests[1])["SecretIdList"] as? [String] == ["a", "b"])
    }

    @Test func listSecretsPagesUntilNoTokenEvenAfterAnEmptyPage() async throws {
        let entry = { (name: String) in
            #"{"ARN":"arn:\#(name)","Name":"\#(name)","SecretVersionsToStages":{"v1":["AWSCURRENT"]},"LastChangedDate":1800000000}"#
        }
        let pages = [
            #"{"SecretList":[\#(entry("pipeline-pulse/prod/database")),\#(entry("pipeline-pulse/prod/zoho"))],"NextToken":"t1"}"#,
            #"{"SecretList":[],"NextToken":"t2"}"#,
            #"{"SecretList":[\#(entry("pipeline-pulse/prod/jwt"))]}"#,
        ]
        let harness = try Harness { _, index in .json(200, pages[index]) }
        let entries = try await harness.client.listSecrets(namePrefix: "pipeline-pulse/prod/")
        #expect(
            entries.map(\.name) == [
                "pipeline-pulse/prod/database", "pipeline-pulse/prod/zoho", "pipeline-pulse/prod/jwt",
            ])
        #expect(entries.first?.currentVersionID == "v1")
        let bodies = harness.transport.requests.map(Harness.body)
        #expect(bodies.map { $0["NextToken"] as? String } == [nil, "t1", "t2"])
        #expect(bodies.allSatisfy { $0["MaxResults"] as? Int == 100 })
        let filters = bodies[0]["Filters"] as? [[String: Any]]
        #expect(filters?.first?["Key"] as? String == "name")
        #expect(filters?.first?["Values"] as? [String] == ["pipeline-pulse/prod/"])
    }

    @Test func listSecretsRefusesALoopingToken() async throws {
        let harness = try Harness { _, _ in .json(200, #"{"SecretList":[],"NextToken":"same"}"#) }
        await #expect(throws: SecretsManagerError.self) { try await harness.client.listSecrets() }
        #expect(harness.transport.requests.count == 2)
    }
}

@Suite struct EndpointAndRegionTests {
    @Test func endpointPrecedence() throws {
        let env = [
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL": "http://127.0.0.1:6000",
        ]
        #expect(
            try Endpoint.resolve(environment: env, configured: "http://c", region: "us-east-1").url
                == "http://127.0.0.1:5000/")
        #expect(
            try Endpoint.resolve(
                environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:6000"], configured: "http://c", region: "us-east-1"
            ).host == "127.0.0.1:6000")
        #expect(
            try Endpoint.resolve(
                environment: [:], configured: "https://vpce-1.secretsmanager.ap-southeast-1.vpce.amazonaws.com",
                region: "ap-southeast-1"
            ).host == "vpce-1.secretsmanager.ap-southeast-1.vpce.amazonaws.com")
        #expect(
            try Endpoint.resolve(environment: [:], configured: nil, region: "ap-southeast-1").url
                == "https://secretsmanager.ap-southeast-1.amazonaws.com/")
        #expect(
            try Endpoint.resolve(environment: [:], configured: nil, region: "cn-north-1").url
                == "https://secretsmanager.cn-north-1.amazonaws.com.cn/")
        #expect(
            try Endpoint.resolve(environment: ["AWS_USE_FIPS_ENDPOINT": "true"], configured: nil, region: "us-east-1")
                .url == "https://secretsmanager-fips.us-east-1.amazonaws.com/")
        #expect(try Endpoint(url: "https://h:443", origin: "t").host == "h")
        #expect(try Endpoint(url: "http://[::1]:8080", origin: "t").host == "[::1]:8080")
        let error = #expect(throws: AWSCallError.self) {
            try Endpoint.resolve(
                environment: ["AWS_ENDPOINT_URL_SECRETS_MANAGER": "127.0.0.1:5000"], configured: nil,
                region: "us-east-1")
        }
        #expect(error?.description == "AWS_ENDPOINT_URL_SECRETS_MANAGER \"127.0.0.1:5000\" is not an http(s) URL")
    }

    @Test func regionPrecedenceAndTaskMetadata() async throws {
        let none = FakeTransport(script: [])
        #expect(
            try await RegionResolver.resolve(
                configured: nil, environment: ["AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"],
                transport: none) == "eu-west-1")
        #expect(
            try await RegionResolver.resolve(
                configured: "ap-southeast-1", environment: ["AWS_REGION": "eu-west-1"], transport: none)
                == "ap-southeast-1")
        #expect(
            try await RegionResolver.resolve(
                configured: nil, environment: ["AWS_DEFAULT_REGION": "us-east-1"], transport: none) == "us-east-1")
        let metadata = FakeTransport(script: [
            .success(.json(200, #"{"Cluster":"c","TaskARN":"arn:aws:ecs:ap-southeast-1:123456789012:task/c/abc"}"#))
        ])
        #expect(
            try await RegionResolver.resolve(
                configured: nil, environment: ["ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"],
                transport: metadata) == "ap-southeast-1")
        #expect(metadata.requests.first?.url == "http://169.254.170.2/v4/x/task")
        #expect(metadata.requests.first?.proxy == .never)
        let error = await #expect(throws: AWSCallError.self) {
            try await RegionResolver.resolve(configured: nil, environment: [:], transport: none)
        }
        #expect(error?.description.contains("AWS_REGION") == true)
        await #expect(throws: AWSCallError.self) {
            try await RegionResolver.resolve(
                configured: nil, environment: ["AWS_REGION": "Not A Region"], transport: none)
        }
    }
}
