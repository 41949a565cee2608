import Foundation
import InjectorBase
import Logging
import SecretsManager
import Synchronization
import TestSupport
import Testing

@testable import InjectorAgent

/// The AWS Secrets Manager Agent's contract, ported from its own tests: `aws_secretsmanager_agent/src/main.rs`
/// (module `tests`), `parse.rs` and `utils.rs`. Each test names the Agent's test or function it ports.
/// The fixtures mirror the Agent's stub client (`cache_manager.rs` tests): secrets `MyTest` and
/// `My/Test`, version `5767290c-…`, value `hunter2`, `CreatedDate` 1569534789.046, token `xyzzy`.
/// The last tests run the real NIO server in-process over TCP and the Unix socket.
@Suite struct AgentContractTests {
    /// The Agent's `run_request` helpers: over TCP with its token header, unless told otherwise.
    static func request(
        _ uri: String, method: String = "GET",
        headers: [(String, String)] = [("X-Aws-Parameters-Secrets-Token", "xyzzy")],
        transport: AgentTransport = .tcp, overLimit: Bool = false, responder: AgentResponder? = nil
    ) async -> AgentResponse {
        let responder = if let responder { responder } else { await AgentFixtures.responder() }
        return await responder.respond(
            to: AgentRequest(
                method: method, uri: uri, headers: headers.map { (name: $0.0, value: $0.1) }, transport: transport,
                overConnectionLimit: overLimit))
    }

    static func text(_ response: AgentResponse) -> String { String(decoding: response.body, as: UTF8.self) }
    static func json(_ response: AgentResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    /// The Agent's `validate_response_extra`.
    static func expectAnswer(
        _ response: AgentResponse, name: String, version: String = AgentFixtures.version,
        stages: [String] = ["AWSCURRENT"],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == 200, "\(text(response))", sourceLocation: sourceLocation)
        let map = json(response)
        #expect(map["Name"] as? String == name, sourceLocation: sourceLocation)
        #expect(map["ARN"] as? String == AgentFixtures.arn(name), sourceLocation: sourceLocation)
        #expect(map["VersionId"] as? String == version, sourceLocation: sourceLocation)
        #expect(map["SecretString"] as? String == "hunter2", sourceLocation: sourceLocation)
        #expect(map["CreatedDate"] as? String == "1569534789.046", sourceLocation: sourceLocation)
        #expect(map["VersionStages"] as? [String] == stages, sourceLocation: sourceLocation)
    }

    /// The Agent's `validate_err`.
    static func expectServiceError(
        _ response: AgentResponse, status: Int, type: String, message: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(
            text(response) == "{\"__type\":\"\(type)\", \"message\":\"\(message)\"}", sourceLocation: sourceLocation)
        #expect(response.contentType == "application/json", sourceLocation: sourceLocation)
    }

    /// A refusal of the Agent's own: its status, its short text, no content type.
    static func expectRefusal(
        _ response: AgentResponse, _ status: Int, _ body: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == status, "\(text(response))", sourceLocation: sourceLocation)
        #expect(text(response) == body, sourceLocation: sourceLocation)
        #expect(response.contentType == nil, sourceLocation: sourceLocation)
    }

    // MARK: parse.rs

    @Test func parse_refresh_invalid_parameter() async {
        Self.expectRefusal(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&versionId=myversion&versionStage=dev&refreshNow=123"),
            400, "invalid refreshNow value")
    }

    @Test func parse_path_query() async {
        let api = AgentAPI(settings: .init())
        let route = api.route(
            AgentRequest(
                method: "GET", uri: "/v1/MyTest?versionId=myversion&versionStage=dev", headers: [],
                transport: .unixSocket), token: nil)
        #expect(route == .secret(SecretQuery(secretID: "MyTest", versionID: "myversion", versionStage: "dev")))
    }

    @Test func parse_query_invalid_parameter() async {
        Self.expectRefusal(
            await Self.request("/secretsmanager/get?secretId=MyTest&versionId=myversion&versionStage=dev&abc=123"),
            400, "unknown parameter: abc")
    }

    @Test func parse_query_path_invalid_parameter() async {
        Self.expectRefusal(
            await Self.request("/v1/MyTest?versionId=myversion&versionStage=dev&abc=123"), 400,
            "unknown parameter: abc")
        // A path-style request takes no secretId parameter.
        Self.expectRefusal(await Self.request("/v1/MyTest?secretId=MyTest"), 400, "unknown parameter: secretId")
    }

    @Test func parse_query_missing_secret_id() async {
        Self.expectRefusal(
            await Self.request("/secretsmanager/get?&versionId=myversion&versionStage=dev"), 400,
            "missing parameter secretId")
        Self.expectRefusal(await Self.request("/secretsmanager/get?secretId="), 400, "missing parameter secretId")
    }

    @Test func parse_query_path_missing_secret_id() async {
        Self.expectRefusal(
            await Self.request("/v1/?versionId=myversion&versionStage=dev&abc=123"), 400, "missing secret ID")
    }

    // MARK: main.rs tests

    @Test func ping_req() async {
        let response = await Self.request("/ping")
        #expect(response.status == 200 && Self.text(response) == "healthy")
    }

    @Test func ping_no_token() async {
        let response = await Self.request("/ping", headers: [])
        #expect(response.status == 200 && Self.text(response) == "healthy")
        // /ping skips the X-Forwarded-For check too (server.rs validate_token).
        #expect(await Self.request("/ping", headers: [("X-Forwarded-For", "10.0.0.1")]).status == 200)
    }

    @Test func pong_req() async {
        Self.expectRefusal(await Self.request("/pong"), 404, "Not found")
    }

    @Test func missing_id() async {
        #expect(await Self.request("/secretsmanager/get").status == 400)
    }

    @Test func missing_path_id() async {
        #expect(await Self.request("/v1/").status == 400)
    }

    @Test func bad_query_parameter() async {
        #expect(
            await Self.request("/secretsmanager/get?secretId=MyTest&versionStage=AWSPENDING&abc=XXXXXXXXXXXX").status
                == 400)
    }

    @Test func path_bad_query_parameter() async {
        #expect(await Self.request("/v1/MyTest?versionStage=AWSPENDING&abc=XXXXXXXXXXXX").status == 400)
    }

    @Test func missing_query_parameter() async {
        #expect(await Self.request("/secretsmanager/get?versionStage=AWSPENDING").status == 400)
    }

    @Test func basic_success() async {
        Self.expectAnswer(await Self.request("/secretsmanager/get?secretId=MyTest"), name: "MyTest")
    }

    @Test func basic_refresh_success() async {
        let refreshes = AgentFixtures.Refreshes()
        let responder = await AgentFixtures.responder(refreshes: refreshes)
        Self.expectAnswer(
            await Self.request("/secretsmanager/get?secretId=MyTest&refreshNow=1", responder: responder), name: "MyTest"
        )
        #expect(refreshes.count.load(ordering: .relaxed) == 1)
    }

    @Test func pending_success() async {
        Self.expectAnswer(
            await Self.request("/secretsmanager/get?secretId=MyTest&versionStage=AWSPENDING"), name: "MyTest",
            version: "pending-version", stages: ["AWSPENDING"])
    }

    @Test func version_success() async {
        Self.expectAnswer(
            await Self.request("/secretsmanager/get?secretId=MyTest&versionId=11111"), name: "MyTest", version: "11111")
    }

    @Test func all_args_success() async {
        Self.expectAnswer(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&versionStage=AWSPENDING&versionId=000000000000&refreshNow=true"),
            name: "MyTest", version: "000000000000", stages: ["AWSPENDING"])
    }

    /// Secrets Manager's error, passed on with its status, `__type` and message (our refresh fails).
    static func failingRefresh(_ error: AWSCallError) async -> AgentResponder {
        await AgentFixtures.responder { store in
            await store.record(failure: error, for: [SecretRequest(id: "MyTest")])
        }
    }

    @Test func access_denied_test() async {
        var error = AWSCallError(
            service: .secretsManager, category: .accessDenied, code: "AccessDeniedException",
            awsMessage: "Access to KMS is not allowed")
        error.httpStatus = 400
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true", responder: await Self.failingRefresh(error)),
            status: 400, type: "AccessDeniedException", message: "Access to KMS is not allowed")
    }

    @Test func other_error_test() async {
        var error = AWSCallError(
            service: .secretsManager, category: .authentication, code: "InvalidSignatureException",
            awsMessage: "The request signature we calculated does not match ...")
        error.httpStatus = 400
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true", responder: await Self.failingRefresh(error)),
            status: 400, type: "InvalidSignatureException",
            message: "The request signature we calculated does not match ...")
    }

    /// `cache_manager.rs` `svc_err`: a timeout is 504 `TimeoutError`, a connection failure 502
    /// `ConnectionError`; an error without a message is 500 `InternalFailure` (`utils.rs` `err_response`).
    @Test func svc_err_timeouts_connections_and_internal_failures() async {
        var timeout = AWSCallError(service: .secretsManager, category: .network, detail: "no answer in time")
        timeout.timedOut = true
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true", responder: await Self.failingRefresh(timeout)),
            status: 504, type: "TimeoutError", message: "Timeout")
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true",
                responder: await Self.failingRefresh(
                    AWSCallError(service: .secretsManager, category: .network, detail: "refused"))),
            status: 502, type: "ConnectionError", message: "Read Error")
        let internalFailure = await Self.request(
            "/secretsmanager/get?secretId=MyTest&refreshNow=true",
            responder: await Self.failingRefresh(
                AWSCallError(service: .secretsManager, category: .credentials, detail: "no credentials")))
        #expect(internalFailure.status == 500 && Self.text(internalFailure) == #"{"__type":"InternalFailure"}"#)
    }

    @Test func refresh_now_test() async {
        let responder = await AgentFixtures.responder { store in
            await store.record(
                [
                    SecretRequest(id: "MyTest"): .success(
                        AgentFixtures.value("MyTest", version: "v2", secret: "rotated"))
                ],
                at: Date())
        }
        let before = Self.json(await Self.request("/secretsmanager/get?secretId=MyTest", responder: responder))
        let again = Self.json(await Self.request("/secretsmanager/get?secretId=MyTest", responder: responder))
        let refreshed = Self.json(
            await Self.request("/secretsmanager/get?secretId=MyTest&refreshNow=true", responder: responder))
        #expect(before["SecretString"] as? String == again["SecretString"] as? String)
        #expect(refreshed["SecretString"] as? String == "rotated")
    }

    @Test func path_success() async {
        Self.expectAnswer(await Self.request("/v1/MyTest", headers: [("X-Vault-Token", "xyzzy")]), name: "MyTest")
    }

    @Test func path_pending_success() async {
        Self.expectAnswer(
            await Self.request("/v1/My/Test?versionStage=AWSPENDING"), name: "My/Test", version: "pending-version",
            stages: ["AWSPENDING"])
    }

    @Test func path_refresh_success() async {
        Self.expectAnswer(
            await Self.request("/v1/My/Test?versionStage=AWSPENDING&refreshNow=0"), name: "My/Test",
            version: "pending-version", stages: ["AWSPENDING"])
    }

    @Test func path_version_success() async {
        Self.expectAnswer(await Self.request("/v1/My/Test?versionId=11111"), name: "My/Test", version: "11111")
    }

    @Test func path_all_args_success() async {
        Self.expectAnswer(
            await Self.request("/v1/My/Test?versionStage=AWSPENDING&versionId=000000000000&refreshNow=true"),
            name: "My/Test", version: "000000000000", stages: ["AWSPENDING"])
    }

    @Test func no_token_fail() async {
        Self.expectRefusal(await Self.request("/secretsmanager/get?secretId=MyTest", headers: []), 403, "Bad Token")
    }

    @Test func path_no_token_fail() async {
        Self.expectRefusal(await Self.request("/v1/MyTest", headers: []), 403, "Bad Token")
    }

    @Test func bad_token() async {
        Self.expectRefusal(
            await Self.request("/secretsmanager/get?secretId=MyTest", headers: [("X-Vault-Token", "click slipers")]),
            403, "Bad Token")
        // Any configured header that matches will do (server.rs validate_token).
        Self.expectAnswer(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest",
                headers: [("X-Aws-Parameters-Secrets-Token", "wrong"), ("X-Vault-Token", "xyzzy")]), name: "MyTest")
        // ssrfHeaders replaces the defaults.
        let custom = await AgentFixtures.responder(settings: .init(ssrfHeaders: ["X-My-Token"]))
        Self.expectAnswer(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest", headers: [("x-my-token", "xyzzy")], responder: custom),
            name: "MyTest")
        Self.expectRefusal(
            await Self.request("/secretsmanager/get?secretId=MyTest", responder: custom), 403, "Bad Token")
    }

    @Test func xff_fail() async {
        Self.expectRefusal(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest",
                headers: [("X-Vault-Token", "xyzzy"), ("X-Forwarded-For", "54.239.28.85")]), 400, "Forwarded")
    }

    /// The limit is checked first; our server admits a connection over it only while every slot is
    /// busy answering (it drops the one idle longest otherwise).
    @Test func max_conn_test() async {
        Self.expectRefusal(
            await Self.request("/secretsmanager/get?secretId=MyTest", overLimit: true), 429, "Connection limit exceeded"
        )
        Self.expectRefusal(
            await Self.request("/secretsmanager/get?secretId=MyTest", headers: [], overLimit: true), 429,
            "Connection limit exceeded")
    }

    @Test func ping_max_conn() async {
        let response = await Self.request("/ping", overLimit: true)
        #expect(response.status == 200 && Self.text(response) == "healthy")
    }

    @Test func get_only() async {
        for verb in ["POST", "PUT", "PATCH", "DELETE", "HEAD", "CONNECT", "OPTIONS", "TRACE"] {
            for uri in ["/secretsmanager/get?secretId=MyTest", "/v1/MyTest", "/ping"] {
                Self.expectRefusal(await Self.request(uri, method: verb), 405, "Not allowed")
            }
        }
        // The token comes before the method (server.rs get_result): a POST without it is a 403.
        Self.expectRefusal(await Self.request("/v1/MyTest", method: "POST", headers: []), 403, "Bad Token")
    }

    // MARK: Beyond the Agent's tests: its behaviour, and our deliberate differences

    /// Secrets Manager refuses a versionId with a stage it does not carry; so do we.
    @Test func aVersionIdWithAStageItDoesNotCarryIsRefused() async {
        Self.expectServiceError(
            await Self.request("/secretsmanager/get?secretId=MyTest&versionId=11111&versionStage=AWSPENDING"),
            status: 400, type: "InvalidRequestException",
            message: "You provided a VersionStage that is not associated to the provided VersionId.")
    }

    /// After a rotation moved `AWSCURRENT` to a new version, the version the sidecar served before
    /// cannot carry it: asked with that stage, it is Secrets Manager's 400, as the Agent passes it on.
    /// A version never served stays 404: the sidecar cannot know it exists.
    @Test func aFormerVersionWithAStageItNoLongerCarriesIsSecretsManagersRefusal() async {
        let store = SecretStore()
        await store.record(
            [SecretRequest(id: "MyTest"): .success(AgentFixtures.value("MyTest", version: "v1"))], at: Date())
        await store.record(
            [SecretRequest(id: "MyTest"): .success(AgentFixtures.value("MyTest", version: "v2"))], at: Date())
        let responder = await AgentFixtures.responder(store: store)
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&versionId=v1&versionStage=AWSCURRENT", responder: responder),
            status: 400, type: "InvalidRequestException",
            message: "You provided a VersionStage that is not associated to the provided VersionId.")
        for uri in [
            "/secretsmanager/get?secretId=MyTest&versionId=v1",
            "/secretsmanager/get?secretId=MyTest&versionId=v0&versionStage=AWSCURRENT",
        ] {
            Self.expectServiceError(
                await Self.request(uri, responder: responder), status: 404, type: "ResourceNotFoundException",
                message: "Secrets Manager can't find the specified secret.")
        }
        Self.expectAnswer(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&versionId=v2&versionStage=AWSCURRENT", responder: responder),
            name: "MyTest", version: "v2")
    }

    /// Only configured secrets, versions and stages are served (404 `ResourceNotFoundException`).
    @Test func onlyConfiguredSecretsAreServed() async {
        for uri in [
            "/secretsmanager/get?secretId=Other", "/secretsmanager/get?secretId=MyTest&versionStage=AWSPREVIOUS",
            "/secretsmanager/get?secretId=MyTest&versionId=99999",
        ] {
            Self.expectServiceError(
                await Self.request(uri), status: 404, type: "ResourceNotFoundException",
                message: "Secrets Manager can't find the specified secret.")
        }
    }

    /// A full ARN names one secret in one account and region.
    @Test func anARNMatchesOnlyThatSecret() async {
        Self.expectAnswer(
            await Self.request("/secretsmanager/get?secretId=\(AgentFixtures.arn("MyTest"))"), name: "MyTest")
        Self.expectAnswer(
            await Self.request(
                "/secretsmanager/get?secretId=arn:aws:secretsmanager:us-west-2:123456789012:secret:MyTest"),
            name: "MyTest")
        for other in [
            "arn:aws:secretsmanager:us-west-2:999999999999:secret:MyTest-NhBWsc",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:MyTest-NhBWsc",
            "arn:aws:secretsmanager:us-west-2:999999999999:secret:MyTest",
            "arn:aws:secretsmanager:us-west-2:123456789012:secret:prefix/MyTest-NhBWsc",
        ] {
            #expect(await Self.request("/secretsmanager/get?secretId=\(other)").status == 404, "\(other)")
        }
    }

    /// A secret configured current and pinned to a version that is also current: a stage lookup
    /// answers the entry configured for that stage, every time.
    @Test func aStageLookupPrefersTheEntryConfiguredForIt() async {
        for _ in 0..<20 {
            let store = SecretStore()
            await store.record(
                [
                    SecretRequest(id: "app/db", versionID: "pinned"): .success(
                        SecretValue(
                            arn: AgentFixtures.arn("app/db"), name: "app/db", versionID: "pinned", secretString: "old",
                            versionStages: ["AWSCURRENT"])),
                    SecretRequest(id: "app/db"): .success(
                        SecretValue(
                            arn: AgentFixtures.arn("app/db"), name: "app/db", versionID: "current", secretString: "new",
                            versionStages: ["AWSCURRENT"])),
                ], at: Date())
            let responder = await AgentFixtures.responder(store: store)
            for uri in [
                "/secretsmanager/get?secretId=app/db", "/secretsmanager/get?secretId=app/db&versionStage=AWSCURRENT",
            ] {
                #expect(Self.json(await Self.request(uri, responder: responder))["VersionId"] as? String == "current")
            }
            #expect(
                Self.json(
                    await Self.request("/secretsmanager/get?secretId=app/db&versionId=pinned", responder: responder))[
                        "VersionId"] as? String == "pinned")
        }
    }

    /// `/v1/` ids are percent-decoded (a secret name cannot hold `%`); the Agent passes them raw.
    @Test func pathIdsArePercentDecodedAndPathPrefixIsSettable() async {
        Self.expectAnswer(await Self.request("/v1/My%2FTest"), name: "My/Test")
        let custom = await AgentFixtures.responder(settings: .init(pathPrefix: "/secrets/"))
        Self.expectAnswer(await Self.request("/secrets/MyTest", responder: custom), name: "MyTest")
        Self.expectRefusal(await Self.request("/v1/MyTest", responder: custom), 404, "Not found")
    }

    /// Answers that need no refresh come at once from the snapshot, on the caller's thread (the
    /// event loop); only /health, /metrics and refreshNow wait.
    @Test func answersFromTheSnapshotWithoutWaiting() async {
        let responder = await AgentFixtures.responder()
        func now(_ uri: String, headers: [(String, String)] = [("X-Vault-Token", "xyzzy")]) -> AgentResponse? {
            responder.respondNow(
                to: AgentRequest(method: "GET", uri: uri, headers: headers.map { ($0.0, $0.1) }, transport: .tcp))
        }
        if let answer = now("/secretsmanager/get?secretId=MyTest") {
            Self.expectAnswer(answer, name: "MyTest")
        } else {
            Issue.record("a secret from the snapshot waited")
        }
        #expect(now("/ping", headers: [])?.status == 200)
        #expect(now("/v1/Nope")?.status == 404)
        #expect(now("/v1/MyTest", headers: [])?.status == 403)
        #expect(now("/v1/MyTest?refreshNow=true") == nil)
        #expect(now("/health") == nil)
        #expect(now("/metrics") == nil)
    }

    /// The Unix socket is guarded by its mode and peer uid: no token; /health and /metrics are ours.
    @Test func theSocketNeedsNoTokenAndServesHealthAndMetrics() async {
        Self.expectAnswer(
            await Self.request("/secretsmanager/get?secretId=MyTest", headers: [], transport: .unixSocket),
            name: "MyTest")
        #expect(
            Self.json(await Self.request("/health", headers: [], transport: .unixSocket))["status"] as? String
                == "healthy")
        #expect(Self.text(await Self.request("/metrics", headers: [], transport: .unixSocket)) == "m 1\n")
        Self.expectRefusal(await Self.request("/health", headers: []), 403, "Bad Token")
    }
}
