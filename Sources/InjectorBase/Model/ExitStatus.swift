/// The documented exit codes (docs/operations.md, "Exit codes").
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

    /// The code for any error: its own (``ExitStatusProviding``), else `failure`. Each room says
    /// what its errors mean, so this list names none of them.
    public static func of(_ error: any Error) -> ExitStatus {
        (error as? any ExitStatusProviding)?.exitStatus ?? .failure
    }
}

/// An error that knows which documented exit code it ends the process with.
public protocol ExitStatusProviding: Error {
    var exitStatus: ExitStatus { get }
}

/// How a command ends when no room's error says it: a usage mistake it found, a refusal, or an
/// outcome with a code of its own (`scan`'s and `review`'s findings: 1, after the report). The
/// command line prints `message`, when there is one, as one line on standard error.
public struct CommandExit: Error, Sendable, Equatable, CustomStringConvertible, ExitStatusProviding {
    public var exitStatus: ExitStatus
    public var message: String?

    public init(_ exitStatus: ExitStatus, _ message: String? = nil) {
        self.exitStatus = exitStatus
        self.message = message
    }

    public var description: String { message ?? "exit status \(exitStatus.rawValue)" }
}
