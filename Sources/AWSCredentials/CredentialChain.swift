public import HTTPTransport

/// Chooses the credential provider: the first one that is configured wins
/// (environment keys, ECS container endpoint, a profile of the shared files — keys, or a
/// `credential_process` in the config file — then EC2 IMDSv2).
public enum CredentialChain {
    /// The provider to use. Throws configuration errors (a disallowed FULL_URI, a token with a line
    /// break, half-set keys) before any request is made. `withheld` names the variables a
    /// `credential_process` must not see besides the injector's credentials (the SSRF token's).
    public static func provider(
        environment: [String: String], transport: any HTTPTransport, withheld: [String] = []
    ) throws(CredentialError) -> any CredentialProvider {
        if let provider = try EnvironmentCredentialProvider(environment: environment) { return provider }
        if let provider = try ContainerCredentialProvider(environment: environment, transport: transport) {
            return provider
        }
        if let provider = try SharedCredentialsFileProvider(environment: environment, withheld: withheld) {
            return provider
        }
        if let provider = InstanceMetadataProvider(environment: environment, transport: transport) {
            return LastResortProvider(inner: provider)
        }
        throw noCredentials
    }

    static let noCredentials = CredentialError(
        .configuration,
        "no AWS credentials: run with an ECS task role (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI), or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials or ~/.aws/config (keys or credential_process)"
    )
}

/// IMDS is tried only because nothing else was configured; when it fails, say what could have been.
struct LastResortProvider: CredentialProvider {
    let inner: InstanceMetadataProvider
    var name: String { inner.name }

    func fetch() async throws(CredentialError) -> Credentials {
        do {
            return try await inner.fetch()
        } catch {
            throw CredentialError(error.kind, "\(CredentialChain.noCredentials.message) (and \(error.message))")
        }
    }
}
