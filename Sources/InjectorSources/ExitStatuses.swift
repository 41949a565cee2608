public import AWSCredentials
public import InjectorBase
public import SecretsManager

/// What a failed AWS call means for the exit code: fix the setup (2), the secret or parameter is
/// not there for us (3), or retrying may work (4).
extension AWSCallError: ExitStatusProviding {
    public var exitStatus: ExitStatus {
        switch category {
        case .configuration: .usage
        case .notFound, .accessDenied, .authentication, .decryption, .invalidRequest: .notFoundOrDenied
        case .throttled, .service, .network, .credentials: .unavailable
        }
    }
}

/// A service's failure means what the call failure it wraps means.
extension ServiceError {
    public var exitStatus: ExitStatus { underlying.exitStatus }
}

extension SecretsManagerError: ExitStatusProviding {}
extension ParameterStoreError: ExitStatusProviding {}
extension CloudTrailError: ExitStatusProviding {}

/// A credential variable that cannot work is a usage error (2); an endpoint that does not answer
/// may answer later (4).
extension CredentialError: ExitStatusProviding {
    public var exitStatus: ExitStatus { kind == .configuration ? .usage : .unavailable }
}
extension IAMError: ExitStatusProviding {}
extension KMSError: ExitStatusProviding {}
