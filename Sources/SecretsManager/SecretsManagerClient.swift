/// Secrets Manager's operations, on an ``AWSJSONClient`` configured for it: typed requests and
/// answers, batching and paging. Every call throws a ``SecretsManagerError``.
public struct SecretsManagerClient: ServiceClient {
    /// Largest batch `BatchGetSecretValue` takes by id.
    public static let batchLimit = 20

    public typealias Failure = SecretsManagerError
    public let jsonClient: AWSJSONClient
    public init(holding jsonClient: AWSJSONClient) { self.jsonClient = jsonClient }

    /// `GetSecretValue` for one secret, by name or ARN, optionally a stage or a version.
    public func getSecretValue(id: String, versionStage: String? = nil, versionID: String? = nil)
        async throws(SecretsManagerError) -> SecretValue
    {
        do {
            return try await call(
                "GetSecretValue", GetSecretValueRequest(SecretId: id, VersionStage: versionStage, VersionId: versionID),
                as: SecretValue.self)
        } catch {
            var error = error
            error.resourceID = error.resourceID ?? id
            error.versionStage = versionStage
            error.versionID = versionID
            throw error
        }
    }

    /// `BatchGetSecretValue` over any number of ids: split into calls of at most 20, each paged
    /// through `NextToken`. Secrets that fail one by one come back in ``BatchGetResult/errors``;
    /// a failure of the call itself throws. `retryThrottling: false` gives up on the first
    /// `ThrottlingException`, for a caller that has a cheaper way round it.
    public func batchGetSecretValue(ids: [String], retryThrottling: Bool = true) async throws(SecretsManagerError)
        -> BatchGetResult
    {
        var values: [SecretValue] = []
        var errors: [SecretsManagerError] = []
        var start = 0
        while start < ids.count {
            let chunk = Array(ids[start..<min(start + Self.batchLimit, ids.count)])
            start += Self.batchLimit
            var token: String?
            var pages = 0
            repeat {
                let page = try await call(
                    "BatchGetSecretValue", BatchGetSecretValueRequest(SecretIdList: chunk, NextToken: token),
                    as: BatchGetSecretValueResponse.self, resourceID: chunk.count == 1 ? chunk[0] : nil,
                    retryThrottling: retryThrottling)
                values += page.SecretValues ?? []
                for failure in page.Errors ?? [] {
                    let code = failure.ErrorCode ?? "UnknownError"
                    errors.append(
                        SecretsManagerError(
                            jsonClient.failure(
                                AWSCallError.category(forCode: code, status: 400), "BatchGetSecretValue",
                                failure.SecretId, code: code, awsMessage: failure.Message)))
                }
                token = page.NextToken.flatMap { $0.isEmpty ? nil : $0 }
                pages += 1
            } while token != nil && pages < 1000
        }
        return BatchGetResult(values: values, errors: errors)
    }

    /// `ListSecrets`, optionally only names starting with `namePrefix` (case-sensitive), 100 per
    /// page, paging while `NextToken` is present — even after an empty page.
    public func listSecrets(namePrefix: String? = nil) async throws(SecretsManagerError) -> [SecretListEntry] {
        try await listSecrets(namePrefixes: namePrefix.map { [$0] } ?? [])
    }

    /// `ListSecrets` for names starting with any of `namePrefixes` (at most 10, one `name` filter
    /// whose values AWS ORs together); every secret when empty. `retryThrottling: false` gives up on
    /// the first `ThrottlingException`, for a caller that has a cheaper way round it.
    public func listSecrets(namePrefixes: [String], retryThrottling: Bool = true) async throws(SecretsManagerError)
        -> [SecretListEntry]
    {
        var entries: [SecretListEntry] = []
        var token: String?
        var seenTokens: Set<String> = []
        repeat {
            let filters = namePrefixes.isEmpty ? nil : [ListSecretsRequest.Filter(Key: "name", Values: namePrefixes)]
            let page = try await call(
                "ListSecrets", ListSecretsRequest(Filters: filters, MaxResults: 100, NextToken: token),
                as: ListSecretsResponse.self, retryThrottling: retryThrottling)
            entries += page.SecretList ?? []
            token = page.NextToken.flatMap { $0.isEmpty ? nil : $0 }
            if let token, !seenTokens.insert(token).inserted {
                throw SecretsManagerError(
                    jsonClient.failure(
                        .service, "ListSecrets", nil, detail: "ListSecrets returned the same NextToken twice"))
            }
        } while token != nil
        if !namePrefixes.isEmpty {
            // The filter is a prefix match on AWS; keep the contract even if a peer is looser.
            entries = entries.filter { entry in namePrefixes.contains { entry.name.hasPrefix($0) } }
        }
        return entries
    }

    /// `DescribeSecret`: versions and rotation dates, never the value (and never KMS).
    public func describeSecret(id: String) async throws(SecretsManagerError) -> SecretDescription {
        try await call(
            "DescribeSecret", DescribeSecretRequest(SecretId: id), as: SecretDescription.self, resourceID: id)
    }

    /// `ListSecretVersionIds`: every version with its stages and dates, never a value; paged.
    public func listSecretVersionIDs(id: String) async throws(SecretsManagerError) -> [SecretVersionEntry] {
        var versions: [SecretVersionEntry] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await call(
                "ListSecretVersionIds", ListSecretVersionIdsRequest(SecretId: id, MaxResults: 100, NextToken: token),
                as: ListSecretVersionIdsResponse.self, resourceID: id)
            versions += page.Versions ?? []
            token = page.NextToken.flatMap { $0.isEmpty ? nil : $0 }
            pages += 1
        } while token != nil && pages < 100
        return versions
    }

    /// `GetResourcePolicy`: the secret's resource policy document, or nil when it has none.
    public func getResourcePolicy(id: String) async throws(SecretsManagerError) -> String? {
        try await call(
            "GetResourcePolicy", DescribeSecretRequest(SecretId: id), as: GetResourcePolicyResponse.self,
            resourceID: id
        ).ResourcePolicy
    }

    /// `CreateSecret` with a string value. `token` is the `ClientRequestToken`: a retry with the
    /// same token and value makes no second version.
    public func createSecret(
        name: String, value: String, token: String, description: String? = nil, kmsKeyID: String? = nil,
        tags: [SecretTag] = []
    ) async throws(SecretsManagerError) -> SecretVersionCreated {
        try await call(
            "CreateSecret",
            CreateSecretRequest(
                Name: name, SecretString: value, ClientRequestToken: token, Description: description,
                KmsKeyId: kmsKeyID, Tags: tags.isEmpty ? nil : tags),
            as: SecretVersionCreated.self, resourceID: name)
    }

    /// `PutSecretValue`: a new `AWSCURRENT` version; the one before becomes `AWSPREVIOUS`.
    public func putSecretValue(id: String, value: String, token: String) async throws(SecretsManagerError)
        -> SecretVersionCreated
    {
        try await call(
            "PutSecretValue", PutSecretValueRequest(SecretId: id, SecretString: value, ClientRequestToken: token),
            as: SecretVersionCreated.self, resourceID: id)
    }

    /// One call through ``jsonClient``, its failure as Secrets Manager's.
    private func call<Request: Encodable, Response: Decodable>(
        _ operation: String, _ payload: Request, as: Response.Type, resourceID: String? = nil,
        retryThrottling: Bool = true
    ) async throws(SecretsManagerError) -> Response {
        do {
            return try await jsonClient.call(
                operation, payload, as: Response.self, resourceID: resourceID, retryThrottling: retryThrottling)
        } catch {
            throw SecretsManagerError(error)
        }
    }
}
