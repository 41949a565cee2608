public import ArgumentParser
import FoundationEssentials
public import InjectorBase
import InjectorConfig
import InjectorJob

#if canImport(Glibc)
    import Glibc
#endif

/// The one entry of both executables, `secrets-injector` and `secrets-injector-tools`: parse the
/// arguments, run the command, and end the process with a documented exit code (docs/operations.md, "Exit
/// codes"), each error one line on standard error, `secrets-injector: error: …`.
public enum CommandLineEntry {
    /// Parses `arguments` (else the process's) as `Root` and runs the command, then exits: 0 when
    /// it returns; else the code its error says. `--help` and `--version` print and exit 0 as
    /// swift-argument-parser does; every usage error exits 2, not its 64.
    public static func main<Root: ParsableCommand>(_ root: Root.Type, arguments: [String]? = nil) async -> Never {
        let command: any ParsableCommand
        do {
            command = try Root.parseAsRoot(arguments)
        } catch {
            if Root.exitCode(for: error) == .success { Root.exit(withError: error) }
            end([Root.message(for: error) + " (see --help)"], .usage)
        }
        do {
            if let asyncCommand = command as? any AsyncParsableCommand {
                try await runAsync(asyncCommand)
            } else {
                var command = command
                try command.run()
            }
        } catch let error where Root.exitCode(for: error) == .success {
            Root.exit(withError: error)  // help and version, also through `help <subcommand>`
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            let (lines, status) = outcome(of: error)
            end(lines, status)
        }
        // Done: exit from here, on the thread that ran the command. Returning would hop to the main
        // actor, whose queue the runtime serves from a thread it starts for the purpose.
        exit(ExitStatus.success.rawValue)
    }

    /// What an error says on standard error, one message a line, and the exit status it ends with:
    /// every problem of a run, every issue of a configuration, a command's own end (silent when it
    /// has no message), else the error's own status (``ExitStatus/of(_:)``).
    public static func outcome(of error: any Error) -> (lines: [String], status: ExitStatus) {
        switch error {
        case let failure as InjectorFailure: (failure.problems.map(\.message), failure.exitStatus)
        case let error as ConfigurationError: (error.issues.map(\.description), error.exitStatus)
        case let end as CommandExit: (end.message.map { [$0] } ?? [], end.exitStatus)
        case let error as ValidationError: ([error.message], .usage)
        default: (["\(error)"], ExitStatus.of(error))
        }
    }

    /// Each message as one line, `secrets-injector: error: …`, then the exit.
    public static func end(_ messages: [String], _ status: ExitStatus) -> Never {
        for message in messages { StandardStream.error.write("secrets-injector: error: \(message.oneLine)\n") }
        exit(status.rawValue)
    }

    /// Runs `executable` in this process's place with `arguments` (named `secrets-injector`), as
    /// git runs `git-NAME`: the one beside this executable, else the first on `PATH`. Exit 2 saying
    /// so when there is none.
    public static func handOff(to executable: String, _ arguments: [String]) -> Never {
        guard let path = SiblingExecutable.locate(executable) else {
            end(
                [
                    "\(arguments.first ?? "this command") is in \(executable), which is neither beside this executable nor on PATH (the product image carries the daemon alone): run it from the tools image (docker build --target tools .), or build both here with scripts/build-release"
                ], .usage)
        }
        let argv = (["secrets-injector"] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        end(["cannot run \(path): \(String(cString: strerror(errno)))"], .usage)
    }
}

/// Runs a command's async `run()` (the existential alone would pick the synchronous one).
private func runAsync<Command: AsyncParsableCommand>(_ command: Command) async throws {
    var command = command
    try await command.run()
}
