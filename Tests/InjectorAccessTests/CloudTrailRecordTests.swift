import Foundation
import InjectorAccess
import Testing

/// Decoding a `CloudTrailEvent` a second time: the shapes CloudTrail writes for Secrets Manager
/// calls, every field optional, the secret named in any of its places (`aRN` included).
@Suite struct CloudTrailRecordTests {
    static let databaseARN =
        "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-AbC123"

    /// A GetSecretValue by an ECS task role, through a VPC endpoint (eventVersion 1.09 envelope).
    static let assumedRoleRead = #"""
        {"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "arn":"arn:aws:sts::123456789012:assumed-role/pipeline-pulse-task/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "accountId":"123456789012","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role",
        "principalId":"AROAEXAMPLE","arn":"arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task","accountId":"123456789012",
        "userName":"pipeline-pulse-task"},"attributes":{"creationDate":"20131102T010628Z","mfaAuthenticated":"false"}}},
        "eventTime":"2026-11-30T08:15:02Z","eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue",
        "awsRegion":"ap-southeast-1","sourceIPAddress":"10.0.1.23","userAgent":"secrets-injector/1.0",
        "requestParameters":{"secretId":"pipeline-pulse/prod/database","versionStage":"AWSCURRENT"},
        "responseElements":null,"requestID":"r","eventID":"e","readOnly":true,"eventType":"AwsApiCall",
        "managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management",
        "vpcEndpointId":"vpce-0a1b2c3d4e5f60718","vpcEndpointAccountId":"123456789012"}
        """#

    @Test func decodesAnAssumedRoleReadThroughAVPCEndpoint() throws {
        let record = try #require(CloudTrailRecord(json: Self.assumedRoleRead))
        #expect(record.eventName == "GetSecretValue")
        #expect(record.eventSource == "secretsmanager.amazonaws.com")
        #expect(record.eventTime == Date(timeIntervalSince1970: 1_796_026_502))
        #expect(record.identity.type == "AssumedRole")
        #expect(record.identity.sessionIssuerARN == "arn:aws:iam::123456789012:role/ecs/pipeline-pulse-task")
        #expect(record.vpcEndpointID == "vpce-0a1b2c3d4e5f60718")
        #expect(record.sourceIPAddress == "10.0.1.23")
        #expect(record.userAgent == "secrets-injector/1.0")
        #expect(record.recipientAccountID == "123456789012")
        #expect(record.errorCode == nil && !record.isAccessDenied)
        // The secret only: not the other request parameters.
        #expect(record.secretIDs == ["pipeline-pulse/prod/database"])
    }

    @Test func everyFieldIsOptional() throws {
        let empty = try #require(CloudTrailRecord(json: "{}"))
        #expect(empty.eventName == nil && empty.identity == CloudTrailRecord.Identity() && empty.secretIDs.isEmpty)
        // A service event: userIdentity with only accountId and invokedBy; requestParameters null.
        let service = try #require(
            CloudTrailRecord(
                json: #"""
                    {"userIdentity":{"accountId":"123456789012","invokedBy":"secretsmanager.amazonaws.com"},
                    "eventName":"RotationFailed","requestParameters":null,"responseElements":null,
                    "additionalEventData":{"SecretId":"\#(Self.databaseARN)"},"eventTime":"not a time"}
                    """#))
        #expect(service.identity.invokedBy == "secretsmanager.amazonaws.com" && service.identity.type == nil)
        #expect(service.secretIDs == [Self.databaseARN])
        #expect(service.eventTime == nil)
        #expect(CloudTrailRecord(json: "not json") == nil)
        #expect(CloudTrailRecord(json: "[1, 2]") == nil)
    }

    @Test func findsTheSecretInEachPlaceARecordNamesIt() throws {
        // Before February 2024 some records said aRN instead of arn.
        let old = try #require(
            CloudTrailRecord(
                json: #"{"eventName":"PutSecretValue","responseElements":{"aRN":"\#(Self.databaseARN)","name":"x"}}"#))
        #expect(old.secretIDs == [Self.databaseARN])
        let new = try #require(
            CloudTrailRecord(json: #"{"responseElements":{"arn":"\#(Self.databaseARN)"}}"#))
        #expect(new.secretIDs == [Self.databaseARN])
        let resources = try #require(
            CloudTrailRecord(
                json: #"{"resources":[{"ARN":"\#(Self.databaseARN)","type":"AWS::SecretsManager::Secret"}]}"#))
        #expect(resources.secretIDs == [Self.databaseARN])
        let batch = try #require(
            CloudTrailRecord(
                json: #"{"eventName":"BatchGetSecretValue","requestParameters":{"secretIdList":["a","b","a"]}}"#))
        #expect(batch.secretIDs == ["a", "b"])
        let filters = try #require(
            CloudTrailRecord(
                json:
                    #"{"eventName":"BatchGetSecretValue","requestParameters":{"filters":[{"key":"name","values":["pipeline-pulse/"]}]}}"#
            ))
        #expect(filters.secretIDs.isEmpty)
    }

    @Test func aDeniedCallIsAnAccessDeniedErrorCode() throws {
        for code in ["AccessDenied", "AccessDeniedException"] {
            let record = try #require(CloudTrailRecord(json: #"{"errorCode":"\#(code)","errorMessage":"no"}"#))
            #expect(record.isAccessDenied, "\(code)")
        }
        let missing = try #require(CloudTrailRecord(json: #"{"errorCode":"ResourceNotFoundException"}"#))
        #expect(!missing.isAccessDenied && missing.errorCode == "ResourceNotFoundException")
    }
}
