/// A file `scan` could not read, parse or recognise: one line naming it (and its line when there
/// is one), never any of its text. The scan goes on past it; `--strict` makes it exit 2.
public struct ScanNote: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var reason: String

    public var description: String { line.map { "\(file): line \($0): \(reason)" } ?? "\(file): \(reason)" }
}
