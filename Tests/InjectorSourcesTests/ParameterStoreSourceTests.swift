import AWSCredentials
import Foundation
import HTTPTransport
import InjectorBase
import Logging
import SecretsManager
import TestSupport
import Testing

@testable import InjectorSources

/// `ParameterStoreSource` offline: each parameter ARN is asked in its own region, at
/// that region's endpoint and signed for it, as ECS reads it; names in calls of ten; an answer
/// matched to its request; a region without a client is one line.
@Suite struct ParameterStoreSourceTests {
    /// A fake Parameter Store that answers every asked name with `value-of-<name>`.
    static let transport = FakeTransport { request, _ in
        let body = try JSONValue.parse(request.body)
        var names: [String] = []
        if case .array(let list)? = body["Names"] { names = list.map(\.text) }
        let parameters = names.map { name -> JSONValue in
            let arn = name.hasPrefix("arn:") ? name : "arn:aws:ssm:ap-southeast-1:123456789012:parameter\(name)"
            let plain =
                name.hasPrefix("arn:")
                ? "/" + (name.split(separator: "/", maxSplits: 1).last.map(String.init) ?? "") : name
            return .fields([
                "Name": .string(plain), "Type": .string("SecureString"), "Value": .string("value-of-\(plain)"),
                "Version": .number("4"), "ARN": .string(arn),
            ])
        }
        return HTTPResponse(
            status: 200, headers: [],
            body: Array(
                JSONValue.fields(["Parameters": .array(parameters), "InvalidParameters": .array([])]).serialized.utf8))
    }

    static func source(regions: Bool) throws -> ParameterStoreSource {
        let provider = try EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s",
        ])!
        let primary = ParameterStoreClient(
            AWSJSONClient(
                configuration: .init(
                    service: .parameterStore,
                    endpoint: try Endpoint(url: "https://ssm.ap-southeast-1.amazonaws.com", origin: "test"),
                    region: "ap-southeast-1"),
                credentials: RefreshingCredentials(provider: provider), transport: transport, sleep: { _ in }))
        let clientForRegion: @Sendable (String) throws -> ParameterStoreClient = { region in
            let endpoint = try Endpoint.resolve(
                environment: [:], configured: nil, region: region, service: .parameterStore)
            return ParameterStoreClient(
                primary.jsonClient.client(for: .parameterStore, endpoint: endpoint, region: region))
        }
        return ParameterStoreSource(
            client: primary, logger: Logger(label: "test"), clientForRegion: regions ? clientForRegion : nil)
    }

    @Test func anARNInAnotherRegionIsAskedThere() async throws {
        let before = Self.transport.requests.count
        let elsewhere = "arn:aws:ssm:eu-west-1:210987654321:parameter/shared/db-pass"
        let requests = [SecretRequest(id: "/pipeline-pulse/prod/region"), SecretRequest(id: elsewhere)]
        let results = try await Self.source(regions: true).fetch(requests)
        #expect(try results[requests[0]]?.get().secretString == "value-of-/pipeline-pulse/prod/region")
        #expect(try results[requests[1]]?.get().secretString == "value-of-/shared/db-pass")
        #expect(try results[requests[1]]?.get().versionID == "4")
        let sent = Self.transport.requests.dropFirst(before)
        func header(_ request: HTTPRequest, _ name: String) -> String {
            request.headers.first { $0.name.lowercased() == name.lowercased() }?.value ?? ""
        }
        let european = try #require(sent.first { $0.url.contains("eu-west-1") })
        #expect(european.url == "https://ssm.eu-west-1.amazonaws.com/")
        #expect(header(european, "Authorization").contains("/eu-west-1/ssm/aws4_request"))
        #expect(
            String(decoding: european.body, as: UTF8.self).contains(
                #""arn:aws:ssm:eu-west-1:210987654321:parameter\/shared\/db-pass""#)
                || String(decoding: european.body, as: UTF8.self).contains(elsewhere))
        #expect(sent.filter { $0.url.contains("ap-southeast-1") }.count == 1)
    }

    @Test func withoutAClientForTheRegionTheRequestFailsInOneLine() async throws {
        let elsewhere = SecretRequest(id: "arn:aws:ssm:eu-west-1:210987654321:parameter/shared/db-pass")
        let results = try await Self.source(regions: false).fetch([elsewhere])
        guard case .failure(let error)? = results[elsewhere] else {
            Issue.record("read without a client for eu-west-1")
            return
        }
        #expect("\(error)".contains("eu-west-1") && !"\(error)".contains("\n"), "\(error)")
    }
}
