import Foundation
import InjectorBase
import TestSupport
import Testing

@testable import InjectorOutputs

@Suite struct TemplateTests {
    let database = SecretContent(
        bytes: Array(
            #"{"username":"pp app","password":"p@ss:w/rd?#1 ü","host":"db","port":5432,"opts":{"ssl":true},"hosts":["a","b"]}"#
                .utf8), isBinary: false)

    func render(_ source: String) throws -> String {
        let template = try Template(parsing: source)
        return String(decoding: try template.render { $0 == "database" ? database : nil }, as: UTF8.self)
    }

    @Test func substitutesPathsAndFilters() throws {
        #expect(
            try render(
                "postgresql://{{ database.username | urlencode }}:{{ database.password | urlencode }}@{{ database.host }}:{{database.port}}/x"
            )
                == "postgresql://pp%20app:p%40ss%3Aw%2Frd%3F%231%20%C3%BC@db:5432/x")
        #expect(
            try render("{{ database.opts }} {{ database.opts.ssl }} {{ database.hosts.1 }}") == #"{"ssl":true} true b"#)
        #expect(try render("{{ database.host | base64 }}|{{ database.host | base64 | base64decode }}") == "ZGI=|db")
        #expect(try render("{{ database.username | json }}") == #""pp app""#)
        #expect(try render("{{ database.username | shell }}") == "'pp app'")
        #expect(try render("{{ database.password | dotenv }}") == "'p@ss:w/rd?#1 ü'")
        #expect(try render("no expressions") == "no expressions")
        #expect(try render("{{ database }}") == String(decoding: database.bytes, as: UTF8.self))
    }

    @Test func missingKeysAreErrorsNamingAliasAndKeyNeverEmptyStrings() throws {
        let template = try Template(parsing: "X={{ database.pasword }}")
        #expect(throws: RenderError.missingKey(alias: "database", key: "database.pasword")) {
            try template.render { _ in database }
        }
        #expect(
            RenderError.missingKey(alias: "database", key: "database.pasword").message(output: "template app.env")
                == "template app.env: secret \"database\" has no key \"database.pasword\"")
        let nested = try Template(parsing: "{{ database.opts.missing.deeper }}")
        #expect(throws: RenderError.missingKey(alias: "database", key: "database.opts.missing")) {
            try nested.render { _ in database }
        }
        let binary = SecretContent(bytes: [0, 1], isBinary: true)
        #expect(throws: RenderError.notJSON(alias: "database")) {
            try Template(parsing: "{{ database.k }}").render { _ in binary }
        }
        #expect(throws: RenderError.filter(.base64decode, path: "database.host", reason: "not valid base64")) {
            try Template(parsing: "{{ database.host | base64decode }}").render { _ in database }
        }
    }

    @Test(arguments: ["{{ }}", "{{ a. }}", "{{ a..b }}", "{{ a b }}", "{{ a | }}", "{{ a | upper }}", "x {{ a"])
    func syntaxErrors(_ source: String) {
        #expect(throws: TemplateSyntaxError.self) { try Template(parsing: source) }
    }

    @Test func aliasesInOrder() throws {
        #expect(try Template(parsing: "{{ b.x }}{{ a }}{{ b.y }}").aliases == ["b", "a"])
    }
}

@Suite struct FilterTests {
    static let punctuation = (0x20...0x7E).map { String(UnicodeScalar(UInt8($0))) }.joined()

    func randomStrings(_ count: Int) -> [String] {
        var random = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        let pool = Array(Self.punctuation) + ["\n", "\t", "é", "ü", "日", "本", "😀", "\u{7F}", "\u{1}", "'", "\""]
        return [Self.punctuation, "", "'", "\"\\$`"]
            + (0..<count).map { _ in
                String((0..<Int(random.next() % 40)).map { _ in pool[Int(random.next() % UInt64(pool.count))] })
            }
    }

    @Test func urlencodeKeepsOnlyUnreservedAndDecodesBack() {
        #expect(TemplateFilters.urlencode(Array("AZaz09-._".utf8)) == "AZaz09-._")
        #expect(TemplateFilters.urlencode(Array(" !/:@~".utf8)) == "%20%21%2F%3A%40%7E")
        for text in randomStrings(500) {
            let encoded = TemplateFilters.urlencode(Array(text.utf8))
            #expect(encoded.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._%".contains($0)) })
            #expect(encoded.removingPercentEncoding == text, "\(text.debugDescription)")
        }
    }

    /// A URL built with `| urlencode` is safe outside quotes in a dotenv file whatever the password
    /// (a rotation function's punctuation, `~` included): no rotated value is refused.
    @Test func urlencodedValuesAreAdmittedOutsideQuotes() {
        let every = (0...255).map { UInt8($0) }
        #expect(DotenvContext.unquoted.admits(Array(TemplateFilters.urlencode(every).utf8)))
        for text in randomStrings(300) {
            #expect(DotenvContext.unquoted.admits(Array(TemplateFilters.urlencode(Array(text.utf8)).utf8)))
        }
    }

    @Test func jsonAndBase64RoundTrip() throws {
        for text in randomStrings(300) {
            let literal = try Template.Filter.json.apply(Array(text.utf8), path: "p")
            #expect(
                try JSONSerialization.jsonObject(with: Data(literal), options: .fragmentsAllowed) as? String == text)
            let encoded = try Template.Filter.base64.apply(Array(text.utf8), path: "p")
            #expect(try Template.Filter.base64decode.apply(encoded, path: "p") == Array(text.utf8))
        }
    }

    @Test func shellQuotingRoundTripsThroughSh() async throws {
        let texts = randomStrings(60).filter { !$0.contains("\u{0}") }
        let script = texts.map {
            "printf '%s\\0' " + String(decoding: TemplateFilters.shellQuoted(Array($0.utf8)), as: UTF8.self)
        }.joined(separator: "\n")
        let result = try await run("/bin/sh", ["-c", script], environment: [:])
        #expect(result.status == 0)
        let printed = result.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(printed == texts)
    }

    @Test(.enabled(if: pythonHasModule("dotenv"), "python-dotenv is not installed"))
    func dotenvRoundTripsThroughPythonDotenv() async throws {
        // python-dotenv's reader cannot take a double-quoted value ending in a backslash (its
        // regex reads `\\"` as an escaped quote); docs/outputs.md notes it. `${` is its interpolation.
        let texts = randomStrings(200).filter { !$0.contains("\u{0}") && !$0.contains("${") && !$0.hasSuffix("\\") }
        var file = ""
        for (index, text) in texts.enumerated() {
            file +=
                "V\(index)=" + String(decoding: DotenvQuoting.quote(Array(text.utf8)).text, as: UTF8.self) + "\n"
        }
        let script =
            "import json,sys,io; from dotenv import dotenv_values; print(json.dumps(dotenv_values(stream=io.StringIO(sys.stdin.read()), interpolate=False)))"
        let result = try await run(
            "/usr/bin/env", ["python3", "-c", script], environment: ProcessInfo.processInfo.environment,
            input: Data(file.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let values = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String] ?? [:]
        for (index, text) in texts.enumerated() { #expect(values["V\(index)"] == text, "\(text.debugDescription)") }
    }

    /// In a dotenv file each expression is held to the quotes the text before it leaves open.
    @Test func dotenvTemplatesHoldEachValueToItsQuotes() throws {
        func render(_ source: String, _ value: String) throws(RenderError) -> String {
            let content = SecretContent(bytes: Array(value.utf8), isBinary: false)
            let template = try! Template(parsing: source, dotenv: true)
            return String(decoding: try template.render { _ in content }, as: UTF8.self)
        }
        let cases: [(source: String, admitted: [String], refused: [String])] = [
            (
                "A=\"x{{ s }}\"\n", ["db.example.com", "it's a b#c", "[::1]"],
                ["a\"b", "a$(id)", "a`id`", "a\\b", "a\nB=1"]
            ),
            ("A='{{ s }}'\n", ["a\"b$(id)`x`"], ["a'b", "a\\b", "a\rb"]),
            ("A={{ s }}\n", ["db.example.com:5432", "user@host/p%20"], ["a b", "a;id", "a&id", "a#b", "a'b", "a|b"]),
            // A quote closed before the expression, an escaped quote, and a comment's own quote.
            ("# it's\nA=\"a\\\"b\"{{ s }}\n", ["ok"], ["a b"]),
            // A quote in a trailing comment opens nothing: the next line's value is outside quotes.
            ("PORT=8080 # the app's port\nB={{ s }}\n", ["x"], ["x;touch p", "x'y"]),
            ("SCREEN=27 # a 27\" screen\nB={{ s }}\n", ["x"], ["x; touch p"]),
            ("A=a#b\nB='{{ s }}'\n", ["x y"], ["x'y"]),
            // A quote after a `#` inside a word opens quotes, as sh reads it: the next line's value is not in them.
            ("A=a#b'\nB='{{ s }}'\n", ["x"], ["x y"]),
            // A backslash before an expression escapes its first byte, not the quote after it.
            ("A=\"C:\\{{ s }}\"\nB={{ s }}\n", ["data"], ["x;touch p"]),
            // sh expands ~ after = outside quotes; C1 controls are held like C0.
            ("A={{ s }}\n", ["a-b"], ["~root", "a\u{85}b", "a\u{9B}31m"]),
        ]
        for (source, admitted, refused) in cases {
            for value in admitted { #expect(try render(source, value).contains(value), "\(source) \(value)") }
            for value in refused {
                #expect(throws: RenderError.self, "\(source) \(value)") { try render(source, value) }
            }
        }
        // Inside quotes, a filter's own quotes are held like any value: `"{{ v | dotenv }}"` would
        // give sh `"'$(id)'"`, which runs; a shell-quoted value may not carry a quote and a line break
        // into a dotenv file, where python-dotenv would read a second variable.
        #expect(throws: RenderError.self) { try render("A=\"{{ s | dotenv }}\"\n", "$(id)") }
        #expect(throws: RenderError.self) { try render("A={{ s | shell }}\n", "x'\nB=evil #") }
        #expect(try render("A={{ s | shell }}\n", "two\nlines") == "A='two\nlines'\n")
        // `| dotenv` and `| shell` bring quotes of their own; `| plain` refuses quotes anywhere.
        #expect(try render("A={{ s | dotenv }}\n", "a b$c") == "A='a b$c'\n")
        #expect(try render("A={{ s | shell }}\n", "it's") == "A='it'\\''s'\n")
        #expect(throws: RenderError.self) { try render("A=\"{{ s | plain }}\"\n", "it's") }
        // Not a dotenv file: nothing is held.
        #expect(
            try Template(parsing: "A={{ s }}").render { _ in SecretContent(bytes: Array("a b".utf8), isBinary: false) }
                == Array("A=a b".utf8))
        // check's warning: the expressions without a filter that makes them safe.
        let template = try Template(
            parsing: "A=\"{{ s.a }}\"\nB={{ s.b | urlencode }}\nC={{ s.c | json }}\n{{ s.whole }}", dotenv: true)
        #expect(template.unfilteredInDotenv.map(\.path) == ["s.a", "s.c", "s.whole"])
        #expect(Template.isDotenvFile("APP.ENV") && Template.isDotenvFile(".envrc"))
        #expect(
            Template.isDotenvFile("app.env") && Template.isDotenvFile("x/.env.prod")
                && !Template.isDotenvFile("env.json"))
    }

    /// `default(alias.key)` and `default("text")`: the first key present, before the filters.
    @Test func defaultTakesTheFirstKeyPresent() throws {
        let legacy = SecretContent(bytes: Array(#"{"database":"pp prod","port":"5432"}"#.utf8), isBinary: false)
        func render(_ source: String) throws -> String {
            String(decoding: try Template(parsing: source).render { $0 == "db" ? legacy : nil }, as: UTF8.self)
        }
        #expect(try render("{{ db.dbname | default(db.database) | urlencode }}") == "pp%20prod")
        #expect(
            try render("{{ db.port | default(\"3306\") }}/{{ db.engine | default(\"postgres\") }}") == "5432/postgres")
        #expect(try render("{{ db.x | default(db.y) | default(db.database) }}") == "pp prod")
        #expect(throws: RenderError.missingKey(alias: "db", key: #"db.x" nor "db.y"#)) {
            try render("{{ db.x | default(db.y) }}")
        }
        #expect(try Template(parsing: "{{ a.x | default(b.y) }}").aliases == ["a", "b"])
        for bad in ["{{ a.x | urlencode | default(a.y) }}", "{{ a.x | default() }}", "{{ a.x | default(a..y) }}"] {
            #expect(throws: TemplateSyntaxError.self, "\(bad)") { try Template(parsing: bad) }
        }
    }
}
