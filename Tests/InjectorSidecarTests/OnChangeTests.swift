import Foundation
import InjectorBase
import InjectorConfig
import Logging
import TestSupport
import Testing

@testable import InjectorSidecar

@Suite struct OnChangeTests {
    @Test func theSignalGoesToThePidInThePidFile() async throws {
        let folder = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let app = Process()
        app.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell says when its trap is set, and writes what it got whole (by a rename).
        app.arguments = [
            "-c",
            "trap 'echo reloaded > \(folder)/s.tmp; mv \(folder)/s.tmp \(folder)/signalled; exit 0' HUP; : > \(folder)/trapped; while :; do sleep 0.05; done",
        ]
        try app.run()
        defer { if app.isRunning { app.terminate() } }
        try "\(app.processIdentifier)\n".write(toFile: "\(folder)/app.pid", atomically: true, encoding: .utf8)
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: "\(folder)/trapped"), Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }

        let settings = OnChangeSettings(command: nil, signalPIDFile: "\(folder)/app.pid", signalName: "HUP")
        await ChangeNotifier(settings: settings, outputDir: folder, logger: Logger(label: "test")).notifyAndWait(
            generation: "..g", changed: ["db"])
        var signalled: String?
        while signalled == nil, Date() < deadline.addingTimeInterval(30) {
            signalled = try? String(contentsOfFile: "\(folder)/signalled", encoding: .utf8)
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(signalled == "reloaded\n")
    }

    @Test func theCommandGetsNoSecretAndIsKilledAfterItsTimeout() async throws {
        let folder = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The parent's environment (HOME, PATH, any AWS_* token) must not reach the child. The test
        // checks the exact set of names rather than setenv a token: setenv races with the other
        // tests' Process.run, which reads the environment.
        let command = OnChangeSettings(command: [
            "/bin/sh", "-c", "env > \(folder)/env; echo \"$@\" > \(folder)/argv", "sh", "x",
        ])
        await ChangeNotifier(settings: command, outputDir: folder, logger: Logger(label: "test")).notifyAndWait(
            generation: "..g1", changed: ["database", "jwt"])
        let environment = try String(contentsOfFile: "\(folder)/env", encoding: .utf8)
        let names = Set(
            environment.split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        #expect(
            names.subtracting(["PWD", "SHLVL", "_"])  // sh sets these itself
                == ["PATH", "SECRETS_INJECTOR_OUTPUT_DIR", "SECRETS_INJECTOR_GENERATION", "SECRETS_INJECTOR_CHANGED"],
            "\(names)")
        #expect(environment.contains("SECRETS_INJECTOR_CHANGED=database,jwt"))
        #expect(environment.contains("SECRETS_INJECTOR_GENERATION=..g1"))

        let started = Date()
        let slow = OnChangeSettings(command: ["/bin/sh", "-c", "sleep 120"], timeoutSeconds: 1)
        let notifier = ChangeNotifier(settings: slow, outputDir: folder, logger: Logger(label: "test"))
        await notifier.notifyAndWait(generation: "..g2", changed: [])
        // Loose: at the start of a full run the machine is saturated for tens of seconds.
        #expect(Date().timeIntervalSince(started) < 60, "killed at its timeout, not waited out")
        #expect(notifier.problem?.contains("did not finish in 1 s") == true, "\(notifier.problem ?? "no problem")")
    }
}
