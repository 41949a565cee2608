public import AWSCredentials
public import HTTPTransport
public import Logging
public import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// Builds the AWS side from the environment, passed in as a value: the credential chain, the
/// region, the endpoint and the retry budget. Everything here is checked before the
/// first Secrets Manager call.
public enum AWSSetup {
    /// A Secrets Manager client for this environment (`get`, `migrate --apply`). Throws
    /// ``CredentialError`` or ``AWSCallError`` (category `.configuration`) for settings that cannot
    /// work.
    public static func secretsManagerClient(
        environment: [String: String], transport: any HTTPTransport, configuredRegion: String? = nil,
        configuredEndpoint: String? = nil, allowInsecureEndpoint: Bool = false, withheld: [String] = [],
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> SecretsManagerClient {
        try await clients(
            environment: environment, transport: transport, configuredRegion: configuredRegion,
            configuredEndpoint: configuredEndpoint, allowInsecureEndpoint: allowInsecureEndpoint, withheld: withheld,
            clock: clock, logger: logger
        ).primary
    }

    /// The Secrets Manager client of a command that reads no configuration (`get`, `migrate
    /// --apply`): libcurl, and a plain http endpoint beyond loopback only with
    /// `SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT=true`.
    public static func secretsManagerClient(environment: [String: String], logger: Logger) async throws
        -> SecretsManagerClient
    {
        try await secretsManagerClient(
            environment: environment, transport: transport(environment: environment),
            allowInsecureEndpoint: environment["SECRETS_INJECTOR_ALLOW_INSECURE_ENDPOINT"]?.lowercased() == "true",
            logger: logger)
    }

    /// Every client a configuration needs, built once: Secrets Manager in the primary region and in
    /// each failover region, with the same credentials, each signed for its own region and sent to its
    /// own endpoint (the configured one, else the region's; `AWS_ENDPOINT_URL*` name the primary's
    /// only); and, with `parameterStore`, Parameter Store in the primary region (`AWS_ENDPOINT_URL_SSM`,
    /// `AWS_ENDPOINT_URL`, else the regional endpoint) with a factory for a parameter ARN's other
    /// region (its regional endpoint, as ECS reads it there). Every endpoint passes one rule: plain
    /// http only to loopback, unless `allowInsecureEndpoint` (warned about). `withheld`: the variables
    /// a profile's `credential_process` must not see (the configuration's SSRF token variables).
    public static func clients(
        environment: [String: String], transport: any HTTPTransport, configuredRegion: String? = nil,
        configuredEndpoint: String? = nil, failover: [FailoverRegion] = [], parameterStore: Bool = false,
        allowInsecureEndpoint: Bool = false, withheld: [String] = [], metadata: TaskMetadata? = nil,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> AWSClients {
        try checkCABundle(environment: environment)
        let provider = try CredentialChain.provider(environment: environment, transport: transport, withheld: withheld)
        let region = try await RegionResolver.resolve(
            configured: configuredRegion, environment: environment, transport: transport, metadata: metadata)
        let endpoint = try Endpoint.resolve(environment: environment, configured: configuredEndpoint, region: region)
        logger.debug(
            "AWS setup",
            metadata: ["credentials": "\(provider.name)", "region": "\(region)", "endpoint": "\(endpoint)"])
        let credentials = RefreshingCredentials(provider: provider, clock: clock, logger: logger)
        // Other regions are reached at their own endpoints: the variables name the primary region's.
        var elsewhere = environment
        for name in ["AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL"] {
            elsewhere[name] = nil
        }
        var regions = [(region, try checked(endpoint, allowInsecureEndpoint, logger))]
        for replica in failover {
            let endpoint = try Endpoint.resolve(
                environment: elsewhere, configured: replica.endpoint, region: replica.region)
            regions.append((replica.region, try checked(endpoint, allowInsecureEndpoint, logger)))
        }
        let maxAttempts = try AWSJSONClient.Configuration.maxAttempts(environment: environment)
        let secretsManager = regions.map { region, endpoint in
            SecretsManagerClient(
                AWSJSONClient(
                    configuration: .init(
                        service: .secretsManager, endpoint: endpoint, region: region, maxAttempts: maxAttempts),
                    credentials: credentials, transport: transport, clock: clock, logger: logger))
        }
        var clients = AWSClients(secretsManager: secretsManager)
        if parameterStore {
            // The same credentials, transport, clock and retry budget as Secrets Manager's.
            let primary = secretsManager[0].jsonClient
            let endpoint = try checked(
                Endpoint.resolve(environment: environment, configured: nil, region: region, service: .parameterStore),
                allowInsecureEndpoint, logger)
            clients.parameterStore = ParameterStoreClient(primary.client(for: .parameterStore, endpoint: endpoint))
            clients.parameterStoreIn = { [elsewhere] region in
                guard RegionName.isValid(region) else {
                    throw AWSCallError.configuration("\"\(region)\" is not an AWS region", service: .parameterStore)
                }
                let endpoint = try Endpoint.resolve(
                    environment: elsewhere, configured: nil, region: region, service: .parameterStore)
                return ParameterStoreClient(primary.client(for: .parameterStore, endpoint: endpoint, region: region))
            }
        }
        return clients
    }

    /// A client for another `service` beside `primary` (the reviews' IAM and KMS): the same
    /// credentials, transport, clock and retry budget, in `primary`'s region (IAM signs for its
    /// global one), at `service`'s endpoint (its variable, `AWS_ENDPOINT_URL`, else AWS's), under
    /// the same plain-http rule.
    public static func client(
        for service: AWSService, beside primary: AWSJSONClient, environment: [String: String],
        allowInsecureEndpoint: Bool, logger: Logger
    ) throws(AWSCallError) -> AWSJSONClient {
        let region = primary.configuration.region
        let endpoint = try checked(
            Endpoint.resolve(environment: environment, configured: nil, region: region, service: service),
            allowInsecureEndpoint, logger)
        return primary.client(for: service, endpoint: endpoint)
    }

    /// The endpoint rule, once for every client: plain http only to loopback (the token and a
    /// replayable signed request would cross the network), unless `allowInsecureEndpoint`, which is
    /// warned about at every start.
    public static func checked(_ endpoint: Endpoint, _ allowInsecure: Bool, _ logger: Logger) throws(AWSCallError)
        -> Endpoint
    {
        guard let problem = Endpoint.plainHTTPProblem(endpoint.url) else { return endpoint }
        guard allowInsecure else { throw AWSCallError.configuration("\(endpoint.origin) \(problem)") }
        logger.warning(
            "allowInsecureEndpoint: AWS is reached over plain http, not loopback; signed requests and the session token cross the network in the clear",
            metadata: ["endpoint": "\(endpoint.url)", "origin": "\(endpoint.origin)"])
        return endpoint
    }

    /// `AWS_CA_BUNDLE` decides whom the injector trusts: whoever can write it can add a CA and read
    /// every request. One writable by group or others is refused.
    static func checkCABundle(environment: [String: String]) throws(AWSCallError) {
        guard let path = environment["AWS_CA_BUNDLE"], !path.isEmpty else { return }
        var status = stat()
        guard stat(path, &status) == 0 else { return }  // libcurl names a missing bundle at the first call
        if status.st_mode & 0o022 != 0 {
            throw AWSCallError.configuration(
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

/// The AWS clients of one configuration (``AWSSetup/clients(environment:transport:configuredRegion:configuredEndpoint:failover:parameterStore:allowInsecureEndpoint:withheld:metadata:clock:logger:)``).
public struct AWSClients: Sendable {
    /// Secrets Manager: the primary region's client first, then each failover region's.
    public var secretsManager: [SecretsManagerClient]
    /// Parameter Store in the primary region, when the configuration reads parameters.
    public var parameterStore: ParameterStoreClient?
    /// Parameter Store in another region (a parameter ARN's).
    public var parameterStoreIn: @Sendable (String) throws -> ParameterStoreClient = { region in
        throw AWSCallError.configuration("Parameter Store in \(region) is not set up", service: .parameterStore)
    }

    public var primary: SecretsManagerClient { secretsManager[0] }
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
