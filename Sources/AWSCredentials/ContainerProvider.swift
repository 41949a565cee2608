import FoundationEssentials
public import HTTPTransport
import InjectorBase

#if canImport(Glibc)
    import Glibc
#endif

/// Credentials from the ECS container credential endpoint (the task role):
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on `http://169.254.170.2`, else
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` when it is https or on an allowed host; the
/// `Authorization` token from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read on every fetch, as a
/// regular file of at most 4 KiB, never waited on) or
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. Never through a proxy; 2 s per attempt, 3 attempts.
public struct ContainerCredentialProvider: CredentialProvider {
    /// Hosts a plain-http FULL_URI may name besides loopback (the ECS and EKS agents).
    public static let allowedHosts = ContainerEndpointPolicy.allowedHosts
    static let ecsHost = "http://169.254.170.2"

    public let url: String
    public var name: String { "ECS container credential endpoint \(url)" }
    private let token: Token
    private let transport: any HTTPTransport
    private let attempts: Int
    private let timeout: Duration
    private let pause: @Sendable (Duration) async -> Void

    enum Token: Sendable {
        case none
        case value(String)
        case file(String)
    }

    /// nil when neither URI variable is set; a configuration error for a FULL_URI that is not
    /// allowed or a token with a line break, found before any request.
    public init?(
        environment: [String: String], transport: any HTTPTransport, attempts: Int = 3, timeout: Duration = .seconds(2),
        pause: @escaping @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }
    ) throws(CredentialError) {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            url = Self.ecsHost + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            try Self.validateFullURI(full)
            url = full
        } else {
            return nil
        }
        if let file = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !file.isEmpty {
            token = .file(file)
        } else if let value = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !value.isEmpty {
            try Self.validate(token: value, from: "AWS_CONTAINER_AUTHORIZATION_TOKEN")
            token = .value(value)
        } else {
            token = .none
        }
        self.transport = transport
        self.attempts = max(1, attempts)
        self.timeout = timeout
        self.pause = pause
    }

    /// A FULL_URI must be https, or name a loopback address or one of ``allowedHosts``.
    static func validateFullURI(_ uri: String) throws(CredentialError) {
        if let problem = ContainerEndpointPolicy.problem(uri) {
            throw CredentialError(.configuration, "AWS_CONTAINER_CREDENTIALS_FULL_URI \(problem)")
        }
    }

    static func validate(token: String, from source: String) throws(CredentialError) {
        if token.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            throw CredentialError(
                .configuration,
                "\(source) contains a line break (CR or LF), which cannot be sent as a header: remove it")
        }
    }

    public func fetch() async throws(CredentialError) -> Credentials {
        var headers = [HTTPHeader("Accept", "application/json")]
        switch token {
        case .none: break
        case .value(let value): headers.append(HTTPHeader("Authorization", value))
        case .file(let path):
            // Read as a file someone else may control: a regular file, no FIFO waited on,
            // at most 4 KiB. Links are followed, as botocore does: EKS Pod Identity's token is a
            // projected-volume file, reached through the kubelet's `..data` links.
            let value: String
            do {
                value = String(
                    decoding: try SmallFile.read(path, limit: 4096, followingLinks: true).bytes, as: UTF8.self)
            } catch {
                throw CredentialError(.configuration, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(error)")
            }
            try Self.validate(token: value, from: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path)")
            headers.append(HTTPHeader("Authorization", value))
        }
        let request = HTTPRequest(
            method: "GET", url: url, headers: headers, connectTimeout: timeout, timeout: timeout, proxy: .never)

        var lastError = CredentialError(.unavailable, "\(name) was not tried")
        for attempt in 1...attempts {
            if attempt > 1 { await pause(.milliseconds(100 * (1 << (attempt - 2)))) }
            let response: HTTPResponse
            do {
                response = try await transport.send(request)
            } catch let error as TransportError {
                lastError = CredentialError(.unavailable, "cannot get task-role credentials: \(error)")
                continue
            } catch {
                throw CredentialError(.unavailable, "cannot get task-role credentials from \(url): \(error)")
            }
            switch response.status {
            case 200..<300:
                return try Self.decode(response.body, from: name, source: "ECS container endpoint")
            case 429, 500...599:
                lastError = CredentialError(
                    .unavailable, "\(name) answered HTTP \(response.status) after \(attempts) attempts")
            case 401, 403:
                throw CredentialError(
                    .configuration,
                    "\(name) refused the request (HTTP \(response.status)): check AWS_CONTAINER_AUTHORIZATION_TOKEN or its _FILE"
                )
            default:
                throw CredentialError(.invalidResponse, "\(name) answered HTTP \(response.status)")
            }
        }
        throw lastError
    }

    struct Document: Decodable {
        var AccessKeyId: String?
        var SecretAccessKey: String?
        var Token: String?
        var Expiration: String?
    }

    /// Decodes the credential JSON shared by the ECS endpoint and IMDS. Messages never quote the body.
    static func decode(_ body: [UInt8], from name: String, source: String) throws(CredentialError) -> Credentials {
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(body)) else {
            throw CredentialError(.invalidResponse, "\(name) did not answer with credentials JSON")
        }
        guard let keyID = document.AccessKeyId, !keyID.isEmpty, let secret = document.SecretAccessKey, !secret.isEmpty
        else {
            throw CredentialError(.invalidResponse, "\(name) answered without AccessKeyId/SecretAccessKey")
        }
        var expiration: Date?
        if let text = document.Expiration {
            guard let date = parseISO8601(text) else {
                throw CredentialError(.invalidResponse, "\(name) sent an Expiration that is not ISO-8601: \(text)")
            }
            expiration = date
        }
        return Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: document.Token, expiration: expiration,
            source: source)
    }
}

/// Credentials from the EC2 instance metadata service, IMDSv2 (a session token by `PUT`, then
/// `GET`s). Last in the chain; off when `AWS_EC2_METADATA_DISABLED=true`.
public struct InstanceMetadataProvider: CredentialProvider {
    public let endpoint: String
    public var name: String { "EC2 instance metadata service \(endpoint)" }
    private let transport: any HTTPTransport
    private let timeout: Duration

    public init?(environment: [String: String], transport: any HTTPTransport, timeout: Duration = .seconds(1)) {
        if environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true" { return nil }
        var endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] ?? "http://169.254.169.254"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        self.transport = transport
        self.timeout = timeout
    }

    public func fetch() async throws(CredentialError) -> Credentials {
        let token = try await text(
            HTTPRequest(
                method: "PUT", url: endpoint + "/latest/api/token",
                headers: [HTTPHeader("X-aws-ec2-metadata-token-ttl-seconds", "21600")]))
        let tokenHeader = HTTPHeader("X-aws-ec2-metadata-token", token)
        let base = endpoint + "/latest/meta-data/iam/security-credentials/"
        let roles = try await text(HTTPRequest(method: "GET", url: base, headers: [tokenHeader]))
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw CredentialError(
                .unavailable, "\(name) lists no instance role: attach an instance profile or set credentials")
        }
        let body = try await bytes(HTTPRequest(method: "GET", url: base + role, headers: [tokenHeader]))
        return try ContainerCredentialProvider.decode(body, from: name, source: "EC2 instance metadata")
    }

    private func bytes(_ template: HTTPRequest) async throws(CredentialError) -> [UInt8] {
        var request = template
        request.connectTimeout = timeout
        request.timeout = timeout
        request.proxy = .never
        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch {
            throw CredentialError(.unavailable, "\(name) did not answer (\(error))")
        }
        guard response.status == 200 else {
            throw CredentialError(.unavailable, "\(name) answered HTTP \(response.status)")
        }
        return response.body
    }

    private func text(_ request: HTTPRequest) async throws(CredentialError) -> String {
        String(decoding: try await bytes(request), as: UTF8.self)
    }
}

/// Which container endpoints may be reached over plain http (botocore's
/// `ContainerMetadataFetcher`): any https URL; over http only a loopback address (127.0.0.0/8,
/// `::1`), `localhost`, or the ECS/EKS agents' `169.254.170.2`, `169.254.170.23`, `fd00:ec2::23`.
/// The URL is read by libcurl's own parser (``URLParts``), so the host checked is the host
/// connected to; addresses are compared by value (`inet_pton`), and a host that is neither an
/// exact address literal nor `localhost` is refused over plain http.
public enum ContainerEndpointPolicy {
    public static let allowedHosts = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"]

    /// Why `uri` may not be used, or nil.
    public static func problem(_ uri: String) -> String? {
        guard let parts = URLParts(uri), parts.scheme == "http" || parts.scheme == "https" else {
            return "\"\(uri)\" is not an http(s) URL libcurl can connect to"
        }
        if parts.scheme == "https" { return nil }
        guard let written = parts.hostAsWritten, let address = exactAddress(written: written, connected: parts.host)
        else {
            return
                "host \(parts.hostAsWritten ?? parts.host) is not allowed over plain http: not an exact address literal or localhost (libcurl reads it as \(parts.host)); use https, a loopback address, or one of \(allowedHosts.joined(separator: ", "))"
        }
        if isAllowed(address) { return nil }
        return
            "host \(written) is not allowed over plain http: use https, a loopback address, or one of \(allowedHosts.joined(separator: ", "))"
    }

    /// An address, parsed once by value (`inet_pton`).
    public enum Address: Equatable {
        case localhost
        case v4(UInt32)
        case v6([UInt8])
    }

    /// The address the host names, when the URL writes it exactly as libcurl connects to it:
    /// `localhost`, a dotted-decimal IPv4 literal (no leading zeros, no short or hex forms, no
    /// percent-escapes), or an IPv6 literal (any valid spelling, no zone).
    static func exactAddress(written: String, connected: String) -> Address? {
        if written == "localhost", connected == "localhost" { return .localhost }
        var v4 = in_addr()
        if written == connected, inet_pton(AF_INET, written, &v4) == 1 { return .v4(UInt32(bigEndian: v4.s_addr)) }
        var writtenV6 = in6_addr()
        var connectedV6 = in6_addr()
        guard inet_pton(AF_INET6, written, &writtenV6) == 1, inet_pton(AF_INET6, connected, &connectedV6) == 1
        else { return nil }
        let bytes = withUnsafeBytes(of: writtenV6) { Array($0) }
        return bytes == withUnsafeBytes(of: connectedV6) { Array($0) } ? .v6(bytes) : nil
    }

    /// Loopback (127.0.0.0/8, `::1`), `localhost`, or one of the agents' addresses.
    static func isAllowed(_ address: Address) -> Bool {
        switch address {
        case .localhost: true
        case .v4(let value): value >> 24 == 127 || value == 0xA9FE_AA02 || value == 0xA9FE_AA17  // 169.254.170.2, .23
        case .v6(let bytes): bytes == in6Bytes("::1") || bytes == in6Bytes("fd00:ec2::23")
        }
    }

    /// True for an https URL, or a plain-http one whose host is exactly a loopback address
    /// (127.0.0.0/8, `::1`) or `localhost`, read as libcurl reads it: where a Secrets Manager
    /// endpoint may be reached without TLS.
    public static func isHTTPSOrLoopback(_ uri: String) -> Bool {
        guard let parts = URLParts(uri) else { return false }
        if parts.scheme == "https" { return true }
        guard parts.scheme == "http", let written = parts.hostAsWritten,
            let address = exactAddress(written: written, connected: parts.host)
        else { return false }
        switch address {
        case .localhost: return true
        case .v4(let value): return value >> 24 == 127
        case .v6(let bytes): return bytes == in6Bytes("::1")
        }
    }

    private static func in6Bytes(_ literal: String) -> [UInt8] {
        var address = in6_addr()
        _ = inet_pton(AF_INET6, literal, &address)
        return withUnsafeBytes(of: address) { Array($0) }
    }
}
