public import InjectorBase

/// One reason a run could not produce its outputs, with the exit status it maps to.
public struct Problem: Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var exitStatus: ExitStatus
    public var description: String { message }

    public init(message: String, exitStatus: ExitStatus) {
        self.message = message
        self.exitStatus = exitStatus
    }
}

/// Every problem of a run; nothing was committed.
public struct InjectorFailure: Error, Sendable, CustomStringConvertible, ExitStatusProviding {
    public var problems: [Problem]

    public init(problems: [Problem]) { self.problems = problems }

    /// Configuration beats everything (fix it first); then transient failures (a retry may
    /// work); then not found or denied.
    public var exitStatus: ExitStatus {
        let statuses = Set(problems.map(\.exitStatus))
        for status in [ExitStatus.usage, .unavailable, .notFoundOrDenied, .cannotWrite] where statuses.contains(status)
        { return status }
        return .failure
    }

    public var description: String { problems.map(\.message).joined(separator: "\n") }
}
