import HTTPTransport
import InjectorBase

/// A failed Secrets Manager call, said so that an operator knows what to change.
///
/// Messages name the secret, the action, the region or the endpoint; they never hold a secret
/// value or a response body (only AWS's own error message, on one line).
public struct SecretsManagerError: Error, Sendable, CustomStringConvertible {
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
        /// Secrets Manager failed or answered with something unreadable.
        case service
        /// No HTTP answer: refused connection, DNS, timeout, TLS.
        case network
        /// The credential provider could not give credentials.
        case credentials
    }

    public var category: Category
    /// The AWS error code (`ResourceNotFoundException`), when AWS sent one.
    public var code: String?
    /// AWS's own message, on one line.
    public var awsMessage: String?
    public var operation: String?
    public var secretID: String?
    public var versionStage: String?
    public var versionID: String?
    public var region: String?
    public var endpoint: String?
    /// Our own words for configuration, network and credential failures.
    public var detail: String?
    public var attempts: Int = 1
    /// The HTTP status Secrets Manager answered with, when it answered.
    public var httpStatus: Int?
    /// No answer came in time (a network error that is a timeout, not a refusal).
    public var timedOut = false
    /// Overrides the category's default transience (a TLS failure is a network error that no
    /// retry fixes; a credential endpoint that is down may answer next time).
    public var transient: Bool?

    public init(
        category: Category, code: String? = nil, awsMessage: String? = nil, operation: String? = nil,
        secretID: String? = nil, region: String? = nil, endpoint: String? = nil, detail: String? = nil
    ) {
        self.category = category
        self.code = code
        self.awsMessage = awsMessage.map(oneLine)
        self.operation = operation
        self.secretID = secretID
        self.region = region
        self.endpoint = endpoint
        self.detail = detail.map(oneLine)
    }

    /// A settings problem found before or instead of a call.
    public static func configuration(_ message: String) -> SecretsManagerError {
        SecretsManagerError(category: .configuration, detail: message)
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

    /// Worth another attempt (SPEC §3 "standard" retries: throttling, 5xx, timeouts, connections).
    public var isTransient: Bool {
        if let transient { return transient }
        switch category {
        case .throttled, .service, .network: return true
        default: return false
        }
    }

    public var description: String {
        let subject = secretID.map { id in
            var text = id
            if let versionStage { text += " (version stage \(versionStage))" }
            if let versionID { text += " (version \(versionID))" }
            return text
        }
        let aws = awsMessage.map { $0.isEmpty ? "" : " (AWS: \($0))" } ?? ""
        let codeText = code ?? "error"
        let tries = attempts > 1 ? " after \(attempts) attempts" : ""
        // Parameter Store's calls (issue 22) say so: its service, its resource, its endpoint variable.
        let parameters = operation?.hasPrefix("GetParameters") == true
        let service = parameters ? "Parameter Store" : "Secrets Manager"
        switch category {
        case .configuration:
            return detail ?? "configuration error"
        case .notFound:
            return
                "\(codeText): \(parameters ? "parameter" : "secret") \(subject ?? "?") not found in region \(region ?? "?")\(aws); check the \(parameters ? "parameter" : "secret")'s name and the region"
        case .accessDenied:
            let action = operation ?? "GetSecretValue"
            if parameters {
                let name = secretID.map { id in
                    ARN(id).map(\.description)
                        ?? ARN(
                            service: "ssm", region: region, account: nil, resource: "parameter/\(id.drop { $0 == "/" })"
                        )
                        .description
                }
                return
                    "\(codeText) for \(subject ?? action): the task role needs ssm:\(action) on \(name ?? "the parameters")\(aws)"
            }
            if let secretID {
                let resource =
                    ARN(secretID).map(\.description)
                    ?? ARN(service: "secretsmanager", region: region, account: nil, resource: "secret:\(secretID)-*")
                    .description
                let also = action == "BatchGetSecretValue" ? " and secretsmanager:GetSecretValue" : ""
                return
                    "\(codeText) for \(subject ?? secretID): the task role needs secretsmanager:\(action)\(also) on \(resource)\(aws)"
            }
            return "\(codeText) for \(action): the task role needs secretsmanager:\(action) on *\(aws)"
        case .authentication:
            return
                "\(service) refused the credentials for \(operation ?? "the call") (\(codeText))\(aws); check the task role credentials and the system clock"
        case .decryption:
            return
                "\(codeText) for \(subject ?? "the secret"): the task role needs kms:Decrypt on the secret's KMS key\(aws)"
        case .invalidRequest:
            return "\(codeText) for \(subject ?? operation ?? "the request")\(aws)"
        case .throttled, .service:
            let what = detail ?? "\(codeText)\(aws)"
            return "\(service) \(operation ?? "call") failed\(tries) at \(endpoint ?? "?"): \(what)"
        case .network:
            return
                "\(service) \(operation ?? "call") failed\(tries): \(detail ?? "network error"); check the route to \(service) (VPC endpoint, NAT) or \(parameters ? "AWS_ENDPOINT_URL_SSM" : "AWS_ENDPOINT_URL_SECRETS_MANAGER")"
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
