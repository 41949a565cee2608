public import AWSCredentials
import AWSSigning
public import FoundationEssentials
public import HTTPTransport
import InjectorBase
public import Logging
import Synchronization

/// A Secrets Manager client over the JSON 1.1 protocol, signed with SigV4 (SPEC §3).
///
/// Each call is re-signed on every attempt with the clock corrected by the skew learned from the
/// server's `Date` header. Throttling, 5xx and connection failures are retried ("standard" mode,
/// jittered exponential back-off); an expired or unrecognized token forces one credential
/// refresh; a signature refused for clock skew is retried once with the corrected time.
public final class SecretsManagerClient: Sendable {
    /// The AWS JSON 1.1 services this client speaks: the name requests are signed for and the
    /// prefix of `X-Amz-Target`.
    public enum Service: String, Sendable {
        case secretsManager, parameterStore

        public var signingName: String { self == .secretsManager ? "secretsmanager" : "ssm" }
        var targetPrefix: String { self == .secretsManager ? "secretsmanager" : "AmazonSSM" }
    }

    public struct Configuration: Sendable {
        public var endpoint: Endpoint
        public var region: String
        /// Secrets Manager, or Parameter Store (issue 22): the same signing, retries and errors.
        public var service: Service
        /// Total attempts per call (`AWS_MAX_ATTEMPTS`, default 3).
        public var maxAttempts: Int
        public var connectTimeout: Duration
        public var timeout: Duration
        public var userAgent: String

        public init(
            endpoint: Endpoint, region: String, service: Service = .secretsManager, maxAttempts: Int = 3,
            connectTimeout: Duration = .seconds(3), timeout: Duration = .seconds(15),
            userAgent: String = "secrets-injector/\(secretsInjectorVersion)"
        ) {
            self.endpoint = endpoint
            self.region = region
            self.service = service
            self.maxAttempts = max(1, maxAttempts)
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.userAgent = userAgent
        }

        /// `AWS_MAX_ATTEMPTS` as a whole number ≥ 1, or the default 3.
        public static func maxAttempts(environment: [String: String]) throws(SecretsManagerError) -> Int {
            guard let text = environment["AWS_MAX_ATTEMPTS"], !text.isEmpty else { return 3 }
            guard let value = Int(text), value >= 1, value <= 20 else {
                throw .configuration("AWS_MAX_ATTEMPTS \"\(text)\" must be a whole number from 1 to 20")
            }
            return value
        }
    }

    /// Largest batch `BatchGetSecretValue` takes by id.
    public static let batchLimit = 20
    /// Skew beyond which a refused signature is worth one retry with the corrected clock.
    static let skewRetryThreshold: TimeInterval = 4 * 60

    public let configuration: Configuration
    private let credentials: RefreshingCredentials
    private let transport: any HTTPTransport
    private let clock: any WallClock
    private let sleep: @Sendable (Duration) async throws -> Void
    private let random: @Sendable () -> Double
    private let logger: Logger
    private let skew = Mutex<TimeInterval>(0)
    private let callCounts = Mutex<[String: Int]>([:])

    public init(
        configuration: Configuration, credentials: RefreshingCredentials, transport: any HTTPTransport,
        clock: any WallClock = SystemWallClock(),
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        logger: Logger = Logger(label: "secrets-injector.secretsmanager")
    ) {
        self.configuration = configuration
        self.credentials = credentials
        self.transport = transport
        self.clock = clock
        self.sleep = sleep
        self.random = random
        self.logger = logger
    }

    /// A client for another service (Parameter Store) at `endpoint`, in this one's region or
    /// `region`, with this one's credentials, transport, clock and retry budget.
    public func client(for service: Service, endpoint: Endpoint, region: String? = nil) -> SecretsManagerClient {
        var configuration = self.configuration
        configuration.service = service
        configuration.endpoint = endpoint
        configuration.region = region ?? configuration.region
        return SecretsManagerClient(
            configuration: configuration, credentials: credentials, transport: transport, clock: clock, sleep: sleep,
            random: random, logger: logger)
    }

    /// The clock correction learned so far: server time minus local time, in seconds.
    public var clockSkew: TimeInterval { skew.withLock { $0 } }

    /// Waits as the client waits between attempts: with the real clock, or a simulation's.
    public func pause(_ duration: Duration) async throws { try await sleep(duration) }

    /// A number in 0..<1 from the client's source of jitter.
    public func randomFraction() -> Double { random() }

    /// HTTP requests sent so far, per operation (every attempt counts).
    public var apiCalls: [String: Int] { callCounts.withLock { $0 } }

    // MARK: Operations

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
            error.secretID = error.secretID ?? id
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
                    as: BatchGetSecretValueResponse.self, secretID: chunk.count == 1 ? chunk[0] : nil,
                    retryThrottling: retryThrottling)
                values += page.SecretValues ?? []
                for failure in page.Errors ?? [] {
                    let code = failure.ErrorCode ?? "UnknownError"
                    errors.append(
                        SecretsManagerError(
                            category: SecretsManagerError.category(forCode: code, status: 400), code: code,
                            awsMessage: failure.Message,
                            operation: "BatchGetSecretValue", secretID: failure.SecretId, region: configuration.region,
                            endpoint: configuration.endpoint.url))
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
    /// whose values AWS ORs together); every secret when empty.
    public func listSecrets(namePrefixes: [String]) async throws(SecretsManagerError) -> [SecretListEntry] {
        var entries: [SecretListEntry] = []
        var token: String?
        var seenTokens: Set<String> = []
        repeat {
            let filters = namePrefixes.isEmpty ? nil : [ListSecretsRequest.Filter(Key: "name", Values: namePrefixes)]
            let page = try await call(
                "ListSecrets", ListSecretsRequest(Filters: filters, MaxResults: 100, NextToken: token),
                as: ListSecretsResponse.self)
            entries += page.SecretList ?? []
            token = page.NextToken.flatMap { $0.isEmpty ? nil : $0 }
            if let token, !seenTokens.insert(token).inserted {
                throw SecretsManagerError(
                    category: .service, operation: "ListSecrets", region: configuration.region,
                    endpoint: configuration.endpoint.url,
                    detail: "ListSecrets returned the same NextToken twice")
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
        try await call("DescribeSecret", DescribeSecretRequest(SecretId: id), as: SecretDescription.self, secretID: id)
    }

    /// `ListSecretVersionIds`: every version with its stages and dates, never a value; paged.
    public func listSecretVersionIDs(id: String) async throws(SecretsManagerError) -> [SecretVersionEntry] {
        var versions: [SecretVersionEntry] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await call(
                "ListSecretVersionIds", ListSecretVersionIdsRequest(SecretId: id, MaxResults: 100, NextToken: token),
                as: ListSecretVersionIdsResponse.self, secretID: id)
            versions += page.Versions ?? []
            token = page.NextToken.flatMap { $0.isEmpty ? nil : $0 }
            pages += 1
        } while token != nil && pages < 100
        return versions
    }

    /// `GetResourcePolicy`: the secret's resource policy document, or nil when it has none.
    public func getResourcePolicy(id: String) async throws(SecretsManagerError) -> String? {
        try await call(
            "GetResourcePolicy", DescribeSecretRequest(SecretId: id), as: GetResourcePolicyResponse.self, secretID: id
        ).ResourcePolicy
    }

    /// `CreateSecret` with a string value. `token` is the `ClientRequestToken`: a retry with the
    /// same token and value makes no second version (SPEC §10).
    public func createSecret(
        name: String, value: String, token: String, description: String? = nil, kmsKeyID: String? = nil,
        tags: [SecretTag] = []
    ) async throws(SecretsManagerError) -> SecretVersionCreated {
        try await call(
            "CreateSecret",
            CreateSecretRequest(
                Name: name, SecretString: value, ClientRequestToken: token, Description: description,
                KmsKeyId: kmsKeyID, Tags: tags.isEmpty ? nil : tags),
            as: SecretVersionCreated.self, secretID: name)
    }

    /// `PutSecretValue`: a new `AWSCURRENT` version; the one before becomes `AWSPREVIOUS`.
    public func putSecretValue(id: String, value: String, token: String) async throws(SecretsManagerError)
        -> SecretVersionCreated
    {
        try await call(
            "PutSecretValue", PutSecretValueRequest(SecretId: id, SecretString: value, ClientRequestToken: token),
            as: SecretVersionCreated.self, secretID: id)
    }

    // MARK: Parameter Store (a client configured with `service: .parameterStore`)

    /// The most names `GetParameters` takes in one call.
    public static let parametersLimit = 10

    /// `GetParameters` over any number of names (a name, an ARN, or either with a `:version` or
    /// `:label` selector), decrypted: calls of at most ten. Names Parameter Store does not know, or
    /// the role may not read, come back in ``ParametersResult/invalid``, as AWS lists them.
    public func getParameters(names: [String]) async throws(SecretsManagerError) -> ParametersResult {
        var result = ParametersResult(parameters: [], invalid: [])
        var start = 0
        while start < names.count {
            let chunk = Array(names[start..<min(start + Self.parametersLimit, names.count)])
            start += Self.parametersLimit
            let page = try await call(
                "GetParameters", GetParametersRequest(Names: chunk, WithDecryption: true),
                as: GetParametersResponse.self, secretID: chunk.count == 1 ? chunk[0] : nil)
            result.parameters += page.Parameters ?? []
            result.invalid += page.InvalidParameters ?? []
        }
        return result
    }

    /// The names under `path`: `GetParametersByPath`, recursive, paging while `NextToken` is
    /// present. Never decrypted (no `kms:Decrypt` needed, so `review` can list a path), and only the
    /// names are decoded: the values come with ``getParameters(names:)``.
    public func parameterNames(underPath path: String) async throws(SecretsManagerError) -> [String] {
        var names: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await call(
                "GetParametersByPath",
                GetParametersByPathRequest(Path: path, Recursive: true, WithDecryption: false, NextToken: token),
                as: GetParametersByPathResponse.self, secretID: path)
            names += (page.Parameters ?? []).map(\.Name)
            token = page.NextToken.flatMap { $0.isEmpty ? nil : $0 }
            pages += 1
        } while token != nil && pages < 1000
        return names
    }

    // MARK: The call loop

    private func call<Request: Encodable, Response: Decodable>(
        _ operation: String, _ payload: Request, as: Response.Type, secretID: String? = nil,
        retryThrottling: Bool = true
    ) async throws(SecretsManagerError) -> Response {
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(payload))
        } catch {
            throw failure(.invalidRequest, operation, secretID, detail: "cannot encode the request: \(error)")
        }
        var attempt = 0
        var refreshedCredentials = false
        var retriedForSkew = false
        var extraAttempts = 0
        while true {
            attempt += 1
            let outcome = await send(operation, body: body, secretID: secretID)
            var error: SecretsManagerError
            switch outcome {
            case .success(let response):
                do {
                    return try decoder.decode(Response.self, from: Data(response.body))
                } catch {
                    // Never quote the body: it may hold a secret value.
                    throw failure(
                        .service, operation, secretID, detail: "the \(operation) response is not the JSON expected")
                }
            case .failure(let failed):
                error = failed
            }
            error.attempts = attempt

            if error.category == .authentication, let code = error.code,
                ["ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException"].contains(code),
                !refreshedCredentials
            {
                refreshedCredentials = true
                extraAttempts += 1
                logger.warning(
                    "credentials refused; refreshing them and retrying once",
                    metadata: ["operation": "\(operation)", "code": "\(code)"])
                do {
                    _ = try await credentials.forceRefresh()
                } catch {
                    let category: SecretsManagerError.Category =
                        error.kind == .configuration ? .configuration : .credentials
                    throw failure(category, operation, secretID, detail: error.message, transient: error.isTransient)
                }
                continue
            }
            if error.code == "InvalidSignatureException", !retriedForSkew, abs(clockSkew) > Self.skewRetryThreshold,
                let message = error.awsMessage,
                message.contains("Signature expired") || message.contains("not yet current")
            {
                retriedForSkew = true
                extraAttempts += 1
                logger.warning(
                    "signature refused for clock skew; retrying with the corrected clock",
                    metadata: ["skewSeconds": "\(Int(clockSkew))"])
                continue
            }
            // The credential provider already retried on its own; its failure ends the call.
            guard error.isTransient, error.category != .credentials,
                attempt - extraAttempts < configuration.maxAttempts,
                retryThrottling || error.category != .throttled
            else { throw error }
            // "Standard" retry delay: rand(0,1) * min(2^(attempt-1), 20) seconds.
            let delay = random() * min(pow2(attempt - 1 - extraAttempts), 20)
            logger.debug(
                "retrying",
                metadata: [
                    "operation": "\(operation)", "attempt": "\(attempt)", "delaySeconds": "\(delay)",
                    "code": "\(error.code ?? "\(error.category)")",
                ])
            do {
                try await sleep(.milliseconds(Int(delay * 1000)))
            } catch {
                throw failure(.network, operation, secretID, detail: "cancelled", transient: false)
            }
        }
    }

    private func pow2(_ exponent: Int) -> Double { Double(1 << max(0, min(exponent, 10))) }

    private func failure(
        _ category: SecretsManagerError.Category, _ operation: String, _ secretID: String?, detail: String,
        transient: Bool? = nil
    ) -> SecretsManagerError {
        var error = SecretsManagerError(
            category: category, operation: operation, secretID: secretID, region: configuration.region,
            endpoint: configuration.endpoint.url, detail: detail)
        error.transient = transient
        return error
    }

    /// One signed attempt: a 2xx response, or the error it amounts to.
    private func send(_ operation: String, body: [UInt8], secretID: String?) async -> Result<
        HTTPResponse, SecretsManagerError
    > {
        let keys: Credentials
        do {
            keys = try await credentials.current()
        } catch {
            let category: SecretsManagerError.Category = error.kind == .configuration ? .configuration : .credentials
            return .failure(failure(category, operation, secretID, detail: error.message, transient: error.isTransient))
        }
        let signer = SigV4Signer(
            credentials: SigningCredentials(
                accessKeyID: keys.accessKeyID, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken),
            region: configuration.region, service: configuration.service.signingName)
        let unsigned = SigV4Request(
            method: "POST", path: "/",
            headers: [
                HTTPHeaderField("Host", configuration.endpoint.host),
                HTTPHeaderField("Content-Type", "application/x-amz-json-1.1"),
                HTTPHeaderField("X-Amz-Target", "\(configuration.service.targetPrefix).\(operation)"),
                HTTPHeaderField("User-Agent", configuration.userAgent),
            ],
            body: body)
        let sentAt = clock.now()
        let signed: SignedRequest
        do {
            signed = try signer.sign(unsigned, date: sentAt.addingTimeInterval(clockSkew))
        } catch {
            return .failure(failure(.service, operation, secretID, detail: "\(error)"))
        }
        let request = HTTPRequest(
            method: "POST", url: configuration.endpoint.url,
            headers: signed.headers.map { HTTPHeader($0.name, $0.value) }, body: body,
            connectTimeout: configuration.connectTimeout, timeout: configuration.timeout, proxy: .fromEnvironment)

        callCounts.withLock { $0[operation, default: 0] += 1 }
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch let error as TransportError {
            var failure = failure(.network, operation, secretID, detail: "\(error)", transient: error.isTransient)
            failure.timedOut = error.kind == .timedOut
            return .failure(failure)
        } catch {
            return .failure(
                failure(
                    .network, operation, secretID, detail: error is CancellationError ? "cancelled" : "\(error)",
                    transient: false))
        }
        learnSkew(from: response, sentAt: sentAt, receivedAt: clock.now())

        if (200..<300).contains(response.status) { return .success(response) }
        let (code, message) = Self.parseError(response)
        var error = SecretsManagerError(
            category: SecretsManagerError.category(forCode: code, status: response.status), code: code,
            awsMessage: message,
            operation: operation, secretID: secretID, region: configuration.region,
            endpoint: configuration.endpoint.url)
        error.httpStatus = response.status
        return .failure(error)
    }

    /// `skew = Date − (sent + rtt/2)`: the server's clock against ours, at the request's midpoint.
    private func learnSkew(from response: HTTPResponse, sentAt: Date, receivedAt: Date) {
        guard let header = response.value(forHeader: "Date"), let serverTime = parseHTTPDate(header) else { return }
        let roundTrip = receivedAt.timeIntervalSince(sentAt)
        let learned = serverTime.timeIntervalSince(sentAt.addingTimeInterval(roundTrip / 2))
        skew.withLock { $0 = learned }
    }

    /// The error code and message of a failed call. JSON (`__type` after the last `#`, before any
    /// `:`), else an XML `<Code>`/`<Message>` body, else `x-amzn-ErrorType`, else the status.
    static func parseError(_ response: HTTPResponse) -> (code: String, message: String?) {
        struct JSONError: Decodable {
            var __type: String?
            var code: String?
            var message: String?
            var Message: String?
        }
        if let parsed = try? JSONDecoder().decode(JSONError.self, from: Data(response.body)),
            let type = parsed.__type ?? parsed.code
        {
            return (errorCode(fromType: type), parsed.message ?? parsed.Message)
        }
        let text = String(decoding: response.body, as: UTF8.self)
        if let code = xmlElement("Code", in: text) {
            return (code, xmlElement("Message", in: text))
        }
        if let type = response.value(forHeader: "x-amzn-ErrorType") {
            return (errorCode(fromType: type), nil)
        }
        return ("HTTP\(response.status)", nil)
    }

    static func errorCode(fromType type: String) -> String {
        var code = Substring(type)
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        return String(code).trimmingCharacters(in: " ")
    }

    static func xmlElement(_ name: String, in text: String) -> String? {
        guard let open = text.firstRange(of: "<\(name)>"),
            let close = text[open.upperBound...].firstRange(of: "</\(name)>")
        else { return nil }
        return String(text[open.upperBound..<close.lowerBound])
    }

    private var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }
}

/// Parses an IMF-fixdate `Date` header (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
func parseHTTPDate(_ text: String) -> Date? {
    let parts = text.split(separator: " ")
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]),
        let monthIndex = months.firstIndex(of: String(parts[2])),
        let year = Int(parts[3])
    else { return nil }
    let month = monthIndex + 1
    let iso = "\(year)-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)T\(parts[4])Z"
    return parseISO8601(iso)
}
