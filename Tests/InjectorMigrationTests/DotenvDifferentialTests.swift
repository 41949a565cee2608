import Foundation
import InjectorOutputs
import TestSupport
import Testing

@testable import InjectorMigration

/// `scan`'s dotenv reader against python-dotenv's own parser (`dotenv.parser.parse_stream`, with
/// `interpolate=False`): the same names and values for texts that lean on every corner of
/// its grammar. (Lines differ by design: python-dotenv counts a binding from the blank lines
/// before it, `scan` reports the line of its name.)
@Suite(.enabled(if: pythonHasModule("dotenv"), "python-dotenv is not installed"))
struct DotenvDifferentialTests {
    static let texts = [
        "A=1\nB='two'\nC=\"three\"\n",
        "export A=1\nexport  B = spaced value   # comment\n",
        "A='it\\'s'\nB=\"say \\\"hi\\\"\"\nC='back\\\\slash'\nD=\"tab\\there\\nnewline\"\n",
        "A=\"multi\nline\"\nB='also\nmulti'\nC=after\n",
        "# only a comment\n\n\nA=after blank lines\n",
        "A=#not a comment\nB=value#tight\nC=value #loose\n",
        "KEY_WITHOUT_VALUE\nA=\nB=''\nC=\"\"\n",
        "'QUOTED KEY'=v\nA.B-C=x\n",
        "A=ünïcode 日本\n\u{FEFF}B=bom?\n",
        "A=\"unterminated\nB=next\n",
        "A='ends with backslash\\'\nB=\"x\"\n",
        "A=1\r\nB=2\rC=3\n",
        "A=\"x\" trailing\nB=y\n",
        "=novalue\nA=ok\n",
        "A=\"a\\'b\\qc\"\n",
    ]

    @Test func ourReaderAgreesWithPythonDotenv() async throws {
        let script = """
            import json, sys
            from dotenv.parser import parse_stream
            import io
            texts = json.load(sys.stdin)
            out = []
            for text in texts:
                out.append([[b.key, b.value, b.original.line] for b in parse_stream(io.StringIO(text)) if b.key is not None])
            print(json.dumps(out))
            """
        let input = try JSONSerialization.data(withJSONObject: Self.texts)
        let result = try await run(
            "/usr/bin/env", ["python3", "-c", script],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"], input: input)
        try #require(result.status == 0, "\(result.stderr)")
        let theirs = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [[[Any]]]
        for (text, expected) in zip(Self.texts, theirs) {
            let ours = Dotenv.parse(text).bindings
            #expect(ours.map(\.name) == expected.map { $0[0] as! String }, "\(text.debugDescription)")
            #expect(ours.map(\.value) == expected.map { $0[1] as? String }, "\(text.debugDescription)")
        }
    }
}
