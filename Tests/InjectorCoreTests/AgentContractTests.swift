import Foundation
import Logging
import NIOCore
import NIOEmbedded
import SecretsManager
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

@testable import InjectorCore

/// The AWS Secrets Manager Agent's contract, ported from its own tests: `aws_secretsmanager_agent/src/main.rs`
/// (module `tests`), `parse.rs` and `utils.rs`. Each test names the Agent's test or function it ports.
/// The fixtures mirror the Agent's stub client (`cache_manager.rs` tests): secrets `MyTest` and
/// `My/Test`, version `5767290c-…`, value `hunter2`, `CreatedDate` 1569534789.046, token `xyzzy`.
/// The last tests run the real NIO server in-process over TCP and the Unix socket.
@Suite struct AgentContractTests {
    static let version = "5767290c-d089-49ed-b97c-17086f8c9d79"
    static let created = Date(timeIntervalSince1970: 1_569_534_789.046)
    static func arn(_ name: String) -> String { "arn:aws:secretsmanager:us-west-2:123456789012:secret:\(name)-NhBWsc" }
    static func value(
        _ name: String, version: String = version, stages: [String] = ["AWSCURRENT"], secret: String = "hunter2"
    ) -> SecretValue {
        SecretValue(
            arn: arn(name), name: name, versionID: version, secretString: secret, versionStages: stages,
            createdDate: created)
    }

    /// The configured entries: each secret current, `MyTest` also pinned to `AWSPENDING` and to two
    /// versions (the Agent's `version_success` and `all_args_success` cases).
    static func store() async -> SecretStore {
        let store = SecretStore()
        await store.record(
            [
                SecretRequest(id: "MyTest"): .success(value("MyTest")),
                SecretRequest(id: "My/Test"): .success(value("My/Test")),
                SecretRequest(id: "MyTest", versionStage: "AWSPENDING"): .success(
                    value("MyTest", version: "pending-version", stages: ["AWSPENDING"])),
                SecretRequest(id: "My/Test", versionStage: "AWSPENDING"): .success(
                    value("My/Test", version: "pending-version", stages: ["AWSPENDING"])),
                SecretRequest(id: "MyTest", versionID: "11111"): .success(value("MyTest", version: "11111")),
                SecretRequest(id: "My/Test", versionID: "11111"): .success(value("My/Test", version: "11111")),
                SecretRequest(id: "MyTest", versionID: "000000000000"): .success(
                    value("MyTest", version: "000000000000", stages: ["AWSPENDING"])),
                SecretRequest(id: "My/Test", versionID: "000000000000"): .success(
                    value("My/Test", version: "000000000000", stages: ["AWSPENDING"])),
            ], at: Date())
        return store
    }

    final class Refreshes: Sendable {
        let count = Atomic<Int>(0)
    }

    static func router(
        store: SecretStore? = nil, settings: AgentAPI.Settings = .init(), refreshes: Refreshes = Refreshes(),
        onRefresh: @escaping @Sendable (SecretStore) async -> Void = { _ in }
    ) async -> AgentRouter {
        let store = if let store { store } else { await Self.store() }
        return AgentRouter(
            api: AgentAPI(settings: settings), store: store,
            health: { HealthReport(ready: true, secrets: [], now: Date()) }, metricsText: { "m 1\n" },
            refreshNow: { _ in
                refreshes.count.add(1, ordering: .relaxed)
                await onRefresh(store)
            }, token: { "xyzzy" })
    }

    /// The Agent's `run_request` helpers: over TCP with its token header, unless told otherwise.
    static func request(
        _ uri: String, method: String = "GET",
        headers: [(String, String)] = [("X-Aws-Parameters-Secrets-Token", "xyzzy")],
        transport: AgentTransport = .tcp, overLimit: Bool = false, router: AgentRouter? = nil
    ) async -> AgentResponse {
        let router = if let router { router } else { await Self.router() }
        return await router.respond(
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
        _ response: AgentResponse, name: String, version: String = version, stages: [String] = ["AWSCURRENT"],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == 200, "\(text(response))", sourceLocation: sourceLocation)
        let map = json(response)
        #expect(map["Name"] as? String == name, sourceLocation: sourceLocation)
        #expect(map["ARN"] as? String == arn(name), sourceLocation: sourceLocation)
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

    @Test func parse_query() {
        #expect(AgentAPI.secret(query: "secretId=MyTest", secretID: nil) == .secret(SecretQuery(secretID: "MyTest")))
    }

    @Test func parse_query_refresh() {
        #expect(
            AgentAPI.secret(query: "secretId=MyTest&refreshNow=true", secretID: nil)
                == .secret(SecretQuery(secretID: "MyTest", refreshNow: true)))
    }

    @Test func parse_query_refresh_false() {
        #expect(
            AgentAPI.secret(query: "secretId=MyTest&refreshNow=0", secretID: nil)
                == .secret(SecretQuery(secretID: "MyTest")))
    }

    @Test func parse_refresh_invalid_parameter() async {
        Self.expectRefusal(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&versionId=myversion&versionStage=dev&refreshNow=123"),
            400, "invalid refreshNow value")
    }

    @Test func parse_refresh_case_insensitive() {
        for (text, refresh) in [("FALSE", false), ("True", true), ("1", true), ("0", false), ("tRuE", true)] {
            #expect(
                AgentAPI.secret(query: Substring("secretId=MyTest&refreshNow=\(text)"), secretID: nil)
                    == .secret(SecretQuery(secretID: "MyTest", refreshNow: refresh)), "\(text)")
        }
        // Every value is validated, even one a later value overrides.
        #expect(
            AgentAPI.secret(query: "secretId=MyTest&refreshNow=yes&refreshNow=true", secretID: nil)
                == .refused(.text(400, "invalid refreshNow value")))
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

    /// `url::form_urlencoded`, as `query_pairs` decodes: `+` is a space, `%XX` decoded, empty pieces
    /// skipped, the last value of a repeated parameter wins.
    @Test func query_pairs_and_last_value_wins() {
        #expect(
            AgentAPI.queryPairs("a=1&&b=x+y%2Bz&c&d=%zz").map { "\($0.0)=\($0.1)" } == [
                "a=1", "b=x y+z", "c=", "d=%zz",
            ])
        #expect(
            AgentAPI.secret(
                query: "secretId=First&secretId=MyTest&versionStage=A&versionStage=AWSPENDING", secretID: nil)
                == .secret(SecretQuery(secretID: "MyTest", versionStage: "AWSPENDING")))
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
        let refreshes = Refreshes()
        let router = await Self.router(refreshes: refreshes)
        Self.expectAnswer(
            await Self.request("/secretsmanager/get?secretId=MyTest&refreshNow=1", router: router), name: "MyTest")
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
    static func failingRefresh(_ error: SecretsManagerError) async -> AgentRouter {
        await Self.router { store in
            await store.record(failure: error, for: [SecretRequest(id: "MyTest")])
        }
    }

    @Test func access_denied_test() async {
        var error = SecretsManagerError(
            category: .accessDenied, code: "AccessDeniedException", awsMessage: "Access to KMS is not allowed")
        error.httpStatus = 400
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true", router: await Self.failingRefresh(error)),
            status: 400, type: "AccessDeniedException", message: "Access to KMS is not allowed")
    }

    @Test func other_error_test() async {
        var error = SecretsManagerError(
            category: .authentication, code: "InvalidSignatureException",
            awsMessage: "The request signature we calculated does not match ...")
        error.httpStatus = 400
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true", router: await Self.failingRefresh(error)),
            status: 400, type: "InvalidSignatureException",
            message: "The request signature we calculated does not match ...")
    }

    /// `cache_manager.rs` `svc_err`: a timeout is 504 `TimeoutError`, a connection failure 502
    /// `ConnectionError`; an error without a message is 500 `InternalFailure` (`utils.rs` `err_response`).
    @Test func svc_err_timeouts_connections_and_internal_failures() async {
        var timeout = SecretsManagerError(category: .network, detail: "no answer in time")
        timeout.timedOut = true
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true", router: await Self.failingRefresh(timeout)),
            status: 504, type: "TimeoutError", message: "Timeout")
        Self.expectServiceError(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest&refreshNow=true",
                router: await Self.failingRefresh(SecretsManagerError(category: .network, detail: "refused"))),
            status: 502, type: "ConnectionError", message: "Read Error")
        let internalFailure = await Self.request(
            "/secretsmanager/get?secretId=MyTest&refreshNow=true",
            router: await Self.failingRefresh(SecretsManagerError(category: .credentials, detail: "no credentials")))
        #expect(internalFailure.status == 500 && Self.text(internalFailure) == #"{"__type":"InternalFailure"}"#)
    }

    @Test func refresh_now_test() async {
        let router = await Self.router { store in
            await store.record(
                [SecretRequest(id: "MyTest"): .success(Self.value("MyTest", version: "v2", secret: "rotated"))],
                at: Date())
        }
        let before = Self.json(await Self.request("/secretsmanager/get?secretId=MyTest", router: router))
        let again = Self.json(await Self.request("/secretsmanager/get?secretId=MyTest", router: router))
        let refreshed = Self.json(
            await Self.request("/secretsmanager/get?secretId=MyTest&refreshNow=true", router: router))
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
        let custom = await Self.router(settings: .init(ssrfHeaders: ["X-My-Token"]))
        Self.expectAnswer(
            await Self.request(
                "/secretsmanager/get?secretId=MyTest", headers: [("x-my-token", "xyzzy")], router: custom),
            name: "MyTest")
        Self.expectRefusal(
            await Self.request("/secretsmanager/get?secretId=MyTest", router: custom), 403, "Bad Token")
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

    /// `output.rs`: `CreatedDate` is a string of seconds as Rust prints an f64, or null.
    @Test func createdDateIsAStringAsRustPrintsIt() {
        #expect(AgentEntry.createdDate(Date(timeIntervalSince1970: 1_569_534_789.046)) == "1569534789.046")
        #expect(AgentEntry.createdDate(Date(timeIntervalSince1970: 1_800_000_000)) == "1800000000")
        #expect(AgentEntry.createdDate(Date(timeIntervalSince1970: 1_523_477_145.729)) == "1523477145.729")
        var value = Self.value("MyTest")
        value.createdDate = nil
        #expect(String(decoding: AgentEntry.encode(value), as: UTF8.self).hasSuffix(#""CreatedDate":null}"#))
    }

    /// Secrets Manager refuses a versionId with a stage it does not carry; so do we.
    @Test func aVersionIdWithAStageItDoesNotCarryIsRefused() async {
        Self.expectServiceError(
            await Self.request("/secretsmanager/get?secretId=MyTest&versionId=11111&versionStage=AWSPENDING"),
            status: 400, type: "InvalidRequestException",
            message: "You provided a VersionStage that is not associated to the provided VersionId.")
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
        Self.expectAnswer(await Self.request("/secretsmanager/get?secretId=\(Self.arn("MyTest"))"), name: "MyTest")
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
                            arn: Self.arn("app/db"), name: "app/db", versionID: "pinned", secretString: "old",
                            versionStages: ["AWSCURRENT"])),
                    SecretRequest(id: "app/db"): .success(
                        SecretValue(
                            arn: Self.arn("app/db"), name: "app/db", versionID: "current", secretString: "new",
                            versionStages: ["AWSCURRENT"])),
                ], at: Date())
            let router = await Self.router(store: store)
            for uri in [
                "/secretsmanager/get?secretId=app/db", "/secretsmanager/get?secretId=app/db&versionStage=AWSCURRENT",
            ] {
                #expect(Self.json(await Self.request(uri, router: router))["VersionId"] as? String == "current")
            }
            #expect(
                Self.json(await Self.request("/secretsmanager/get?secretId=app/db&versionId=pinned", router: router))[
                    "VersionId"] as? String == "pinned")
        }
    }

    /// `/v1/` ids are percent-decoded (a secret name cannot hold `%`); the Agent passes them raw.
    @Test func pathIdsArePercentDecodedAndPathPrefixIsSettable() async {
        Self.expectAnswer(await Self.request("/v1/My%2FTest"), name: "My/Test")
        let custom = await Self.router(settings: .init(pathPrefix: "/secrets/"))
        Self.expectAnswer(await Self.request("/secrets/MyTest", router: custom), name: "MyTest")
        Self.expectRefusal(await Self.request("/v1/MyTest", router: custom), 404, "Not found")
    }

    /// Answers that need no refresh come at once from the snapshot, on the caller's thread (the
    /// event loop); only /health, /metrics and refreshNow wait.
    @Test func answersFromTheSnapshotWithoutWaiting() async {
        let router = await Self.router()
        func now(_ uri: String, headers: [(String, String)] = [("X-Vault-Token", "xyzzy")]) -> AgentResponse? {
            router.respondNow(
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

/// The connection rules (SPEC §6): the table on fake channels and a manual clock, then the real
/// NIO server in-process over TCP and the Unix socket.
@Suite struct ConnectionRuleTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
    func at(_ seconds: Int64) -> NIODeadline { start + .seconds(seconds) }
    /// A fake channel that is open, as an accepted connection is.
    func connected() -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        _ = try? channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func atTheLimitTheConnectionIdleLongestMakesRoom() throws {
        let table = ConnectionTable(limit: 3)
        let channels = (0..<3).map { _ in connected() }
        for (index, channel) in channels.enumerated() {
            #expect(table.admit(channel, now: at(Int64(index))) == .admitted)
        }
        table.set(channels[0], .answering, now: at(5))  // busy: never dropped
        table.set(channels[2], .receiving, now: at(6))  // a head that stopped half-way
        let newcomer = connected()
        #expect(table.admit(newcomer, now: at(7)) == .admitted)
        #expect(channels[0].isActive && !channels[1].isActive, "the idle one since 1 s went")
        #expect(channels[2].isActive)
        let next = connected()
        #expect(table.admit(next, now: at(8)) == .admitted)
        #expect(!channels[2].isActive, "then the partial one")
        // Every slot answering: admitted over the limit (only /ping is served), up to the allowance.
        table.set(newcomer, .answering, now: at(9))
        table.set(next, .answering, now: at(9))
        var over: [EmbeddedChannel] = []
        for _ in 0..<SidecarServer.overLimitAllowance {
            let channel = connected()
            #expect(table.admit(channel, now: at(10)) == .overLimit)
            over.append(channel)
        }
        #expect(table.admit(connected(), now: at(10)) == nil)
        #expect(channels[0].isActive && newcomer.isActive && next.isActive)
    }

    @Test func idleConnectionsGetSixtySecondsPartialRequestsTen() throws {
        let table = ConnectionTable(limit: 10)
        let idle = connected()
        let partial = connected()
        let busy = connected()
        for channel in [idle, partial, busy] { _ = table.admit(channel, now: at(0)) }
        table.set(partial, .receiving, now: at(0))
        table.set(busy, .answering, now: at(0))
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(10))
        #expect(partial.isActive)
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(11))
        #expect(!partial.isActive && idle.isActive)
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(61))
        #expect(!idle.isActive)
        table.closeExpired(idle: .seconds(60), partial: .seconds(10), now: at(10_000))
        #expect(busy.isActive, "an answer being produced is never cut")
        table.closeAllNotAnswering()
        #expect(busy.isActive)
    }

    /// The sidecar's server alone, in-process, on a socket and a free TCP port.
    struct Server {
        let folder: String
        let port: Int
        let group: ServiceGroup
        let running: Task<Void, any Error>
        var socket: String { "\(folder)/injector.sock" }

        init(refresh: @escaping @Sendable (SecretStore) async -> Void = { _ in }) async throws {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            port = freeLoopbackPort()
            var settings = ServerSettings(
                socketPath: "\(folder)/injector.sock", socketMode: FileMode(0o600), tcpPort: port)
            settings.maxConnections = 800
            let router = await AgentContractTests.router(onRefresh: refresh)
            let server = SidecarServer(
                settings: settings, socketGroup: nil, router: router, metrics: SidecarMetrics(),
                logger: Logger(label: "test"))
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: server)], logger: Logger(label: "test")))
            self.group = group
            running = Task { try await group.run() }
            // Ready when both listeners take a connection.
            let (socket, tcpPort) = ("\(folder)/injector.sock", port)
            for _ in 0..<250 {
                if await onThread({ RawConnection(unixPath: socket) != nil && RawConnection(port: tcpPort) != nil }) {
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    @Test func pingNeedsNoTokenOverTCP() async throws {
        let server = try await Server()
        let result = try await run(
            "/usr/bin/curl", ["-s", "-i", "http://localhost:\(server.port)/ping"], environment: [:])
        await server.stop()
        #expect(result.stdout.hasPrefix("HTTP/1.1 200"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("\r\n\r\nhealthy"))
        #expect(!result.stdout.lowercased().contains("content-type"), "the Agent's own answers have none")
    }

    @Test func aKeepAliveConnectionIsReusedAfterThirtySecondsIdle() async throws {
        let server = try await Server()
        let (port, socket) = (server.port, server.socket)
        let (first, second, overSocket) = await onThread { () -> (String, String, String) in
            guard let tcp = RawConnection(port: port), let unix = RawConnection(unixPath: socket) else {
                return ("", "", "")
            }
            let request = "GET /v1/MyTest HTTP/1.1\r\nHost: localhost\r\nX-Aws-Parameters-Secrets-Token: xyzzy\r\n\r\n"
            tcp.send(request)
            unix.send(request)
            let first = tcp.receiveResponse(timeout: 20)
            _ = unix.receiveResponse(timeout: 20)
            sleep(30)
            tcp.send(request)
            unix.send(request)
            return (first, tcp.receiveResponse(timeout: 20), unix.receiveResponse(timeout: 20))
        }
        await server.stop()
        #expect(first.hasPrefix("HTTP/1.1 200"), "\(first)")
        #expect(second.hasPrefix("HTTP/1.1 200") && second.contains("hunter2"), "\(second)")
        #expect(overSocket.hasPrefix("HTTP/1.1 200"), "\(overSocket)")
    }

    @Test func badRequestsCloseSmallBodiesAreServedHalfClosesAnswered() async throws {
        let server = try await Server()
        let port = server.port
        let report = await onThread { () -> [String: String] in
            var report: [String: String] = [:]
            // A request head that cannot be parsed: 400, then closed.
            if let connection = RawConnection(port: port) {
                connection.send("GET /ping HTTP/1.1\r\nHost localhost\r\n\r\n")
                report["parse"] = connection.receiveResponse()
                report["parseClosed"] = "\(connection.closedByPeer(within: 2))"
            }
            // Any 4xx ends the connection right after it is written.
            if let connection = RawConnection(port: port) {
                connection.send("GET /v1/MyTest HTTP/1.1\r\nHost: localhost\r\n\r\n")
                report["forbidden"] = connection.receiveResponse()
                report["forbiddenClosed"] = "\(connection.closedByPeer(within: 2))"
            }
            // A GET with a small body is served, as the Agent does.
            if let connection = RawConnection(port: port) {
                connection.send(
                    "GET /v1/MyTest HTTP/1.1\r\nHost: localhost\r\nX-Vault-Token: xyzzy\r\nContent-Length: 5\r\n\r\nhello"
                )
                report["body"] = connection.receiveResponse()
            }
            // A request followed by a half-close is answered.
            if let connection = RawConnection(port: port) {
                connection.send("GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
                connection.halfClose()
                report["halfClose"] = connection.receiveResponse()
            }
            return report
        }
        await server.stop()
        #expect(report["parse"]?.hasPrefix("HTTP/1.1 400") == true, "\(report)")
        #expect(report["parseClosed"] == "true")
        #expect(report["forbidden"]?.hasPrefix("HTTP/1.1 403") == true)
        #expect(report["forbidden"]?.hasSuffix("Bad Token") == true)
        #expect(report["forbiddenClosed"] == "true")
        #expect(report["body"]?.hasPrefix("HTTP/1.1 200") == true, "\(report["body"] ?? "")")
        #expect(
            report["halfClose"]?.hasPrefix("HTTP/1.1 200") == true && report["halfClose"]?.hasSuffix("healthy") == true)
    }

    @Test func pipelinedRequestsAreAnsweredInOrderBehindOneThatWaits() async throws {
        // The first request waits a second for its refresh round; the two behind it, sent in the
        // same packet, are answered after it, in order; the half-close then ends the connection.
        let server = try await Server(refresh: { _ in try? await Task.sleep(for: .seconds(1)) })
        let port = server.port
        let received = await onThread { () -> String in
            guard let connection = RawConnection(port: port) else { return "" }
            connection.send(
                "GET /secretsmanager/get?secretId=MyTest&refreshNow=true HTTP/1.1\r\nHost: x\r\nX-Vault-Token: xyzzy\r\n\r\n"
                    + "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /v1/MyTest?versionStage=AWSCURRENT HTTP/1.1\r\nHost: x\r\nX-Vault-Token: xyzzy\r\n\r\n")
            connection.halfClose()
            return connection.receiveUntilClosed()
        }
        await server.stop()
        let answers = received.components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(answers.count == 3, "\(received)")
        #expect(answers.allSatisfy { $0.hasPrefix("200 OK") }, "\(received)")
        let order = answers.map { $0.contains("hunter2") ? "secret" : $0.hasSuffix("healthy") ? "ping" : "?" }
        #expect(order == ["secret", "ping", "secret"], "\(received)")
        #expect(answers.last?.contains("Connection: close") == true, "the last answer before the half-close says so")
    }

    @Test func aSlowAnswerIsNeverCutAndPartialRequestsGetTenSeconds() async throws {
        // refreshNow takes 12 s: longer than any request timeout, and still answered.
        let server = try await Server(refresh: { _ in try? await Task.sleep(for: .seconds(12)) })
        let port = server.port
        let report = await onThread { () -> (slow: String, partialClosed: Bool, waited: Double) in
            guard let slow = RawConnection(port: port), let partial = RawConnection(port: port) else {
                return ("", false, 0)
            }
            slow.send(
                "GET /secretsmanager/get?secretId=MyTest&refreshNow=true HTTP/1.1\r\nHost: x\r\nX-Vault-Token: xyzzy\r\n\r\n"
            )
            partial.send("GET /ping HTTP/1.1\r\nHost: x\r\n")
            let started = Date()
            let closed = partial.closedByPeer(within: 13)
            let waited = Date().timeIntervalSince(started)
            return (slow.receiveResponse(timeout: 10), closed, waited)
        }
        await server.stop()
        #expect(report.slow.hasPrefix("HTTP/1.1 200"), "\(report.slow)")
        #expect(report.partialClosed)
        #expect(report.waited >= 9 && report.waited < 12.5, "\(report.waited)")
    }
}
