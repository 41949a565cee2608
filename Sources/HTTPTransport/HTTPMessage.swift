/// One header line as sent or received; names compare case-insensitively.
public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Whether a request may go through the proxy named by the environment (`HTTPS_PROXY`,
/// `http_proxy`, `NO_PROXY`, as libcurl reads them).
public enum ProxyPolicy: Sendable, Equatable {
    /// libcurl's own handling of the proxy variables: for AWS service calls.
    case fromEnvironment
    /// Never a proxy, whatever the environment says: for the credential and metadata endpoints,
    /// which are link-local and must not leak a token to a proxy.
    case never
}

/// A request for an ``HTTPTransport``.
public struct HTTPRequest: Sendable {
    public var method: String
    /// An absolute `http`/`https` URL. For a Unix-socket request the host part only fills `Host`.
    public var url: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]
    public var connectTimeout: Duration
    /// The whole exchange, connection included.
    public var timeout: Duration
    public var proxy: ProxyPolicy
    /// Connect to this Unix socket instead of the URL's host and port.
    public var unixSocketPath: String?

    public init(
        method: String, url: String, headers: [HTTPHeader] = [], body: [UInt8] = [],
        connectTimeout: Duration = .seconds(5), timeout: Duration = .seconds(30),
        proxy: ProxyPolicy = .fromEnvironment, unixSocketPath: String? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.proxy = proxy
        self.unixSocketPath = unixSocketPath
    }
}

/// A complete response. Headers are in the order received (of the final response only).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [HTTPHeader]
    public var body: [UInt8]
    /// True when the transfer used a connection kept open from an earlier one.
    public var reusedConnection: Bool

    public init(status: Int, headers: [HTTPHeader] = [], body: [UInt8] = [], reusedConnection: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.reusedConnection = reusedConnection
    }

    /// The first value of the header `name`, compared case-insensitively.
    public func value(forHeader name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// Why a request got no HTTP response. The URL is shown without its query string.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case connectionRefused
        case couldNotResolveHost
        case timedOut
        case tls
        case cancelled
        case responseTooLarge
        case invalidRequest
        case other
    }

    public var kind: Kind
    public var url: String
    /// libcurl's own words, for the log.
    public var detail: String

    public init(kind: Kind, url: String, detail: String) {
        self.kind = kind
        self.url = url
        self.detail = detail
    }

    /// Worth another attempt: the peer may answer next time.
    public var isTransient: Bool {
        switch kind {
        case .connectionRefused, .couldNotResolveHost, .timedOut, .other: true
        case .tls, .cancelled, .responseTooLarge, .invalidRequest: false
        }
    }

    public var description: String {
        let target = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        switch kind {
        case .connectionRefused: return "cannot connect to \(target): connection refused (\(detail))"
        case .couldNotResolveHost: return "cannot resolve the host of \(target) (\(detail))"
        case .timedOut: return "no answer from \(target) in time (\(detail))"
        case .tls: return "TLS failure talking to \(target) (\(detail)); check AWS_CA_BUNDLE"
        case .cancelled: return "request to \(target) cancelled"
        case .responseTooLarge: return "response from \(target) is too large (\(detail))"
        case .invalidRequest: return "invalid request to \(target) (\(detail))"
        case .other: return "request to \(target) failed (\(detail))"
        }
    }
}

/// Sends HTTP requests. Implementations must not block Swift's cooperative thread pool and must
/// abort the transfer when the awaiting task is cancelled.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}
