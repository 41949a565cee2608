import InjectorBase

/// Bad input to `scan` or `migrate`: one line, exit 2.
public struct InputError: Error, Sendable, CustomStringConvertible, ExitStatusProviding {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: ExitStatus { .usage }
}
