import Foundation
import TestSupport
import Testing

/// The rooms' import rules (docs/ARCHITECTURE.md). What a target may import is what `Package.swift`
/// declares: SwiftPM refuses an undeclared import of one of our targets (`scripts/test` builds with
/// `--explicit-target-dependency-import-check error`), and this suite checks every import against the
/// declarations too, read from `swift package dump-package`. It keeps the rules SwiftPM cannot
/// express: SwiftNIO only in the HTTP room, `CProcess` only in the base and output rooms, no full
/// Foundation in any target the daemon links, and the fleet simulation off the server.
@Suite struct LayeringTests {
    /// Modules every room may import: the standard library's and the platform's own.
    static let everywhere: Set<String> = ["Glibc", "Musl", "Synchronization", "FoundationEssentials", "Testing"]

    struct Target {
        var name: String
        var folder: URL
        /// Its declared dependencies: our targets and packages' products, by module name.
        var dependencies: Set<String>
        var isExecutable: Bool
    }

    /// The package's targets of `Sources/` and `bench/` (not the tests' support), as `swift package dump-package` gives them. A scratch path of
    /// its own: the running `swift test` holds the build folder's lock.
    static let package: [String: Target] = {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("layering-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let result = try! runCommand(
            "/usr/bin/env",
            ["swift", "package", "--package-path", Repository.root.path, "--scratch-path", scratch, "dump-package"],
            environment: ProcessInfo.processInfo.environment, timeout: 120)
        precondition(result.status == 0, "swift package dump-package: \(result.stderr)")
        let document = try! JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        var targets: [String: Target] = [:]
        for target in document["targets"] as! [[String: Any]] {
            let type = target["type"] as! String
            let path = (target["path"] as? String) ?? "Sources/\(target["name"] as! String)"
            guard type == "regular" || type == "executable", !path.hasPrefix("Tests/") else { continue }
            let name = target["name"] as! String
            let dependencies = (target["dependencies"] as! [[String: Any]]).compactMap { dependency -> String? in
                if let byName = dependency["byName"] as? [Any] { return byName[0] as? String }
                if let target = dependency["target"] as? [Any] { return target[0] as? String }
                if let product = dependency["product"] as? [Any] { return product[0] as? String }
                return nil
            }
            targets[name] = Target(
                name: name, folder: Repository.root.appendingPathComponent(path), dependencies: Set(dependencies),
                isExecutable: type == "executable")
        }
        return targets
    }()

    /// The modules a Swift file imports (`import X`, `public import X`, `@testable import X`, …).
    static func imports(_ source: String) -> [String] {
        source.split(separator: "\n").compactMap { line in
            let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
            guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                words[..<index].allSatisfy({
                    ["public", "internal", "package", "@testable", "@_implementationOnly"].contains($0)
                })
            else { return nil }
            return String(words[index + 1].split(separator: ".")[0])
        }
    }

    /// Every import a target's files make that `allowed` does not hold, as `Target/File.swift: Module`.
    static func violations(target: String, files: [(name: String, source: String)], allowed: Set<String>) -> [String] {
        files.flatMap { file in
            imports(file.source).filter { !allowed.contains($0) && !everywhere.contains($0) && $0 != target }.map {
                "\(target)/\(file.name): imports \($0)"
            }
        }
    }

    static func swiftFiles(in folder: URL) throws -> [(name: String, source: String)] {
        (FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []).filter {
            $0.hasSuffix(".swift")
        }.sorted().map { ($0, try! String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8)) }
    }

    /// A target and everything it depends on, our targets only.
    static func closure(of name: String) -> Set<String> {
        var seen: Set<String> = []
        var queue = [name]
        while let next = queue.popLast() {
            guard seen.insert(next).inserted, let target = package[next] else { continue }
            queue += target.dependencies.filter { package[$0] != nil }
        }
        return seen
    }

    @Test func everyImportIsDeclared() throws {
        #expect(Self.package.count >= 20, "dump-package gave \(Self.package.count) targets")
        var problems: [String] = []
        for target in Self.package.values.sorted(by: { $0.name < $1.name }) {
            problems += Self.violations(
                target: target.name, files: try Self.swiftFiles(in: target.folder), allowed: target.dependencies)
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The rules Package.swift cannot say, on what the files import.
    @Test func theRoomsStayApart() throws {
        var problems: [String] = []
        let daemon = Self.closure(of: "secrets-injector")
        #expect(daemon.contains("InjectorSidecar") && !daemon.contains("InjectorMigration"))
        for target in Self.package.values {
            for file in try Self.swiftFiles(in: target.folder) {
                for module in Self.imports(file.source) {
                    if module.hasPrefix("NIO") && target.name != "InjectorHTTP" {
                        problems.append("\(target.name)/\(file.name): only InjectorHTTP imports SwiftNIO (\(module))")
                    }
                    if module == "CProcess" && !["InjectorBase", "InjectorOutputs"].contains(target.name) {
                        problems.append(
                            "\(target.name)/\(file.name): only InjectorBase and InjectorOutputs import CProcess")
                    }
                    if module == "Foundation" && daemon.contains(target.name) {
                        problems.append("\(target.name)/\(file.name): the daemon links it: FoundationEssentials only")
                    }
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        let fleet = Self.closure(of: "FleetSimulation")
        #expect(fleet.contains("InjectorSources") && fleet.contains("InjectorRefresh"))
        #expect(fleet.isDisjoint(with: ["InjectorHTTP", "InjectorAgent", "InjectorSidecar"]))
    }

    /// The check itself: a forbidden import is found, whatever its access modifier.
    @Test func aForbiddenImportIsFound() {
        let files = [
            (name: "A.swift", source: "import InjectorBase\npublic import NIOCore\n"),
            (name: "B.swift", source: "internal import CProcess\n@testable import InjectorHTTP\nimport Glibc\n"),
        ]
        #expect(
            Self.violations(target: "InjectorAgent", files: files, allowed: ["InjectorBase"]) == [
                "InjectorAgent/A.swift: imports NIOCore", "InjectorAgent/B.swift: imports CProcess",
                "InjectorAgent/B.swift: imports InjectorHTTP",
            ])
    }
}
