import FoundationEssentials
public import HTTPTransport

/// Credentials from the ECS container credential endpoint (the task role), SPEC §3:
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on `http://169.254.170.2`, else
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` when it is https or on an allowed host; the
/// `Authorization` token from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (re-read on every fetch) or
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. Never through a proxy; 2 s per attempt, 3 attempts.
public struct ContainerCredentialProvider: CredentialProvider {
    /// Hosts a plain-http FULL_URI may name besides loopback (the ECS and EKS agents).
    public static let allowedHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"]
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
        guard let parsed = URL(string: uri), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            var host = parsed.host(percentEncoded: false), !host.isEmpty
        else {
            throw CredentialError(.configuration, "AWS_CONTAINER_CREDENTIALS_FULL_URI \"\(uri)\" is not an http(s) URL")
        }
        if scheme == "https" { return }
        host = host.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if allowedHosts.contains(host) || isLoopback(host) { return }
        throw CredentialError(
            .configuration,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI host \(host) is not allowed over plain http: use https, a loopback address, or one of 169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost"
        )
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else { return false }
        return octets[0] == "127"
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
            guard let value = readTextFile(path) else {
                throw CredentialError(.configuration, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path)")
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
