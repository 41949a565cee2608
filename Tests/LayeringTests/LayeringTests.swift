import Foundation
import TestSupport
import Testing

/// The rooms' import rules (docs/ARCHITECTURE.md, "The rooms"): each target of `Sources/` and
/// `bench/` imports only what its row of the table allows, and no shipped room imports full
/// Foundation. SwiftPM already refuses an import of a target that is not a dependency; this also
/// refuses a dependency the layering does not allow, and modules from outside (NIO, CProcess).
@Suite struct LayeringTests {
    /// Modules every room may import: the standard library's and the platform's own.
    static let everywhere: Set<String> = ["Glibc", "Musl", "Synchronization", "FoundationEssentials", "Testing"]

    /// The table's rows: `| `Target` | … | `Allowed`, `Allowed` |`, the last column listing what the
    /// target may import (`—` for nothing).
    static func table(_ markdown: String) -> [String: Set<String>] {
        var rows: [String: Set<String>] = [:]
        for line in markdown.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count >= 4, let target = codeSpans(cells[1]).first else { continue }
            rows[target] = Set(codeSpans(cells[cells.count - 2]))
        }
        return rows
    }

    static func codeSpans(_ text: String) -> [String] {
        text.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map {
            String($0.element)
        }
    }

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

    /// Every import a target's files make that its row does not allow, as `File.swift: Module`.
    static func violations(target: String, files: [(name: String, source: String)], allowed: Set<String>) -> [String] {
        files.flatMap { file in
            imports(file.source).filter { !allowed.contains($0) && !everywhere.contains($0) && $0 != target }.map {
                "\(target)/\(file.name): imports \($0)"
            }
        }
    }

    static func targets() throws -> [(name: String, folder: URL)] {
        let sources = Repository.root.appendingPathComponent("Sources")
        let bench = Repository.root.appendingPathComponent("bench/fleet")
        var found: [(String, URL)] = []
        for parent in [sources, bench] {
            for name in try FileManager.default.contentsOfDirectory(atPath: parent.path).sorted() {
                let folder = parent.appendingPathComponent(name)
                let swift = FileManager.default.enumerator(atPath: folder.path)?.contains {
                    ($0 as? String)?.hasSuffix(".swift") == true
                }
                if swift == true { found.append((name, folder)) }
            }
        }
        return found
    }

    static func swiftFiles(in folder: URL) throws -> [(name: String, source: String)] {
        (FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []).filter {
            $0.hasSuffix(".swift")
        }.sorted().map { ($0, try! String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8)) }
    }

    static let architecture = Repository.root.appendingPathComponent("docs/ARCHITECTURE.md")

    @Test func everyTargetImportsOnlyWhatItsRoomAllows() throws {
        let rows = Self.table(try String(contentsOf: Self.architecture, encoding: .utf8))
        #expect(rows.count >= 12, "the table in docs/ARCHITECTURE.md has a row per target")
        var problems: [String] = []
        for (target, folder) in try Self.targets() {
            guard let allowed = rows[target] else {
                problems.append("\(target): no row in docs/ARCHITECTURE.md's table; add one before the code")
                continue
            }
            problems += Self.violations(target: target, files: try Self.swiftFiles(in: folder), allowed: allowed)
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The rules the issue set, read from the table itself: NIO only in the HTTP room, CProcess
    /// only in the system and output rooms, full Foundation nowhere, and the fleet simulation on
    /// the sources and the refresh policy, not the server.
    @Test func theTableKeepsTheRoomsApart() throws {
        let rows = Self.table(try String(contentsOf: Self.architecture, encoding: .utf8))
        for (target, allowed) in rows {
            if allowed.contains(where: { $0.hasPrefix("NIO") }) { #expect(target == "InjectorHTTP", "\(target)") }
            if allowed.contains("CProcess") {
                #expect(["InjectorBase", "InjectorOutputs"].contains(target), "\(target)")
            }
            #expect(!allowed.contains("Foundation"), "\(target)")
        }
        let fleet = rows["FleetSimulation"] ?? []
        #expect(fleet.contains("InjectorSources") && fleet.contains("InjectorRefresh"))
        #expect(fleet.isDisjoint(with: ["InjectorHTTP", "InjectorState", "InjectorSidecar"]))
    }

    /// The check itself: a forbidden import is found, whatever its access modifier.
    @Test func aForbiddenImportIsFound() {
        let files = [
            (name: "A.swift", source: "import InjectorBase\npublic import NIOCore\n"),
            (name: "B.swift", source: "internal import CProcess\n@testable import InjectorHTTP\nimport Glibc\n"),
        ]
        #expect(
            Self.violations(target: "InjectorState", files: files, allowed: ["InjectorBase"]) == [
                "InjectorState/A.swift: imports NIOCore", "InjectorState/B.swift: imports CProcess",
                "InjectorState/B.swift: imports InjectorHTTP",
            ])
    }
}
