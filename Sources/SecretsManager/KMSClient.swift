/// KMS's operations the permission review reads: a key's description and its key policy. Every
/// call throws a ``KMSError``.
public struct KMSClient: ServiceClient {
    public typealias Failure = KMSError
    public let jsonClient: AWSJSONClient
    public init(holding jsonClient: AWSJSONClient) { self.jsonClient = jsonClient }

    /// `DescribeKey`: the key's ARN and who manages it, for a key id, key ARN, alias name or alias ARN.
    public func describeKey(id: String) async throws(KMSError) -> KMSKeyDescription {
        struct Request: Encodable { var KeyId: String }
        struct Response: Decodable {
            struct Metadata: Decodable {
                var Arn: String
                var KeyManager: String?
            }
            var KeyMetadata: Metadata
        }
        let answer = try await call("DescribeKey", Request(KeyId: id), as: Response.self, resourceID: id)
        return KMSKeyDescription(
            arn: answer.KeyMetadata.Arn, customerManaged: answer.KeyMetadata.KeyManager != "AWS")
    }

    /// `GetKeyPolicy` for the policy named `default` (a key has no other): the document's JSON text.
    public func keyPolicy(id: String) async throws(KMSError) -> String {
        struct Request: Encodable {
            var KeyId: String
            var PolicyName: String
        }
        struct Response: Decodable { var Policy: String? }
        return try await call(
            "GetKeyPolicy", Request(KeyId: id, PolicyName: "default"), as: Response.self, resourceID: id
        ).Policy ?? ""
    }

    private func call<Request: Encodable, Response: Decodable>(
        _ operation: String, _ payload: Request, as: Response.Type, resourceID: String
    ) async throws(KMSError) -> Response {
        do {
            return try await jsonClient.call(operation, payload, as: Response.self, resourceID: resourceID)
        } catch {
            throw KMSError(error)
        }
    }
}

/// What `DescribeKey` says of a key: its ARN, and whether a customer manages it (`KeyManager`
/// `CUSTOMER`) or AWS does (`AWS`, such as `aws/secretsmanager`).
public struct KMSKeyDescription: Sendable, Equatable {
    public var arn: String
    public var customerManaged: Bool

    public init(arn: String, customerManaged: Bool) {
        self.arn = arn
        self.customerManaged = customerManaged
    }
}

/// A failed KMS call: what ``KMSClient`` throws. Its message names KMS, the `kms:` permission and
/// `AWS_ENDPOINT_URL_KMS`.
public struct KMSError: ServiceError {
    public static let service = AWSService.keyManagement
    public var underlying: AWSCallError
    public init(holding underlying: AWSCallError) { self.underlying = underlying }
}
