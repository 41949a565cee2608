import Foundation
import InjectorBase
import TestSupport
import Testing

@testable import InjectorOutputs

@Suite struct GenerationWriterTests {
    let directory = temporaryDirectory()
    var writer: GenerationWriter { GenerationWriter(directory: directory) }

    func file(_ path: String, _ text: String, mode: UInt16 = 0o440) -> OutputFile {
        OutputFile(path: path, bytes: Array(text.utf8), mode: FileMode(mode), owner: Ownership())
    }

    func read(_ path: String) -> String? { try? String(contentsOfFile: "\(directory)/\(path)", encoding: .utf8) }
    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted() }
    func inode(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: "\(directory)/\(path)"))?[.systemFileNumber] as? UInt64)
            ?? 0
    }

    @Test func commitsThroughDataLinkWithModesAndVisibleLinks() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outcome = try writer.commit([file("a.json", "A1"), file("sub/b.txt", "B1", mode: 0o400)])
        guard case .committed(let generation) = outcome else { Issue.record("not committed"); return }
        #expect(names() == [generation, "..data", "a.json", "sub"].sorted())
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/..data") == generation)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/a.json") == "..data/a.json")
        #expect(read("a.json") == "A1")
        #expect(read("sub/b.txt") == "B1")
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(directory)/..data/sub/b.txt")
        #expect((attributes[.posixPermissions] as? Int) == 0o400)
        let folder = try FileManager.default.attributesOfItem(atPath: "\(directory)/\(generation)")
        #expect((folder[.posixPermissions] as? Int) == 0o750)
    }

    @Test func unchangedSetsAreNotRewrittenAndUnchangedFilesAreLinked() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard case .committed(let first) = try writer.commit([file("a", "A"), file("b", "B")]) else { return }
        let inodeA = inode("..data/a")
        #expect(try writer.commit([file("b", "B"), file("a", "A")]) == .unchanged(generation: first))
        guard case .committed(let second) = try writer.commit([file("a", "A"), file("b", "B2")]) else {
            Issue.record("not committed"); return
        }
        #expect(second != first)
        #expect(inode("..data/a") == inodeA, "unchanged file hard-linked, not rewritten")
        #expect(read("b") == "B2")
        #expect(!names().contains(first), "old generation removed")
        // A mode change alone is a change.
        guard case .committed = try writer.commit([file("a", "A", mode: 0o400), file("b", "B2")]) else {
            Issue.record("mode change not committed"); return
        }
    }

    @Test func removedOutputsLoseTheirVisibleLink() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try writer.commit([file("a", "A"), file("gone/x", "X")])
        _ = try writer.commit([file("a", "A")])
        #expect(!names().contains("gone"))
        #expect(read("a") == "A")
    }

    @Test func crashLeftoversAreCleanedAndOtherNamesKept() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard case .committed(let generation) = try writer.commit([file("a", "A")]) else { return }
        try FileManager.default.createDirectory(
            atPath: "\(directory)/..2020_01_01_00_00_00.000000001", withIntermediateDirectories: false)
        try "partial".write(
            toFile: "\(directory)/..2020_01_01_00_00_00.000000001/a", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: "\(directory)/..data_tmp", withDestinationPath: "..2020_01_01_00_00_00.000000001")
        try "".write(toFile: "\(directory)/.ready", atomically: false, encoding: .utf8)
        try writer.cleanUp()
        #expect(names() == [generation, "..data", ".ready", "a"].sorted())
    }

    @Test func aForeignFileInTheWayIsAnErrorAndTheOldGenerationStays() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard case .committed(let generation) = try writer.commit([file("a", "A")]) else { return }
        try "mine".write(toFile: "\(directory)/b", atomically: false, encoding: .utf8)
        let error = #expect(throws: FileSystemError.self) { try writer.commit([file("a", "A2"), file("b", "B")]) }
        #expect(error?.description.contains("\(directory)/b") == true)
        #expect(read("b") == "mine")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/..data") == generation)
        #expect(read("a") == "A")
        #expect(names() == [generation, "..data", "a", "b"].sorted())
    }

    @Test func aFailedWriteLeavesTheCurrentGenerationAndNoLeftovers() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        guard case .committed(let generation) = try writer.commit([file("a", "A")]) else { return }
        // A name longer than NAME_MAX fails at open(2), after the new folder was made — even as root.
        let error = #expect(throws: FileSystemError.self) {
            try writer.commit([file("a", "A2"), file(String(repeating: "n", count: 300), "N")])
        }
        #expect(error?.description.contains("File name too long") == true)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/..data") == generation)
        #expect(read("a") == "A")
        #expect(names() == [generation, "..data", "a"].sorted(), "the half-written generation is removed")
    }

    @Test func aFolderThatCannotBeMadeIsAnError() throws {
        let parent = temporaryDirectory()
        try "not a folder".write(toFile: parent, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let error = #expect(throws: FileSystemError.self) {
            try GenerationWriter(directory: "\(parent)/out").commit([file("a", "A")])
        }
        #expect(error?.description.contains("\(parent)/out") == true)
    }

    @Test func theOutputFolderMustBeOursAndWritableByNoOneElse() {
        func problem(uid: UInt32 = 10001, gid: UInt32 = 1000, mode: UInt32, group: UInt32? = 1000) -> String? {
            OutputFolderPolicy.problem(
                uid: uid, gid: gid, mode: mode, path: "/run/secrets", outputGroup: group, ourUID: 10001)
        }
        #expect(problem(mode: 0o40750) == nil, "a tmpfs of mode 0750, ours")
        #expect(problem(uid: 0, gid: 0, mode: 0o40755) == nil, "root's, not writable by others")
        #expect(problem(mode: 0o41777) == nil, "sticky, like /tmp")
        #expect(problem(mode: 0o40770) == nil, "group-writable by the outputs' group on our folder")
        #expect(problem(mode: 0o40770, group: 2000)?.contains("writable by group 1000 (mode 0770)") == true)
        #expect(
            problem(uid: 0, mode: 0o40770)?.contains("writable by group") == true, "the group rule needs our folder")
        #expect(problem(mode: 0o40777)?.contains("writable by every user (mode 0777)") == true)
        #expect(problem(uid: 1000, mode: 0o40750)?.hasPrefix("outputDir /run/secrets is owned by uid 1000") == true)
    }

    @Test func onlyOurOwnGenerationNamesAreGenerations() {
        #expect(GenerationWriter.isGenerationName(GenerationWriter.newGenerationName()))
        for name in [
            "..data", "..2026", "../victim", "..2026_11_29_00_33_51.25272560x", "..2026_11_29_00_33_51_252725602",
        ] {
            #expect(!GenerationWriter.isGenerationName(name), "\(name)")
        }
    }
}

/// Generation folders are always the injector's; readers get in through the group or the mode.
@Suite struct GenerationFolderSettingsTests {
    static func file(uid: UInt32? = nil, gid: UInt32? = nil, mode: UInt16 = 0o440) -> OutputFile {
        OutputFile(path: "f", bytes: [], mode: FileMode(mode), owner: Ownership(uid: uid, gid: gid))
    }

    @Test func theFoldersGetTheCommonGroupOrAModeEveryReaderGetsThrough() {
        let other = geteuid() == 1000 ? UInt32(1001) : 1000
        #expect(GenerationWriter.directorySettings(for: [Self.file(), Self.file()]) == (0o750, nil))
        #expect(
            GenerationWriter.directorySettings(for: [Self.file(uid: other, gid: 1000), Self.file(gid: 1000)])
                == (0o750, 1000))
        #expect(GenerationWriter.directorySettings(for: [Self.file(uid: other)]) == (0o755, nil), "no common group")
        #expect(
            GenerationWriter.directorySettings(for: [Self.file(gid: 1000), Self.file(gid: 2000)]) == (0o755, nil),
            "two groups: neither could go through a 0750 folder")
        #expect(GenerationWriter.directorySettings(for: [Self.file(mode: 0o444)]) == (0o755, nil))
    }
}
