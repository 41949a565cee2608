import HTTPTransport
import InjectorBase

/// A failed AWS call, said so that an operator knows what to change: the core that
/// ``SecretsManagerError`` and ``ParameterStoreError`` wrap, and the one error a source's answers
/// carry, whichever service gave them.
///
/// Messages name the service, the resource, the IAM permission (`secretsmanager:GetSecretValue`,
/// `ssm:GetParameters`), the region or the endpoint variable; they never hold a secret value or a
/// response body (only AWS's own error message, on one line).
public struct AWSCallError: Error, Sendable, CustomStringConvertible {
    public enum Category: Sendable, Equatable {
        /// Settings are wrong (endpoint, region, credential variables): fix them; not retried.
        case configuration
        case notFound
        case accessDenied
        /// The credentials themselves were refused (bad signature, unknown or expired token).
        case authentication
        /// KMS could not decrypt the secret for this caller.
        case decryption
        /// The request is not valid for this secret (e.g. scheduled for deletion).
        case invalidRequest
        case throttled
        /// The service failed or answered with something unreadable.
        case service
        /// No HTTP answer: refused connection, DNS, timeout, TLS.
        case network
        /// The credential provider could not give credentials.
        case credentials
    }

    /// The service called; nil for settings found wrong before any call.
    public var service: AWSService?
    public var category: Category
    /// The AWS error code (`ResourceNotFoundException`), when AWS sent one.
    public var code: String?
    /// AWS's own message, on one line.
    public var awsMessage: String?
    public var operation: String?
    /// The secret or parameter the call was about, as it was asked (a name or an ARN).
    public var resourceID: String?
    public var versionStage: String?
    public var versionID: String?
    public var region: String?
    public var endpoint: String?
    /// Our own words for configuration, network and credential failures.
    public var detail: String?
    public var attempts: Int = 1
    /// The HTTP status the service answered with, when it answered.
    public var httpStatus: Int?
    /// No answer came in time (a network error that is a timeout, not a refusal).
    public var timedOut = false
    /// Overrides the category's default transience (a TLS failure is a network error that no
    /// retry fixes; a credential endpoint that is down may answer next time).
    public var transient: Bool?

    public init(
        service: AWSService?, category: Category, code: String? = nil, awsMessage: String? = nil,
        operation: String? = nil, resourceID: String? = nil, region: String? = nil, endpoint: String? = nil,
        detail: String? = nil
    ) {
        self.service = service
        self.category = category
        self.code = code
        self.awsMessage = awsMessage.map(oneLine)
        self.operation = operation
        self.resourceID = resourceID
        self.region = region
        self.endpoint = endpoint
        self.detail = detail.map(oneLine)
    }

    /// A settings problem found before or instead of a call.
    public static func configuration(_ message: String, service: AWSService? = nil) -> AWSCallError {
        AWSCallError(service: service, category: .configuration, detail: message)
    }

    /// The call failure `error` is, whether bare or in a service's own error type; nil for any
    /// other error.
    public init?(_ error: any Error) {
        switch error {
        case let error as AWSCallError: self = error
        case let error as any ServiceError: self = error.underlying
        default: return nil
        }
    }

    /// The category an AWS error code belongs to. Branch on the code, not the HTTP status.
    public static func category(forCode code: String, status: Int) -> Category {
        switch code {
        case "ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound": return .notFound
        case "AccessDeniedException", "AccessDenied": return .accessDenied
        case "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "ExpiredToken",
            "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature", "MissingAuthenticationToken":
            return .authentication
        case "DecryptionFailure", "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException",
            "InvalidKeyId":
            return .decryption
        case "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
            "RequestLimitExceeded",
            "RequestThrottled", "RequestThrottledException", "SlowDown", "ProvisionedThroughputExceededException",
            "BandwidthLimitExceeded", "EC2ThrottledException", "PriorRequestNotComplete",
            "TransactionInProgressException":
            return .throttled
        case "InternalServiceError", "InternalFailure", "InternalError", "ServiceUnavailable", "RequestTimeout",
            "RequestTimeoutException":
            return .service
        default:
            return status >= 500 ? .service : .invalidRequest
        }
    }

    /// Worth another attempt (the AWS SDKs' "standard" retry mode: throttling, 5xx, timeouts, connections).
    public var isTransient: Bool {
        if let transient { return transient }
        switch category {
        case .throttled, .service, .network: return true
        default: return false
        }
    }

    public var description: String {
        let subject = resourceID.map { id in
            var text = id
            if let versionStage { text += " (version stage \(versionStage))" }
            if let versionID { text += " (version \(versionID))" }
            return text
        }
        let aws = awsMessage.map { $0.isEmpty ? "" : " (AWS: \($0))" } ?? ""
        let codeText = code ?? "error"
        let tries = attempts > 1 ? " after \(attempts) attempts" : ""
        // A failure that names no service (an unexpected error in a round) reads as Secrets Manager's,
        // the service every configuration reads.
        let service = self.service ?? .secretsManager
        let noun = service.resourceNoun
        switch category {
        case .configuration:
            return detail ?? "configuration error"
        case .notFound:
            return
                "\(codeText): \(noun) \(subject ?? "?") not found in region \(region ?? "?")\(aws); check the \(noun)'s name and the region"
        case .accessDenied:
            let action = operation ?? service.readOperation
            // The extra permission a named resource also needs (BatchGetSecretValue's GetSecretValue).
            let permissions =
                resourceID == nil ? ["\(service.signingName):\(action)"] : service.permissions(for: action)
            let resource = resourceID.map { service.resourcePattern(of: $0, region: region) } ?? service.anyResource
            return
                "\(codeText) for \(subject ?? action): the task role needs \(permissions.joined(separator: " and ")) on \(resource)\(aws)"
        case .authentication:
            return
                "\(service.name) refused the credentials for \(operation ?? "the call") (\(codeText))\(aws); check the task role credentials and the system clock"
        case .decryption:
            return
                "\(codeText) for \(subject ?? "the \(noun)"): the task role needs kms:Decrypt on the \(noun)'s KMS key\(aws)"
        case .invalidRequest:
            return "\(codeText) for \(subject ?? operation ?? "the request")\(aws)"
        case .throttled, .service:
            let what = detail ?? "\(codeText)\(aws)"
            return "\(service.name) \(operation ?? "call") failed\(tries) at \(endpoint ?? "?"): \(what)"
        case .network:
            return
                "\(service.name) \(operation ?? "call") failed\(tries): \(detail ?? "network error"); check the route to \(service.name) (VPC endpoint, NAT) or \(service.endpointVariable)"
        case .credentials:
            return "no usable AWS credentials: \(detail ?? "?")"
        }
    }
}

/// Folds line breaks and caps the length, so a message stays one readable line.
func oneLine(_ text: String) -> String {
    let flat = text.split(whereSeparator: { $0.isNewline }).joined(separator: " ").trimmingCharacters(in: " ")
    return flat.count > 400 ? String(flat.prefix(400)) + "…" : flat
}
