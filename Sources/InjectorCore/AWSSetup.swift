public import AWSCredentials
public import HTTPTransport
public import Logging
public import SecretsManager

/// Builds the AWS side from the environment, passed in as a value: the credential chain, the
/// region, the endpoint and the retry budget of SPEC §3. Everything here is checked before the
/// first Secrets Manager call.
public enum AWSSetup {
    /// A Secrets Manager client for this environment. Throws ``CredentialError`` or
    /// ``SecretsManagerError`` (category `.configuration`) for settings that cannot work.
    public static func secretsManagerClient(
        environment: [String: String], transport: any HTTPTransport, configuredRegion: String? = nil,
        configuredEndpoint: String? = nil,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> SecretsManagerClient {
        try await secretsManagerClients(
            environment: environment, transport: transport, configuredRegion: configuredRegion,
            configuredEndpoint: configuredEndpoint, clock: clock, logger: logger)[0]
    }

    /// The primary region's client, then one per failover region: the same credentials, each
    /// signed for its own region and sent to its own endpoint (the configured one, else the
    /// region's; `AWS_ENDPOINT_URL*` name the primary's only).
    public static func secretsManagerClients(
        environment: [String: String], transport: any HTTPTransport, configuredRegion: String? = nil,
        configuredEndpoint: String? = nil, failover: [FailoverRegion] = [],
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> [SecretsManagerClient] {
        let provider = try CredentialChain.provider(environment: environment, transport: transport)
        let maxAttempts = try SecretsManagerClient.Configuration.maxAttempts(environment: environment)
        let region = try await RegionResolver.resolve(
            configured: configuredRegion, environment: environment, transport: transport)
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
        return regions.map { region, endpoint in
            SecretsManagerClient(
                configuration: .init(endpoint: endpoint, region: region, maxAttempts: maxAttempts),
                credentials: credentials, transport: transport, clock: clock, logger: logger)
        }
    }

    /// The transport for AWS calls: libcurl with `AWS_CA_BUNDLE` when set.
    public static func transport(environment: [String: String]) -> CurlTransport {
        CurlTransport(
            configuration: .init(caBundlePath: environment["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }))
    }
}
