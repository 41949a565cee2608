import InjectorBase
import InjectorCommandLine
import InjectorConfig
import InjectorJob
import Testing

/// What each error says on standard error, and the exit code it ends with: the same for both
/// executables, since both end through ``CommandLineEntry``.
@Suite struct CommandLineEntryTests {
    @Test func everyProblemOfARunIsALineAndTheRunsStatusWins() {
        let failure = InjectorFailure(problems: [
            Problem(message: "secret a not found", exitStatus: .notFoundOrDenied),
            Problem(message: "cannot connect", exitStatus: .unavailable),
        ])
        let (lines, status) = CommandLineEntry.outcome(of: failure)
        #expect(lines == ["secret a not found", "cannot connect"])
        #expect(status == .unavailable)
    }

    @Test func everyIssueOfAConfigurationIsALineAndExits2() {
        let error = ConfigurationError([ConfigIssue("secrets[0].mode", "not a mode"), ConfigIssue("", "no secrets")])
        let (lines, status) = CommandLineEntry.outcome(of: error)
        #expect(lines == ["secrets[0].mode: not a mode", "no secrets"])
        #expect(status == .usage)
    }

    @Test func aCommandsOwnEndIsSilentWithoutAMessage() {
        #expect(CommandLineEntry.outcome(of: CommandExit(.failure)) == ([], .failure))
        #expect(
            CommandLineEntry.outcome(of: CommandExit(.cannotWrite, "outputDir is writable")) == (
                ["outputDir is writable"], .cannotWrite
            ))
    }

    @Test func anyOtherErrorSaysItselfWithItsOwnStatus() {
        struct Plain: Error, CustomStringConvertible { var description: String { "plain" } }
        #expect(CommandLineEntry.outcome(of: Plain()) == (["plain"], .failure))
        let written = FileSystemError(operation: "rename", path: "/out", code: 28)
        #expect(CommandLineEntry.outcome(of: written).status == .cannotWrite)
    }

    /// The drift there was: one executable flattened a message of several lines, the other
    /// escaped its line ends. Both print it as one line now, its lines joined by spaces.
    @Test func aMessageOfSeveralLinesIsPrintedAsOne() {
        #expect("first\nsecond\r\nthird".oneLine == "first second third")
        #expect("tab\there \u{1B}[31m".oneLine == "tab\\u0009here \\u001b[31m")
    }
}
