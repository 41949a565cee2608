import AWSCredentials
import SecretsManager

/// The documented exit codes (README "Exit codes").
public enum ExitStatus: Int32, Sendable {
    case success = 0
    /// Unexpected failure.
    case failure = 1
    /// Bad usage or configuration: flags, settings, credential variables. Fix, don't retry.
    case usage = 2
    /// The secret, version or JSON key does not exist, or access to it is denied.
    case notFoundOrDenied = 3
    /// Network, credential endpoint or Secrets Manager failure: retrying may work.
    case unavailable = 4
    /// The outputs could not be written (permissions, a full volume, a foreign file in the way).
    case cannotWrite = 5

    /// The code for an error thrown by the client, the credential chain or a command.
    public static func of(_ error: any Error) -> ExitStatus {
        switch error {
        case let error as SecretsManagerError:
            switch error.category {
            case .configuration: return .usage
            case .notFound, .accessDenied, .authentication, .decryption, .invalidRequest: return .notFoundOrDenied
            case .throttled, .service, .network, .credentials: return .unavailable
            }
        case let error as CredentialError:
            return error.kind == .configuration ? .usage : .unavailable
        case let error as SecretLookupError:
            return error.exitStatus
        case let error as InjectorFailure:
            return error.exitStatus
        case is ConfigurationError:
            return .usage
        case is FileSystemError, is ServerError:
            return .cannotWrite
        default:
            return .failure
        }
    }
}
