public import AWSCredentials
import AWSSigning
public import FoundationEssentials
public import HTTPTransport
import InjectorBase
public import Logging
import Synchronization

/// One AWS service over the JSON 1.1 protocol (or IAM's query protocol, ``callQuery(_:parameters:resourceID:)``),
/// signed with SigV4: the call loop that ``SecretsManagerClient``, ``ParameterStoreClient``,
/// ``KMSClient`` and ``IAMClient`` put their operations on.
///
/// Each call is re-signed on every attempt with the clock corrected by the skew learned from the
/// server's `Date` header. Throttling, 5xx and connection failures are retried ("standard" mode,
/// jittered exponential back-off); an expired or unrecognized token forces one credential
/// refresh; a signature refused for clock skew is retried once with the corrected time. Every
/// attempt is counted, per operation; a failure comes back as an ``AWSCallError``.
public final class AWSJSONClient: Sendable {
    public struct Configuration: Sendable {
        /// What requests are signed for and which `X-Amz-Target` prefix they carry.
        public var service: AWSService
        public var endpoint: Endpoint
        public var region: String
        /// Total attempts per call (`AWS_MAX_ATTEMPTS`, default 3).
        public var maxAttempts: Int
        public var connectTimeout: Duration
        public var timeout: Duration
        public var userAgent: String

        public init(
            service: AWSService, endpoint: Endpoint, region: String, maxAttempts: Int = 3,
            connectTimeout: Duration = .seconds(3), timeout: Duration = .seconds(15),
            userAgent: String = "secrets-injector/\(secretsInjectorVersion)"
        ) {
            self.service = service
            self.endpoint = endpoint
            self.region = region
            self.maxAttempts = max(1, maxAttempts)
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.userAgent = userAgent
        }

        /// `AWS_MAX_ATTEMPTS` as a whole number ≥ 1, or the default 3.
        public static func maxAttempts(environment: [String: String]) throws(AWSCallError) -> Int {
            guard let text = environment["AWS_MAX_ATTEMPTS"], !text.isEmpty else { return 3 }
            guard let value = Int(text), value >= 1, value <= 20 else {
                throw .configuration("AWS_MAX_ATTEMPTS \"\(text)\" must be a whole number from 1 to 20")
            }
            return value
        }
    }

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

    /// A client for `service` at `endpoint`, in this one's region or `region`, with this one's
    /// credentials, transport, clock and retry budget.
    public func client(for service: AWSService, endpoint: Endpoint, region: String? = nil) -> AWSJSONClient {
        var configuration = self.configuration
        configuration.service = service
        configuration.endpoint = endpoint
        configuration.region = region ?? configuration.region
        return AWSJSONClient(
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

    // MARK: The call loop

    /// `operation` with `payload` as its JSON body, answered as `Response`. `resourceID` is the
    /// secret or parameter an error names; `retryThrottling: false` gives up on the first
    /// throttling answer, for a caller that has a cheaper way round it.
    public func call<Request: Encodable, Response: Decodable>(
        _ operation: String, _ payload: Request, as: Response.Type, resourceID: String? = nil,
        retryThrottling: Bool = true
    ) async throws(AWSCallError) -> Response {
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(payload))
        } catch {
            throw failure(.invalidRequest, operation, resourceID, detail: "cannot encode the request: \(error)")
        }
        let response = try await exchange(
            operation, body: body, resourceID: resourceID, retryThrottling: retryThrottling)
        do {
            return try decoder.decode(Response.self, from: Data(response.body))
        } catch {
            // Never quote the body: it may hold a secret value.
            throw failure(
                .service, operation, resourceID, detail: "the \(operation) response is not the JSON expected")
        }
    }

    /// `operation` over the query protocol (IAM's): `Action`, `Version` and `parameters`
    /// form-encoded, the answer's XML body as it came. The same loop as ``call(_:_:as:resourceID:retryThrottling:)``.
    public func callQuery(_ operation: String, parameters: [(String, String)] = [], resourceID: String? = nil)
        async throws(AWSCallError) -> [UInt8]
    {
        let fields = [("Action", operation), ("Version", configuration.service.queryVersion)] + parameters
        let body = fields.map { "\(Self.formEncoded($0.0))=\(Self.formEncoded($0.1))" }.joined(separator: "&")
        return try await exchange(operation, body: Array(body.utf8), resourceID: resourceID, retryThrottling: true)
            .body
    }

    /// RFC 3986 percent-encoding: every byte but the unreserved ones.
    static func formEncoded(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E: out.append(byte)
            default: out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The call loop: each attempt signed and sent, retried as the type's documentation says; the
    /// 2xx response, or the error that ends the call.
    private func exchange(_ operation: String, body: [UInt8], resourceID: String?, retryThrottling: Bool)
        async throws(AWSCallError) -> HTTPResponse
    {
        var attempt = 0
        var refreshedCredentials = false
        var retriedForSkew = false
        var extraAttempts = 0
        while true {
            attempt += 1
            let outcome = await send(operation, body: body, resourceID: resourceID)
            var error: AWSCallError
            switch outcome {
            case .success(let response):
                return response
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
                    let category: AWSCallError.Category = error.kind == .configuration ? .configuration : .credentials
                    throw failure(category, operation, resourceID, detail: error.message, transient: error.isTransient)
                }
                continue
            }
            // JSON services say InvalidSignatureException; query services (IAM) SignatureDoesNotMatch.
            if ["InvalidSignatureException", "SignatureDoesNotMatch"].contains(error.code ?? ""), !retriedForSkew,
                abs(clockSkew) > Self.skewRetryThreshold,
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
                throw failure(.network, operation, resourceID, detail: "cancelled", transient: false)
            }
        }
    }

    private func pow2(_ exponent: Int) -> Double { Double(1 << max(0, min(exponent, 10))) }

    /// An error of this client's service, region and endpoint: one the call loop meets, or one an
    /// operation finds in an answer (a batch's per-secret failure, a looping page token).
    public func failure(
        _ category: AWSCallError.Category, _ operation: String, _ resourceID: String?, code: String? = nil,
        awsMessage: String? = nil, detail: String? = nil, transient: Bool? = nil
    ) -> AWSCallError {
        var error = AWSCallError(
            service: configuration.service, category: category, code: code, awsMessage: awsMessage,
            operation: operation, resourceID: resourceID, region: configuration.region,
            endpoint: configuration.endpoint.url, detail: detail)
        error.transient = transient
        return error
    }

    /// One signed attempt: a 2xx response, or the error it amounts to.
    private func send(_ operation: String, body: [UInt8], resourceID: String?) async -> Result<
        HTTPResponse, AWSCallError
    > {
        let keys: Credentials
        do {
            keys = try await credentials.current()
        } catch {
            let category: AWSCallError.Category = error.kind == .configuration ? .configuration : .credentials
            return .failure(
                failure(category, operation, resourceID, detail: error.message, transient: error.isTransient))
        }
        let signer = SigV4Signer(
            credentials: SigningCredentials(
                accessKeyID: keys.accessKeyID, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken),
            region: configuration.service.signingRegion(for: configuration.region),
            service: configuration.service.signingName)
        let kind: [HTTPHeaderField] =
            switch configuration.service.wireProtocol {
            case .json:
                [
                    HTTPHeaderField("Content-Type", "application/x-amz-json-1.1"),
                    HTTPHeaderField("X-Amz-Target", "\(configuration.service.targetPrefix).\(operation)"),
                ]
            case .query: [HTTPHeaderField("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
            }
        let unsigned = SigV4Request(
            method: "POST", path: "/",
            headers: [HTTPHeaderField("Host", configuration.endpoint.host)] + kind + [
                HTTPHeaderField("User-Agent", configuration.userAgent)
            ],
            body: body)
        let sentAt = clock.now()
        let signed: SignedRequest
        do {
            signed = try signer.sign(unsigned, date: sentAt.addingTimeInterval(clockSkew))
        } catch {
            return .failure(failure(.service, operation, resourceID, detail: "\(error)"))
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
            var failure = failure(.network, operation, resourceID, detail: "\(error)", transient: error.isTransient)
            failure.timedOut = error.kind == .timedOut
            return .failure(failure)
        } catch {
            return .failure(
                failure(
                    .network, operation, resourceID, detail: error is CancellationError ? "cancelled" : "\(error)",
                    transient: false))
        }
        learnSkew(from: response, sentAt: sentAt, receivedAt: clock.now())

        if (200..<300).contains(response.status) { return .success(response) }
        let (code, message) = Self.parseError(response)
        var error = failure(
            AWSCallError.category(forCode: code, status: response.status), operation, resourceID, code: code,
            awsMessage: message)
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

    // MARK: Error decoding

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
