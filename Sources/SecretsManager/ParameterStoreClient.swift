/// Parameter Store's operations (SSM's `GetParameters` and `GetParametersByPath`), on an
/// ``AWSJSONClient`` configured for it. Every call throws a ``ParameterStoreError``.
public struct ParameterStoreClient: Sendable {
    /// The most names `GetParameters` takes in one call.
    public static let parametersLimit = 10

    /// The protocol client every call goes through (signing, retries, counts).
    public let jsonClient: AWSJSONClient

    /// Parameter Store over `jsonClient`, which must be configured for it.
    public init(_ jsonClient: AWSJSONClient) {
        precondition(
            jsonClient.configuration.service == .parameterStore, "a Parameter Store client over another service")
        self.jsonClient = jsonClient
    }

    /// Where the calls go: the endpoint, the region, the retry budget.
    public var configuration: AWSJSONClient.Configuration { jsonClient.configuration }

    /// HTTP requests sent so far, per operation (every attempt counts).
    public var apiCalls: [String: Int] { jsonClient.apiCalls }

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
