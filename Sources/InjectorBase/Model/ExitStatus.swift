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
