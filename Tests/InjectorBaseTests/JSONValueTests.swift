import Foundation
import TestSupport
import Testing

@testable import InjectorBase

@Suite struct JSONValueTests {
    @Test func keepsOrderAndNumbersAsWritten() throws {
        let value = try JSONValue.parse(
            #" {"b": 1, "a": 5432, "c": 1.50e+3, "d": [true, false, null], "e": {"x": "y"}} "#)
        #expect(value.keys == ["b", "a", "c", "d", "e"])
        #expect(value["a"] == .number("5432"))
        #expect(value["c"]?.text == "1.50e+3")
        #expect(value.serialized == #"{"b":1,"a":5432,"c":1.50e+3,"d":[true,false,null],"e":{"x":"y"}}"#)
        #expect(value["missing"] == nil)
        #expect(JSONValue.string("x")["a"] == nil)
    }

    @Test func decodesEveryEscape() throws {
        let value = try JSONValue.parse(#"{"s": "q\" b\\ s\/ \b\f\n\r\t \u00fc \ud83d\ude00 \u0001"}"#)
        #expect(value["s"] == .string("q\" b\\ s/ \u{08}\u{0C}\n\r\t ü 😀 \u{01}"))
        // And writes them back so that a JSON parser reads the same string.
        let reparsed = try JSONSerialization.jsonObject(with: Data(value.serialized.utf8)) as? [String: String]
        #expect(reparsed?["s"] == "q\" b\\ s/ \u{08}\u{0C}\n\r\t ü 😀 \u{01}")
    }

    @Test(arguments: [
        "", "{", "{\"a\" 1}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "\"\\x\"", "\"\u{01}\"", "tru", "{\"a\":1} x",
        "\"\\ud800\"", "{'a':1}",
    ])
    func rejectsInvalidDocumentsWithoutQuotingThem(_ text: String) {
        let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
        #expect(error?.description.contains("byte") == true)
    }

    @Test func limitsNesting() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: "[", count: 10_000)) }
        #expect((try? JSONValue.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100))) != nil)
    }

    @Test func agreesWithFoundationOnRandomDocuments() throws {
        var random = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        let seed = random.state
        for _ in 0..<300 {
            let object = randomJSON(&random, depth: 0)
            let data = try JSONSerialization.data(withJSONObject: ["k": object], options: [.fragmentsAllowed])
            let ours = try JSONValue.parse(Array(data))
            let back =
                try JSONSerialization.jsonObject(with: Data(ours.serialized.utf8), options: [.fragmentsAllowed])
                as? NSDictionary
            let original = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? NSDictionary
            #expect(back == original, "seed \(seed)")
        }
    }

    func randomJSON(_ random: inout SplitMix64, depth: Int) -> Any {
        switch random.next() % (depth > 3 ? 4 : 6) {
        case 0: return Int(truncatingIfNeeded: random.next() % 1_000_000) - 500_000
        case 1:
            return ["", "plain", "quote\"back\\slash", "line\nbreak\ttab", "ü日本😀", "\u{01}\u{1F}"][
                Int(random.next() % 6)]
        case 2: return random.next() % 2 == 0
        case 3: return NSNull()
        case 4: return (0..<Int(random.next() % 4)).map { _ in randomJSON(&random, depth: depth + 1) }
        default:
            var object: [String: Any] = [:]
            for index in 0..<Int(random.next() % 4) {
                object["key\(index)\(["", "é", " ", "\""][Int(random.next() % 4)])"] = randomJSON(
                    &random, depth: depth + 1)
            }
            return object
        }
    }
}
