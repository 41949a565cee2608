import InjectorBase
import SecretsManager
import Synchronization

public struct AgentResponse: Sendable, Equatable {
    public var status: Int
    /// None for the Agent's own plain-text refusals, which carry no `Content-Type`.
    public var contentType: String?
    public var body: [UInt8]
    /// Where the transport keeps this answer's encoding, when it is served often enough to encode
    /// once (nil: encoded each time it is served).
    public var encoded: EncodedAnswer?
    /// The secret and version this answer gives, for the access audit.
    public var secretName: String?
    public var versionID: String?

    public init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// This answer with room for its encoding: the transport encodes it the first time it serves
    /// it, and writes the same bytes every time after.
    package func encodedOnce() -> AgentResponse {
        var response = self
        response.encoded = EncodedAnswer()
        return response
    }

    public static func == (left: AgentResponse, right: AgentResponse) -> Bool {
        left.status == right.status && left.contentType == right.contentType && left.body == right.body
    }

    /// The Agent's own refusals: a short text, no content type (`server.rs`).
    package static func text(_ status: Int, _ text: String) -> AgentResponse {
        AgentResponse(status: status, contentType: nil, body: Array(text.utf8))
    }

    package static func json(_ status: Int, _ body: [UInt8]) -> AgentResponse {
        AgentResponse(status: status, contentType: "application/json", body: body)
    }

    /// A Secrets Manager error as the Agent passes it on (`utils.rs` `err_response`): its code and
    /// message, or `InternalFailure` alone when there is no message.
    package static func serviceError(_ status: Int, type: String, message: String) -> AgentResponse {
        guard !message.isEmpty, type != "InternalFailure" else {
            return .json(500, Array(#"{"__type":"InternalFailure"}"#.utf8))
        }
        return .json(
            status,
            Array(
                "{\"__type\":\(JSONValue.string(type).serialized), \"message\":\(JSONValue.string(message).serialized)}"
                    .utf8))
    }

    /// Only configured secrets are served (our deliberate difference from the Agent).
    package static let notFound = serviceError(
        404, type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret."
    ).encodedOnce()

    /// Secrets Manager's refusal of a `versionId` with a `versionStage` it does not carry.
    package static let stageNotOnVersion = serviceError(
        400, type: "InvalidRequestException",
        message: "You provided a VersionStage that is not associated to the provided VersionId.")

    /// A failed `refreshNow`, as the Agent answers it (`cache_manager.rs` `svc_err`): Secrets
    /// Manager's own status, code and message; 504 for a timeout, 502 for a connection failure.
    package static func failure(_ error: AWSCallError) -> AgentResponse {
        if let status = error.httpStatus, let code = error.code {
            return serviceError(status, type: code, message: error.awsMessage ?? "")
        }
        if error.category == .network {
            return error.timedOut
                ? serviceError(504, type: "TimeoutError", message: "Timeout")
                : serviceError(502, type: "ConnectionError", message: "Read Error")
        }
        return serviceError(500, type: "InternalFailure", message: "")
    }
}

/// An answer's bytes as a transport encodes them (the HTTP room: status line, headers and body in
/// one buffer), kept with an answer served many times: a secret's version, `/ping`, the common
/// refusals. The contract only makes the room and knows nothing of the encoding; the transport
/// fills it the first time it serves the answer, and every later request writes the same bytes.
public final class EncodedAnswer: Sendable {
    private let slot = Mutex<(any AnyObject & Sendable)?>(nil)

    public init() {}

    /// The encoding kept here, made by `encode` if there is none yet (or one of another type).
    public func value<Encoding: AnyObject & Sendable>(_ encode: () -> Encoding) -> Encoding {
        slot.withLock { slot in
            if let kept = slot as? Encoding { return kept }
            let made = encode()
            slot = made
            return made
        }
    }
}
