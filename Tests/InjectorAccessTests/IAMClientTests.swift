import HTTPTransport
import InjectorBase
import InjectorSources
import Logging
import SecretsManager
import TestSupport
import Testing

@testable import InjectorAccess

/// The XML reader, the documents' percent-decoding, `GetAccountAuthorizationDetails`' paging and
/// its refusal.
@Suite struct IAMClientTests {
    @Test func xmlReaderDecodesEntitiesNestingAndMemberLists() throws {
        let tree = try XMLTree.parse(
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- a comment -->
            <Root xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
              <Name a='1' b="x&gt;y">a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#65;&#x42;&#xe9;</Name>
              <List>
                <member><Value>one</Value></member>
                <member><Value>two</Value><Deep><Deeper>three</Deeper></Deep></member>
              </List>
              <Empty/>
            </Root>
            """)
        #expect(tree.name == "Root")
        #expect(tree.child("Name")?.text == "a <b> & \"c\" 'd' ABé")
        #expect(tree["List"]?.members.map { $0.child("Value")?.text } == ["one", "two"])
        #expect(tree["List"]?.members.last?["Deep", "Deeper"]?.text == "three")
        #expect(tree.child("Empty")?.children == [] && tree.child("Empty")?.text == "")
        #expect(throws: XMLTree.ParseError.self) { try XMLTree.parse("<a><b></a>") }
        // Nesting deep enough to exhaust the stack is refused, not recursed into.
        let deep = String(repeating: "<a>", count: 5000) + String(repeating: "</a>", count: 5000)
        #expect(throws: XMLTree.ParseError.self) { try XMLTree.parse(deep) }
        let fine =
            String(repeating: "<a>", count: XMLTree.maxDepth) + String(repeating: "</a>", count: XMLTree.maxDepth)
        #expect(try XMLTree.parse(fine).name == "a")
        #expect(throws: XMLTree.ParseError.self) { try XMLTree.parse("<a>&nbsp;</a>") }
        #expect(throws: XMLTree.ParseError.self) { try XMLTree.parse("<a><![CDATA[x]]></a>") }
        #expect(throws: XMLTree.ParseError.self) { try XMLTree.parse("<a></a><b/>") }
    }

    @Test func documentsArePercentDecoded() {
        #expect(
            IAMClient.percentDecoded("%7B%22Version%22%3A%20%222012-10-17%22%7D") == #"{"Version": "2012-10-17"}"#)
        #expect(IAMClient.percentDecoded("a/b%2Fc%C3%A9+%zz%4") == "a/b/cé+%zz%4")
    }

    static func page(_ body: String) -> String {
        """
        <GetAccountAuthorizationDetailsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
          <GetAccountAuthorizationDetailsResult>\(body)</GetAccountAuthorizationDetailsResult>
          <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
        </GetAccountAuthorizationDetailsResponse>
        """
    }

    static func iam(_ transport: FakeTransport) throws -> IAMClient {
        IAMClient(
            try testClient(transport).jsonClient.client(
                for: .identity, endpoint: try Endpoint(url: "http://127.0.0.1:1", origin: "test")))
    }

    @Test func pagesWithMarkerAndKeepsOnlyTheDefaultVersion() async throws {
        let read =
            "%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22secretsmanager%3AGetSecretValue%22%2C%22Resource%22%3A%22%2A%22%7D%7D"
        let first = Self.page(
            """
            <UserDetailList><member><UserName>alice</UserName><Arn>arn:aws:iam::111122223333:user/alice</Arn>
              <GroupList><member>readers</member></GroupList>
              <UserPolicyList><member><PolicyName>p</PolicyName><PolicyDocument>\(read)</PolicyDocument></member></UserPolicyList>
              <PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>arn:aws:iam::111122223333:policy/cap</PermissionsBoundaryArn></PermissionsBoundary>
            </member></UserDetailList>
            <IsTruncated>true</IsTruncated><Marker>next&amp;one</Marker>
            """)
        let second = Self.page(
            """
            <RoleDetailList><member><RoleName>app</RoleName><Arn>arn:aws:iam::111122223333:role/app</Arn>
              <AttachedManagedPolicies><member><PolicyName>m</PolicyName><PolicyArn>arn:aws:iam::111122223333:policy/m</PolicyArn></member></AttachedManagedPolicies>
            </member></RoleDetailList>
            <Policies><member><Arn>arn:aws:iam::111122223333:policy/m</Arn><DefaultVersionId>v2</DefaultVersionId>
              <PolicyVersionList>
                <member><Document>old</Document><VersionId>v1</VersionId><IsDefaultVersion>false</IsDefaultVersion></member>
                <member><Document>\(read)</Document><VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion></member>
              </PolicyVersionList></member></Policies>
            <IsTruncated>false</IsTruncated>
            """)
        let transport = FakeTransport { _, index in .json(200, index == 0 ? first : second) }
        let details = try await Self.iam(transport).accountAuthorizationDetails()
        #expect(transport.requests.count == 2)
        let bodies = transport.requests.map { String(decoding: $0.body, as: UTF8.self) }
        #expect(bodies[0] == "Action=GetAccountAuthorizationDetails&Version=2010-05-08")
        #expect(bodies[1] == "Action=GetAccountAuthorizationDetails&Version=2010-05-08&Marker=next%26one")
        let headers = transport.requests[0].headers
        #expect(
            headers.contains { $0.name == "Content-Type" && $0.value.hasPrefix("application/x-www-form-urlencoded") })
        #expect(!headers.contains { $0.name == "X-Amz-Target" })
        // Signed for IAM in us-east-1, whatever the secrets' region.
        #expect(
            headers.contains {
                $0.name == "Authorization" && $0.value.contains("/us-east-1/iam/aws4_request")
            })
        #expect(details.users.map(\.name) == ["alice"])
        #expect(details.users[0].groups == ["readers"])
        #expect(details.users[0].permissionsBoundary == "arn:aws:iam::111122223333:policy/cap")
        #expect(details.users[0].inlinePolicies.first?.document.hasPrefix(#"{"Statement":{"Effect":"Allow""#) == true)
        #expect(details.roles.map(\.arn) == ["arn:aws:iam::111122223333:role/app"])
        #expect(details.managedPolicies["arn:aws:iam::111122223333:policy/m"]?.contains("GetSecretValue") == true)
        #expect(IAMAccount(details).principals.map(\.documents.count) == [1, 1])
    }

    @Test func aRepeatedMarkerEndsTheCall() async throws {
        let page = Self.page("<IsTruncated>true</IsTruncated><Marker>same</Marker>")
        let transport = FakeTransport { _, _ in .json(200, page) }
        await #expect(throws: IAMError.self) { try await Self.iam(transport).accountAuthorizationDetails() }
        #expect(transport.requests.count == 2)
    }

    @Test func aDenialNamesThePermissionOnOneLineAndExits3() async throws {
        let denied = """
            <ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>
            <Code>AccessDenied</Code><Message>User: arn:aws:sts::1:assumed-role/x/y is not authorized to perform: iam:GetAccountAuthorizationDetails</Message>
            </Error><RequestId>r</RequestId></ErrorResponse>
            """
        let transport = FakeTransport { _, _ in .json(403, denied) }
        do {
            _ = try await Self.iam(transport).accountAuthorizationDetails()
            Issue.record("no error")
        } catch {
            #expect(AWSCallError(error)?.category == .accessDenied)
            let exit = try #require(PermissionReviewCommand.refusal(error) as? CommandExit)
            #expect(exit.exitStatus == .notFoundOrDenied)
            let message = try #require(exit.message)
            #expect(message.contains("iam:GetAccountAuthorizationDetails"))
            #expect(!message.contains("\n"))
        }
        #expect(transport.requests.count == 1)  // a denial is not retried
    }

    @Test func throttlingIsRetriedThroughTheSameLoop() async throws {
        let throttled =
            "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
        let ok = Self.page("<IsTruncated>false</IsTruncated>")
        let transport = FakeTransport { _, index in index == 0 ? .json(400, throttled) : .json(200, ok) }
        let client = try Self.iam(transport)
        _ = try await client.accountAuthorizationDetails()
        #expect(client.apiCalls["GetAccountAuthorizationDetails"] == 2)
    }

    @Test func theEndpointIsIAMsGlobalOneUnlessAVariableNamesAnother() throws {
        #expect(
            try Endpoint.resolve(environment: [:], configured: nil, region: "ap-southeast-1", service: .identity).url
                == "https://iam.amazonaws.com/")
        #expect(
            try Endpoint.resolve(
                environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:5"], configured: nil, region: "eu-west-1",
                service: .identity
            ).url == "http://127.0.0.1:5/")
        #expect(
            try Endpoint.resolve(
                environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:5", "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:6"],
                configured: "http://127.0.0.1:7", region: "eu-west-1", service: .identity
            ).url == "http://127.0.0.1:6/")
        // The rule every endpoint follows: plain http only to loopback.
        let primary = try testClient(FakeTransport { _, _ in .json(200, "{}") }).jsonClient
        for service in [AWSService.identity, .keyManagement] {
            #expect(throws: AWSCallError.self) {
                try AWSSetup.client(
                    for: service, beside: primary, environment: ["AWS_ENDPOINT_URL": "http://iam.example.com"],
                    allowInsecureEndpoint: false, logger: Logger(label: "test"))
            }
            let loopback = try AWSSetup.client(
                for: service, beside: primary, environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:4566"],
                allowInsecureEndpoint: false, logger: Logger(label: "test"))
            #expect(loopback.configuration.service == service && loopback.configuration.region == "ap-southeast-1")
        }
        #expect(AWSService.identity.signingRegion(for: "ap-southeast-1") == "us-east-1")
        #expect(AWSService.identity.signingRegion(for: "cn-northwest-1") == "cn-north-1")
    }
}
