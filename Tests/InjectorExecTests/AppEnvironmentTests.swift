import Testing

@testable import InjectorExec

/// The app's environment, by its one rule: inherited, minus the injector's own and the dropped
/// names, plus the configured variables, which win.
@Suite struct AppEnvironmentTests {
    func entries(_ texts: [String]) -> [[UInt8]] { texts.map { Array($0.utf8) } }

    @Test func theRule() {
        let environment = AppEnvironment(
            inherited: entries([
                "PATH=/usr/bin", "SECRETS_INJECTOR_CONFIG={}", "HOME=/root", "DB_PASSWORD=old", "AWS_REGION=eu-west-1",
                "SECRETS_INJECTOR_LOG_LEVEL=debug", "WEIRD", "PATH=/second",
            ]),
            drop: ["DB_PASSWORD", "NOT_SET"],
            configured: [("HOME", Array("/app".utf8)), ("JWT", Array("a\nb=$c".utf8)), ("HOME", Array("/last".utf8))])
        #expect(
            environment.entries
                == entries(["PATH=/usr/bin", "AWS_REGION=eu-west-1", "WEIRD", "HOME=/last", "JWT=a\nb=$c"]),
            "order kept; the first of a repeated inherited name (as getenv reads it); the last configured value")
        #expect(environment.overridden == ["HOME"])
    }

    @Test func aConfiguredVariableThatWasDroppedIsStillGiven() {
        let environment = AppEnvironment(
            inherited: entries(["TOKEN=parent"]), drop: ["TOKEN"], configured: [("TOKEN", Array("configured".utf8))])
        #expect(environment.entries == entries(["TOKEN=configured"]))
        #expect(environment.overridden.isEmpty, "a dropped name is not replaced: it was never given")
    }

    @Test func nothingConfiguredKeepsTheRestAsItIs() {
        let bytes: [[UInt8]] = [[0x41, 0x3D, 0xFF, 0xFE], Array("B=2".utf8)]
        let environment = AppEnvironment(inherited: bytes, drop: [], configured: [])
        #expect(environment.entries == bytes, "bytes that are not UTF-8 pass through unchanged")
    }
}
