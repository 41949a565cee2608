import Foundation
import InjectorBase
import SecretsManager
import TestSupport
import Testing

@testable import InjectorAgent

/// The Agent's parameters (`parse.rs`) and answer shape (`output.rs`) as pure values: no store, no
/// socket. The answers themselves are `AgentContractTests`.
@Suite struct AgentParseTests {
    @Test func parse_query() {
        #expect(AgentAPI.secret(query: "secretId=MyTest", secretID: nil) == .secret(SecretQuery(secretID: "MyTest")))
    }

    /// Ours, not the Agent's: `POST /refresh[?secretId=]`, under the same token rule.
    @Test func refreshIsAPostWithAnOptionalSecretID() {
        let api = AgentAPI(settings: .init())
        func route(_ method: String, _ uri: String, _ transport: AgentTransport = .unixSocket) -> AgentRoute {
            api.route(AgentRequest(method: method, uri: uri, headers: [], transport: transport), token: "t")
        }
        #expect(route("POST", "/refresh") == .refresh(secretID: nil))
        #expect(route("POST", "/refresh?secretId=a%2Fb") == .refresh(secretID: "a/b"))
        #expect(route("POST", "/refresh?secretId=a&secretId=b") == .refresh(secretID: "b"))
        #expect(route("GET", "/refresh") == .refused(.text(405, "Not allowed")))
        #expect(route("POST", "/refresh?refreshNow=true") == .refused(.text(400, "unknown parameter: refreshNow")))
        #expect(route("POST", "/refresh?secretId=") == .refused(.text(400, "missing parameter secretId")))
        #expect(route("POST", "/refresh", .tcp) == .refused(.text(403, "Bad Token")))
        #expect(route("POST", "/secretsmanager/get?secretId=a") == .refused(.text(405, "Not allowed")))
    }

    /// Ours: `POST /refresh`'s answer names what changed and what failed, never a value; a lone
    /// failed check is Secrets Manager's own answer, an unwritten generation a 500.
    @Test func theRefreshAnswerNamesWhatChangedAndFailed() {
        func text(_ response: AgentResponse) -> String { String(decoding: response.body, as: UTF8.self) }
        let a = SecretRequest(id: "app/a")
        let b = SecretRequest(id: "app/b")
        var denied = AWSCallError(
            service: .secretsManager, category: .accessDenied, code: "AccessDeniedException", awsMessage: "no")
        denied.httpStatus = 400
        #expect(
            text(.refreshed([(a, .unchanged), (b, .unchanged)], cached: true))
                == #"{"result":"unchanged","cached":true}"#)
        #expect(
            text(.refreshed([(a, .changed), (b, .failed(denied))], cached: false))
                == #"{"result":"changed","changed":["app/a"],"failed":[{"secretId":"app/b","error":"AccessDeniedException"}],"cached":false}"#
        )
        #expect(AgentResponse.refreshed([(b, .failed(denied))], cached: false) == .failure(denied))
        #expect(AgentResponse.refreshed([(a, .changed), (b, .notWritten)], cached: false).status == 500)
        let notConfigured = AgentResponse.notConfigured(secretID: #"x"y"#)
        #expect(notConfigured.status == 404)
        #expect(text(notConfigured) == #"{"error":"not configured","secretId":"x\"y"}"#)
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

    /// `output.rs`: `CreatedDate` is a string of seconds as Rust prints an f64, or null.
    @Test func createdDateIsAStringAsRustPrintsIt() {
        #expect(AgentEntry.createdDate(Date(timeIntervalSince1970: 1_569_534_789.046)) == "1569534789.046")
        #expect(AgentEntry.createdDate(Date(timeIntervalSince1970: 1_800_000_000)) == "1800000000")
        #expect(AgentEntry.createdDate(Date(timeIntervalSince1970: 1_523_477_145.729)) == "1523477145.729")
        var value = AgentFixtures.value("MyTest")
        value.createdDate = nil
        #expect(String(decoding: AgentEntry.encode(value), as: UTF8.self).hasSuffix(#""CreatedDate":null}"#))
    }
}
