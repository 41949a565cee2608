import InjectorBase
import Testing

/// The one ARN type: parsed, built, and a secret's ARN at the start of ECS's `valueFrom`.
@Suite struct ARNTests {
    @Test func partsAndRoundTrip() throws {
        let secret = try #require(ARN("arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pp/db-AbCdEf"))
        #expect(secret.partition == "aws" && secret.service == "secretsmanager" && secret.region == "ap-southeast-1")
        #expect(secret.account == "123456789012" && secret.resource == "secret:pp/db-AbCdEf")
        #expect(secret.description == "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pp/db-AbCdEf")
        let role = try #require(ARN("arn:aws:iam::123456789012:role/app"))
        #expect(role.region.isEmpty && role.resource == "role/app")
        #expect(ARN("arn:aws:s3:::bucket/key")?.account == "")
        #expect(ARN("arn:aws:ssm:eu-west-1:123456789012:parameter/a/b:3")?.resource == "parameter/a/b:3")
        for text in ["arn:aws:ssm:eu-west-1:123", "arn::ssm:r:a:x", "arn:aws::r:a:x", "pp/db", ""] {
            #expect(ARN(text) == nil, "\(text)")
        }
        #expect(ARN.service(of: "arn:aws:ssm:eu-west-1") == "ssm" && ARN.service(of: "ssm") == nil)
    }

    @Test func builtInTheRegionsPartition() {
        #expect(
            ARN(service: "secretsmanager", region: "cn-north-1", account: nil, resource: "secret:x-??????").description
                == "arn:aws-cn:secretsmanager:cn-north-1:*:secret:x-??????")
        #expect(
            ARN(service: "ssm", region: nil, account: "1", resource: "parameter/p").description
                == "arn:aws:ssm:*:1:parameter/p")
        #expect(ARN.partition(region: "us-gov-west-1") == "aws-us-gov" && ARN.partition(region: "eu-west-1") == "aws")
        #expect(ARN.isAccountID("123456789012") && !ARN.isAccountID("ACCOUNT_ID") && !ARN.isAccountID("1234"))
    }

    @Test func aSecretsARNBeforeECSsSelectors() throws {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pp/jwt-AbCdEf"
        let (id, rest) = try #require(ARN.secretPrefix(of: arn + ":secret:AWSCURRENT:"))
        #expect(id == arn && rest == ["secret", "AWSCURRENT", ""])
        #expect(ARN.secretPrefix(of: arn)?.rest == [])
        #expect(ARN.secretPrefix(of: "arn:aws:ssm:us-east-1:123456789012:parameter/x") == nil)
        #expect(ARN.secretPrefix(of: "pp/jwt:secret") == nil)
    }
}
