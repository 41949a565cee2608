/// Parameter Store's operations (SSM's `GetParameters` and `GetParametersByPath`), on an
/// ``AWSJSONClient`` configured for it. Every call throws a ``ParameterStoreError``.
public struct ParameterStoreClient: ServiceClient {
    /// The most names `GetParameters` takes in one call.
    public static let parametersLimit = 10

    public typealias Failure = ParameterStoreError
    public let jsonClient: AWSJSONClient
    public init(holding jsonClient: AWSJSONClient) { self.jsonClient = jsonClient }

    /// `GetParameters` over any number of names (a name, an ARN, or either with a `:version` or
    /// `:label` selector), decrypted: calls of at most ten. Names Parameter Store does not know, or
    /// the role may not read, come back in ``ParametersResult/invalid``, as AWS lists them.
    public func getParameters(names: [String]) async throws(ParameterStoreError) -> ParametersResult {
        var result = ParametersResult(parameters: [], invalid: [])
        var start = 0
        while start < names.count {
            let chunk = Array(names[start..<min(start + Self.parametersLimit, names.count)])
            start += Self.parametersLimit
            let page = try await call(
                "GetParameters", GetParametersRequest(Names: chunk, WithDecryption: true),
                as: GetParametersResponse.self, resourceID: chunk.count == 1 ? chunk[0] : nil)
            result.parameters += page.Parameters ?? []
            result.invalid += page.InvalidParameters ?? []
        }
        return result
    }

    /// The names under `path`: `GetParametersByPath`, recursive, paging while `NextToken` is
    /// present. Never decrypted (no `kms:Decrypt` needed, so `review` can list a path), and only the
    /// names are decoded: the values come with ``getParameters(names:)``.
    public func parameterNames(underPath path: String) async throws(ParameterStoreError) -> [String] {
        var names: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await call(
                "GetParametersByPath",
                GetParametersByPathRequest(Path: path, Recursive: true, WithDecryption: false, NextToken: token),
                as: GetParametersByPathResponse.self, resourceID: path)
            names += (page.Parameters ?? []).map(\.Name)
            token = page.NextToken.flatMap { $0.isEmpty ? nil : $0 }
            pages += 1
        } while token != nil && pages < 1000
        return names
    }

    /// One call through ``jsonClient``, its failure as Parameter Store's.
    private func call<Request: Encodable, Response: Decodable>(
        _ operation: String, _ payload: Request, as: Response.Type, resourceID: String?
    ) async throws(ParameterStoreError) -> Response {
        do {
            return try await jsonClient.call(operation, payload, as: Response.self, resourceID: resourceID)
        } catch {
            throw ParameterStoreError(error)
        }
    }
}
