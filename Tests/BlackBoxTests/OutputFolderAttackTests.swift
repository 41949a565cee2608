import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The output folder turned against the injector: a planted `..data`, a foreign
/// generation folder, a folder others can write into or another uid owns. Each is refused with
/// exit 5 and one line, and nothing outside `outputDir` changes (a checksum of a victim tree).
@Suite struct OutputFolderAttackTests {
    /// A task's folder: `victim/` beside `out/`, a local source, and one committed generation.
    struct Scene {
        let folder: String
        var output: String { "\(folder)/out" }
        var victim: String { "\(folder)/victim" }
        var config: String {
            #"{"source": {"local": "\#(folder)/dev.json"}, "outputDir": "\#(output)", "secrets": [{"id": "app/token", "file": "token"}], "log": {"level": "error"}}"#
        }

        init() throws {
            folder = try BlackBox.temporaryFolder()
            chmod(folder, 0o755)
            try FileManager.default.createDirectory(atPath: "\(folder)/victim/deep", withIntermediateDirectories: true)
            try "precious".write(toFile: "\(folder)/victim/deep/file", atomically: true, encoding: .utf8)
            try "also".write(toFile: "\(folder)/victim/top", atomically: true, encoding: .utf8)
            try setValue("v1")
        }

        func setValue(_ value: String) throws {
            try #"{"app/token": "\#(value)"}"#.write(toFile: "\(folder)/dev.json", atomically: true, encoding: .utf8)
        }

        func initialize() async throws -> CommandResult {
            try await run(BlackBox.binary, ["init"], environment: ["SECRETS_INJECTOR_CONFIG": config])
        }

        /// Every path below `victim/` with its type, mode, owner and content.
        func victimChecksum() -> String {
            var lines: [String] = []
            let enumerator = FileManager.default.enumerator(atPath: victim)
            while let name = enumerator?.nextObject() as? String {
                let path = "\(victim)/\(name)"
                let attributes = (try? FileManager.default.attributesOfItem(atPath: path)) ?? [:]
                let content = (try? Data(contentsOf: URL(fileURLWithPath: path))).map { "\($0.hashValue)" } ?? "-"
                lines.append(
                    "\(name) \(attributes[.type] ?? "") \(attributes[.posixPermissions] ?? "") \(attributes[.ownerAccountID] ?? "") \(content)"
                )
            }
            return lines.sorted().joined(separator: "\n")
        }

        func currentGeneration() -> String? {
            try? FileManager.default.destinationOfSymbolicLink(atPath: "\(output)/..data")
        }

        func remove() { try? FileManager.default.removeItem(atPath: folder) }
    }

    /// The tampering cases, each as a change to a scene with one good generation.
    static let tampering: [(name: String, needsRoot: Bool, expected: String)] = [
        ("..data to a folder outside", false, "..data: a symbolic link to \"../victim\", not to a generation folder"),
        ("..data a regular file", false, "..data: not a symbolic link"),
        ("a generation folder of another uid", true, "a generation folder"),
        ("outputDir writable by everyone", false, "is writable by every user (mode 0777)"),
        ("outputDir of another uid", true, "is owned by uid 12345"),
    ]

    static func tamper(_ scene: Scene, _ name: String) throws {
        let data = "\(scene.output)/..data"
        switch name {
        case "..data to a folder outside":
            unlink(data)
            symlink("../victim", data)
        case "..data a regular file":
            unlink(data)
            try "x".write(toFile: data, atomically: false, encoding: .utf8)
        case "a generation folder of another uid":
            let generation = scene.currentGeneration() ?? ""
            chown("\(scene.output)/\(generation)", 12_345, 12_345)
        case "outputDir writable by everyone":
            chmod(scene.output, 0o777)
        case "outputDir of another uid":
            chown(scene.output, 12_345, 12_345)
        default:
            Issue.record("unknown case \(name)")
        }
    }

    @Test(arguments: 0..<tampering.count)
    func initRefusesWithExitFiveAndTouchesNothingOutside(case index: Int) async throws {
        let (name, needsRoot, expected) = Self.tampering[index]
        guard !needsRoot || getuid() == 0 else { return }  // chown needs root (CI runs as root)
        let scene = try Scene()
        defer { scene.remove() }
        let first = try await scene.initialize()
        try #require(first.status == 0, "\(first.stderr)")
        let before = scene.victimChecksum()
        try Self.tamper(scene, name)
        try scene.setValue("v2")
        let result = try await scene.initialize()
        #expect(result.status == 5, "\(name): \(result.status) \(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(name): \(result.stderr)")
        #expect(lines.first?.hasPrefix("secrets-injector: error: ") == true)
        #expect(result.stderr.contains(expected), "\(name): \(result.stderr)")
        #expect(scene.victimChecksum() == before, "\(name): the victim tree changed")
        #expect(FileManager.default.fileExists(atPath: "\(scene.victim)/deep/file"))
        let check = try await run(BlackBox.binary, ["check"], environment: ["SECRETS_INJECTOR_CONFIG": scene.config])
        if name.hasPrefix("outputDir") {
            #expect(check.status == 5, "check refuses the folder too: \(check.stderr)")
        }
    }

    @Test(arguments: [0, 1])
    func theSidecarKeepsServingAndHealthReportsTheWriteFailure(case index: Int) async throws {
        let name = Self.tampering[index].name
        let scene = try Scene()
        defer { scene.remove() }
        let sidecar = try BlackBox.launch(["run"], environment: ["SECRETS_INJECTOR_CONFIG": scene.config])
        defer { if sidecar.isRunning { sidecar.terminate() } }
        let socket = "\(scene.output)/injector.sock"
        try #require(
            await SidecarCommandTests.waitFor(20) { FileManager.default.fileExists(atPath: "\(scene.output)/.ready") })
        let before = scene.victimChecksum()
        func answer() async throws -> String {
            try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost/v1/app/token"]).body
        }
        #expect(try await answer().contains(#""SecretString":"v1""#))

        try Self.tamper(scene, name)
        try scene.setValue("v2")
        kill(sidecar.processIdentifier, SIGHUP)
        var health = ""
        #expect(
            try await SidecarCommandTests.waitFor(10) {
                health = try await SidecarCommandTests.curl(["--unix-socket", socket, "http://localhost/health"]).body
                return health.contains(#""writeFailure":"/"#)
            }, "\(health)")
        #expect(health.contains(#""status":"degraded""#), "\(health)")
        #expect(health.contains("the new generation cannot be written"))
        #expect(try await answer().contains(#""SecretString":"v1""#), "the last generation is still served")
        #expect(scene.victimChecksum() == before)
        #expect(sidecar.isRunning)
    }
}

extension OutputFolderAttackTests {
    /// What ECS gives a Fargate bind mount the image does not hold: root-owned, 0755. The
    /// non-root injector cannot write there, and says how to fix it.
    @Test(.enabled(if: getuid() == 0, "needs root to run the injector as uid 10001"))
    func aRootOwnedFolderNamesTheFix() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        try FileManager.default.createDirectory(atPath: scene.output, withIntermediateDirectories: false)
        chmod(scene.output, 0o755)
        chmod("\(scene.folder)/dev.json", 0o644)
        let result = try await run(
            "/usr/bin/setpriv",
            ["--reuid", "10001", "--regid", "1000", "--clear-groups", BlackBox.binary, "init"],
            environment: ["SECRETS_INJECTOR_CONFIG": scene.config])
        #expect(result.status == 5, "\(result.stderr)")
        #expect(
            result.stderr.contains("is not writable by the injector's uid 10001 (owned by uid 0, mode 0755)")
                && result.stderr.contains("install -d -m 0750 -o 10001 \(scene.output)"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}

extension OutputFolderAttackTests {
    /// A full volume mid-write: exit 5, the previous generation stays whole and visible.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func aFullVolumeLeavesThePreviousGeneration() async throws {
        let scene = try Scene()
        defer { scene.remove() }
        try FileManager.default.createDirectory(atPath: scene.output, withIntermediateDirectories: false)
        let mounted = try await run(
            "/usr/bin/mount", ["-t", "tmpfs", "-o", "size=256k,mode=0750", "tmpfs", scene.output], environment: [:])
        try #require(mounted.status == 0, "\(mounted.stderr)")
        defer { _ = try? runCommand("/usr/bin/umount", ["-l", scene.output], environment: [:]) }
        #expect(try await scene.initialize().status == 0)
        let generation = scene.currentGeneration()
        try scene.setValue(String(repeating: "x", count: 400_000))
        let full = try await scene.initialize()
        #expect(full.status == 5, "\(full.stderr)")
        #expect(full.stderr.contains("No space left on device"), "\(full.stderr)")
        #expect(full.stderr.split(separator: "\n").count == 1)
        #expect(scene.currentGeneration() == generation)
        #expect(try String(contentsOfFile: "\(scene.output)/token", encoding: .utf8) == "v1")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scene.output).filter {
            $0.hasPrefix("..2") && $0 != generation
        }
        #expect(leftovers.isEmpty, "the failed generation is removed: \(leftovers)")
    }
}
