import AWSSigning
import InjectorBase

/// `scan`'s three formats and its baseline. None holds a value or any part of one.
public enum ScanReport {
    public enum Format: String, Sendable, CaseIterable {
        case text, json, sarif
    }

    /// The report. Notes are on standard error in every format (the caller writes them); JSON and
    /// SARIF carry them too, so that an uploaded report says which files were not read.
    public static func render(
        _ findings: [Finding], notes: [ScanNote] = [], strict: Bool = false, format: Format, version: String
    ) -> String {
        switch format {
        case .text: text(findings)
        case .json: json(findings, notes: notes).serialized.escapingControls(c0: false) + "\n"
        case .sarif:
            sarif(findings, notes: notes, strict: strict, version: version).serialized.escapingControls(c0: false)
                + "\n"
        }
    }

    static func text(_ findings: [Finding]) -> String {
        var out = ""
        for finding in findings {
            let container = finding.container.map { " (\($0.escapingControls()))" } ?? ""
            out +=
                "\(finding.file.escapingControls()):\(finding.line): \(finding.name.escapingControls())\(container): \(finding.rule.rawValue)\n"
        }
        let files = Set(findings.map(\.file)).count
        out +=
            findings.isEmpty
            ? "no secret in plain sight\n"
            : "\(findings.count) secret\(findings.count == 1 ? "" : "s") in plain sight in \(files) file\(files == 1 ? "" : "s")\n"
        return out
    }

    static func object(_ finding: Finding) -> JSONValue {
        .fields([
            "file": .string(finding.file), "line": .number(String(finding.line)),
            "container": finding.container.map(JSONValue.string) ?? .null, "name": .string(finding.name),
            "rule": .string(finding.rule.rawValue), "hashedSecret": .string(finding.hashedSecret),
        ])
    }

    static func json(_ findings: [Finding], notes: [ScanNote]) -> JSONValue {
        let notes = notes.map { note in
            JSONValue.fields([
                "file": .string(note.file), "line": note.line.map { .number(String($0)) } ?? .null,
                "message": .string(note.reason),
            ])
        }
        return .fields(["findings": .array(findings.map(object)), "notes": .array(notes)])
    }

    /// A file and, when known, a line, as SARIF locates them.
    static func location(file: String, line: Int?) -> JSONValue {
        var physical = [
            JSONValue.Member(
                key: "artifactLocation",
                value: .fields(["uri": .string(uriReference(file)), "uriBaseId": .string("%SRCROOT%")]))
        ]
        if let line {
            physical.append(JSONValue.Member(key: "region", value: .fields(["startLine": .number(String(line))])))
        }
        return .fields(["physicalLocation": .object(physical)])
    }

    // MARK: SARIF 2.1.0, as GitHub code scanning takes it

    static let sarifSchema =
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

    static func sarif(_ findings: [Finding], notes: [ScanNote], strict: Bool, version: String) -> JSONValue {
        let rules = Rule.allCases.map { rule in
            JSONValue.fields([
                "id": .string(rule.rawValue), "name": .string(rule.rawValue),
                "shortDescription": .fields(["text": .string(rule.summary)]),
                "fullDescription": .fields([
                    "text": .string(
                        rule == .envFileOutside
                            ? "\(rule.summary): scan reads only the folders it is given, and follows no link."
                            : "\(rule.summary) in plain text. Move it to Secrets Manager: secrets-injector migrate.")
                ]),
                "defaultConfiguration": .fields(["level": .string("error")]),
                // GitHub code scanning requires `help.text` and shows it beside each alert; its
                // `security` tag is what its filters and default views look for.
                "help": .fields(["text": .string(help(rule)), "markdown": .string(help(rule))]),
                "properties": .fields(["tags": .array([.string("security"), .string("secrets")])]),
            ])
        }
        let results = findings.map { finding in
            let container = finding.container.map { " in \($0)" } ?? ""
            let message =
                finding.rule == .envFileOutside
                ? "\(finding.name)\(container) names a file outside the scanned folders or behind a link: not read."
                : "\(finding.name)\(container) holds a secret in plain text (\(finding.rule.summary.lowercasedFirst))."
            let location = location(file: finding.file, line: finding.line)
            // Stable across commits and runs (each run without a baseline has a key of its own): the
            // file, the name and the rule, not the line.
            let fingerprint =
                (try? SHA256.hexHash(Array("\(finding.file)\u{0}\(finding.name)\u{0}\(finding.rule.rawValue)".utf8)))
                ?? finding.rule.rawValue
            return JSONValue.fields([
                "ruleId": .string(finding.rule.rawValue),
                "ruleIndex": .number(String(Rule.allCases.firstIndex(of: finding.rule)!)),
                "level": .string("error"), "message": .fields(["text": .string(message)]),
                "locations": .array([location]),
                "partialFingerprints": .fields(["secretsInjector/v1": .string(fingerprint)]),
            ])
        }
        let driver = JSONValue.fields([
            "name": .string("secrets-injector"), "semanticVersion": .string(version),
            "informationUri": .string("https://github.com/pipeline-pulse/secrets-injector"), "rules": .array(rules),
        ])
        // SARIF §3.20 (invocation): a file not read is a tool execution notification, at level
        // `warning`, or `error` when --strict makes it fail the run.
        let notifications = notes.map { note in
            JSONValue.fields([
                "level": .string(strict ? "error" : "warning"), "message": .fields(["text": .string(note.reason)]),
                "locations": .array([location(file: note.file, line: note.line)]),
            ])
        }
        let invocation = JSONValue.fields([
            "executionSuccessful": .bool(!(strict && !notes.isEmpty)),
            "toolExecutionNotifications": .array(notifications),
        ])
        return .fields([
            "$schema": .string(sarifSchema), "version": .string("2.1.0"),
            "runs": .array([
                .fields([
                    "tool": .fields(["driver": driver]), "invocations": .array([invocation]),
                    // Every `uri` is relative to `%SRCROOT%`, the folder scan ran in; SARIF wants
                    // the base declared. Its absolute URI is left out (allowed when unknown to the
                    // reader): a report holds no path of the machine that wrote it, and stays the
                    // same from one checkout to another.
                    "originalUriBaseIds": .fields([
                        "%SRCROOT%": .fields([
                            "description": .fields([
                                "text": .string(
                                    "The folder scan ran in (the repository's root in CI): every file is relative to it."
                                )
                            ])
                        ])
                    ]),
                    "columnKind": .string("unicodeCodePoints"), "results": .array(results),
                ])
            ]),
        ])
    }

    /// A rule's help, as GitHub shows it beside an alert (plain text that reads as Markdown too).
    static func help(_ rule: Rule) -> String {
        if rule == .envFileOutside {
            return
                "scan reads a Compose env_file only inside the folders it was given and through no symbolic link, so that a Compose file cannot make it read files elsewhere on the runner. Move the file beside the Compose file, or scan the folder that holds it."
        }
        return
            "\(rule.summary) is in plain text in a file of the repository: whoever reads the repository, its history or the ECS API reads it. Rotate it (it stays in the history), keep the new value in AWS Secrets Manager and reference it instead (secrets-injector migrate writes the plan). A finding that is no secret is kept quiet by a baseline: secrets-injector scan --baseline .secrets-baseline.json --update-baseline."
    }

    /// A relative path as a URI reference: every byte outside RFC 3986's unreserved set and `/`
    /// percent-encoded.
    static func uriReference(_ path: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in path.utf8 {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2D, 0x2E, 0x5F, 0x7E, 0x2F: out.append(byte)
            default: out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Baselines

    /// The key and the known findings of a baseline file that `scan --update-baseline` wrote.
    public static func baseline(_ bytes: [UInt8], file: String) throws(InputError) -> (
        key: ScanKey, known: Set<String>
    ) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw InputError("\(file): not a baseline: \(error)")
        }
        guard case .array(let entries)? = document["findings"] else {
            throw InputError("\(file): not a baseline: no \"findings\" array")
        }
        guard case .string(let text)? = document["hashKey"], let key = ScanKey(text) else {
            throw InputError(
                "\(file): a baseline of unsalted hashes (or no \"hashKey\"): write it again with scan --baseline \(file) --update-baseline, and review what it records"
            )
        }
        var keys: Set<String> = []
        for (index, entry) in entries.enumerated() {
            guard case .string(let path)? = entry["file"], case .string(let name)? = entry["name"],
                case .string(let hash)? = entry["hashedSecret"]
            else {
                throw InputError("\(file): findings[\(index)] needs \"file\", \"name\" and \"hashedSecret\"")
            }
            keys.insert("\(path)\u{0}\(name)\u{0}\(hash)")
        }
        return (key, keys)
    }

    /// A baseline: the JSON format's findings, one per line, so that a review reads its diff.
    public static func baseline(_ findings: [Finding], key: ScanKey, version: String) -> String {
        var out = "{\n  \"generatedBy\": \"secrets-injector \(version) scan --update-baseline\",\n"
        out += "  \"hashKey\": \"\(key.text)\",\n  \"findings\": ["
        for (index, finding) in findings.enumerated() {
            out += (index == 0 ? "\n    " : ",\n    ") + object(finding).serialized.escapingControls(c0: false)
        }
        return out + (findings.isEmpty ? "]\n}\n" : "\n  ]\n}\n")
    }
}

/// The key of `hashedSecret`'s HMAC-SHA-256: 32 random bytes as 64 hex digits, whose text is the
/// key. A baseline keeps its own (`hashKey`), so that its findings match run after run; a run
/// without one makes a new key, so that the hashes it prints match no dictionary.
public struct ScanKey: Sendable {
    public let text: String
    var bytes: [UInt8] { Array(text.utf8) }

    public init?(_ text: String) {
        guard text.utf8.count == 64, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else { return nil }
        self.text = text
    }

    /// A new key from the system's random source (getrandom).
    public static func random() -> ScanKey {
        var generator = SystemRandomNumberGenerator()
        return ScanKey(hex((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }))!
    }
}

extension String {
    var lowercasedFirst: String { isEmpty ? self : prefix(1).lowercased() + dropFirst() }
}
