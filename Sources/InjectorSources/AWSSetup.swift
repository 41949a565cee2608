public import AWSCredentials
public import HTTPTransport
public import Logging
public import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// Builds the AWS side from the environment, passed in as a value: the credential chain, the
/// region, the endpoint and the retry budget of SPEC §3. Everything here is checked before the
/// first Secrets Manager call.
public enum AWSSetup {
    /// A Secrets Manager client for this environment. Throws ``CredentialError`` or
    /// ``SecretsManagerError`` (category `.configuration`) for settings that cannot work.
    public static func secretsManagerClient(
        environment: [String: String], transport: any HTTPTransport, configuredRegion: String? = nil,
        configuredEndpoint: String? = nil, allowInsecureEndpoint: Bool = false, withheld: [String] = [],
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> SecretsManagerClient {
        try await secretsManagerClients(
            environment: environment, transport: transport, configuredRegion: configuredRegion,
            configuredEndpoint: configuredEndpoint, allowInsecureEndpoint: allowInsecureEndpoint, withheld: withheld,
            clock: clock, logger: logger)[0]
    }

    /// The primary region's client, then one per failover region: the same credentials, each
    /// signed for its own region and sent to its own endpoint (the configured one, else the
    /// region's; `AWS_ENDPOINT_URL*` name the primary's only). `withheld`: the variables a
    /// profile's `credential_process` must not see (the configuration's SSRF token variables).
    public static func secretsManagerClients(
        environment: [String: String], transport: any HTTPTransport, configuredRegion: String? = nil,
        configuredEndpoint: String? = nil, failover: [FailoverRegion] = [], allowInsecureEndpoint: Bool = false,
        withheld: [String] = [], metadata: TaskMetadata? = nil, clock: any WallClock = SystemWallClock(),
        logger: Logger
    ) async throws -> [SecretsManagerClient] {
        try checkCABundle(environment: environment)
        let provider = try CredentialChain.provider(environment: environment, transport: transport, withheld: withheld)
        let region = try await RegionResolver.resolve(
            configured: configuredRegion, environment: environment, transport: transport, metadata: metadata)
        let endpoint = try Endpoint.resolve(environment: environment, configured: configuredEndpoint, region: region)
        logger.debug(
            "AWS setup",
            metadata: ["credentials": "\(provider.name)", "region": "\(region)", "endpoint": "\(endpoint)"])
        let credentials = RefreshingCredentials(provider: provider, clock: clock, logger: logger)
        var replicaEnvironment = environment
        replicaEnvironment["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = nil
        replicaEnvironment["AWS_ENDPOINT_URL"] = nil
        var regions = [(region, endpoint)]
        for replica in failover {
            regions.append(
                (
                    replica.region,
                    try Endpoint.resolve(
                        environment: replicaEnvironment, configured: replica.endpoint, region: replica.region)
                ))
        }
        for (_, endpoint) in regions where Endpoint.plainHTTPProblem(endpoint.url) != nil {
            guard allowInsecureEndpoint else {
                throw SecretsManagerError.configuration(
                    "\(endpoint.origin) \(Endpoint.plainHTTPProblem(endpoint.url) ?? endpoint.url)")
            }
            logger.warning(
                "allowInsecureEndpoint: Secrets Manager is reached over plain http, not loopback; signed requests and the session token cross the network in the clear",
                metadata: ["endpoint": "\(endpoint.url)", "origin": "\(endpoint.origin)"])
        }
        let maxAttempts = try SecretsManagerClient.Configuration.maxAttempts(environment: environment)
        return regions.map { region, endpoint in
            SecretsManagerClient(
                configuration: .init(endpoint: endpoint, region: region, maxAttempts: maxAttempts),
                credentials: credentials, transport: transport, clock: clock, logger: logger)
        }
    }

    /// `AWS_CA_BUNDLE` decides whom the injector trusts: whoever can write it can add a CA and read
    /// every request. One writable by group or others is refused (issue 17).
    static func checkCABundle(environment: [String: String]) throws(SecretsManagerError) {
        guard let path = environment["AWS_CA_BUNDLE"], !path.isEmpty else { return }
        var status = stat()
        guard stat(path, &status) == 0 else { return }  // libcurl names a missing bundle at the first call
        if status.st_mode & 0o022 != 0 {
            throw SecretsManagerError.configuration(
                "AWS_CA_BUNDLE \(path) is writable by group or others (mode 0\(String(status.st_mode & 0o7777, radix: 8))), so they could add a CA and read every request: chmod go-w it"
            )
        }
    }

    /// The transport for AWS calls: libcurl with `AWS_CA_BUNDLE` when set.
    public static func transport(environment: [String: String]) -> CurlTransport {
        CurlTransport(
            configuration: .init(caBundlePath: environment["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }))
    }
}

/// A replica region (`failover[]`): its name, and an endpoint other than its regional one.
public struct FailoverRegion: Sendable, Equatable {
    public var region: String
    public var endpoint: String?

    public init(region: String, endpoint: String? = nil) {
        self.region = region
        self.endpoint = endpoint
    }
}
