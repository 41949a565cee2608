import AWSSigning
import InjectorBase

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// One value in plain sight. It carries no part of the value: `hashedSecret` is its HMAC-SHA-256
/// under the run's key (``ScanKey``), which a dictionary of guesses cannot test without the key.
public struct Finding: Sendable, Equatable {
    /// The file as given, or relative to the working directory when it is below it.
    public var file: String
    public var line: Int
    /// The container (task definition, CloudFormation) or service (Compose); nil for a dotenv file
    /// or a Dockerfile read on its own.
    public var container: String?
    public var name: String
    public var rule: Rule
    public var hashedSecret: String

    /// What a baseline matches on (detect-secrets' workflow): a finding stays known when its line moves.
    public var baselineKey: String { "\(file)\u{0}\(name)\u{0}\(hashedSecret)" }
}

/// Bad input to `scan` or `migrate`: one line, exit 2.
public struct MigrationInputError: Error, Sendable, CustomStringConvertible, ExitStatusProviding {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: ExitStatus { .usage }
}

/// A file `scan` could not read, parse or recognise: one line naming it (and its line when there
/// is one), never any of its text. The scan goes on past it; `--strict` makes it exit 2.
public struct ScanNote: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var reason: String

    public var description: String { line.map { "\(file): line \($0): \(reason)" } ?? "\(file): \(reason)" }
}

/// A name and a literal value in one of the positions `scan` reads.
struct Candidate {
    var file: String
    var line: Int
    var container: String?
    var name: String
    var value: String
    var context: ValueContext
    /// A finding whatever the value (an `env_file` outside the scanned folders), else the rules decide.
    var rule: Rule? = nil
}

/// `scan`: walks files and folders, recognises each file, and applies ``SecretRules`` to every
/// literal value in a variable position.
public struct Scanner {
    /// Folders a walk never enters.
    static func skipsFolder(_ name: String) -> Bool {
        name == ".git" || name == "node_modules" || name.hasPrefix(".build")
    }

    enum Kind { case dockerfile, dotenv, json, yaml }

    static let sizeLimit = 16 << 20

    /// The kind a file's name says, case aside: `Dockerfile`, `dockerfile.app`, `Dockerfile-dev`,
    /// `api.Dockerfile`; `.env`, `db.env`, `.env.example`, `.env-example`, `env.example`; `*.json`,
    /// `*.yaml`, `*.yml`, and those with a template's or an example's suffix (``templateSuffixes``).
    static func kind(ofFileNamed name: String) -> Kind? {
        let lowered = name.lowercased()
        for base in ["dockerfile", "containerfile"] {
            if lowered == base || lowered.hasSuffix(".\(base)")
                || [".", "-", "_"].contains(where: { lowered.hasPrefix(base + $0) })
            {
                return .dockerfile
            }
        }
        if lowered == ".env" || lowered.hasSuffix(".env")
            || [".env.", ".env-", ".env_"].contains(where: lowered.hasPrefix)
            || ["example", "sample", "template", "dist"].contains(where: { lowered == "env.\($0)" })
        {
            return .dotenv
        }
        let parts = lowered.split(separator: ".")
        guard parts.count >= 2 else { return nil }
        let last =
            parts.count >= 3 && templateSuffixes.contains(String(parts.last!)) ? parts[parts.count - 2] : parts.last!
        switch last {
        case "json": return .json
        case "yaml", "yml": return .yaml
        default: return nil
        }
    }

    /// `task.json.tpl`, `docker-compose.yml.example`: what Terraform's `templatefile`, envsubst or a
    /// team's copy-me convention reads.
    static let templateSuffixes: Set<String> = ["tpl", "tmpl", "template", "j2", "example", "sample", "dist"]

    /// A template's name (`*.tpl`, `*.tmpl`, `*.j2`, `*.template`): its `${…}` are substituted before
    /// anyone reads it, as Compose's are.
    static func isTemplate(_ name: String) -> Bool {
        ["tpl", "tmpl", "j2", "template"].contains(String(name.lowercased().split(separator: ".").last ?? ""))
    }

    /// A JSON or YAML file met in a walk that does not parse is a note only when it looks like one of
    /// ours (its name or a key we read): a `tsconfig.json` with comments, an editor's `launch.json`
    /// or a Helm template is not worth a line.
    static func looksLikeOurs(name: String, text: String) -> Bool {
        let lowered = name.lowercased()
        if ["task-definition", "task_definition", "taskdef", "container-definitions", "container_definitions"]
            .contains(where: lowered.contains)
            || ["docker-compose", "compose.", "compose-"].contains(where: lowered.hasPrefix)
        {
            return true
        }
        return text.contains("containerDefinitions") || text.contains("AWS::ECS::TaskDefinition")
            || text.hasPrefix("services:") || text.contains("\nservices:")
    }

    let workingDirectory: String
    private(set) var candidates: [Candidate] = []
    /// Files read as a Compose service's `env_file`, so that a walk does not read them again alone.
    private var envFilesRead: Set<String> = []
    /// The folders named on the command line (a file's own folder), links resolved: no
    /// `env_file` is read outside them.
    private var roots: [String] = []

    public init(workingDirectory: String) {
        self.workingDirectory = workingDirectory.hasSuffix("/") ? workingDirectory : workingDirectory + "/"
    }

    /// The files that could not be read, parsed or recognised (``ScanNote``): the walk goes on past them.
    private(set) var notes: [ScanNote] = []

    /// Every finding under `paths`, sorted by file, line and name, and every file noted. A path that
    /// does not exist, or is neither a file nor a folder, is bad usage.
    public static func scan(_ paths: [String], workingDirectory: String, key: ScanKey) throws(MigrationInputError)
        -> (findings: [Finding], notes: [ScanNote])
    {
        var scanner = Scanner(workingDirectory: workingDirectory)
        for path in paths {
            if let root = realPath(path) {
                var status = stat()
                let isFolder = stat(root, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR
                scanner.roots.append(isFolder ? root : "/" + components(root).dropLast().joined(separator: "/"))
            }
            try scanner.visit(path, explicit: true)
        }
        return (try scanner.findings(key: key), scanner.notes)
    }

    func findings(key: ScanKey) throws(MigrationInputError) -> [Finding] {
        var byPosition: [String: Finding] = [:]
        for candidate in candidates {
            guard
                let rule = candidate.rule
                    ?? SecretRules.rule(name: candidate.name, value: candidate.value, context: candidate.context)
            else { continue }
            let hash: String
            do {
                hash = hex(try HMACSHA256.authenticationCode(key: key.bytes, data: Array(candidate.value.utf8)))
            } catch {
                throw MigrationInputError("cannot hash: \(error)")
            }
            let finding = Finding(
                file: candidate.file, line: candidate.line, container: candidate.container, name: candidate.name,
                rule: rule, hashedSecret: hash)
            let key = "\(finding.file)\u{0}\(finding.line)\u{0}\(finding.name)"
            if byPosition[key]?.container == nil { byPosition[key] = finding }
        }
        return byPosition.values.sorted { ($0.file, $0.line, $0.name) < ($1.file, $1.line, $1.name) }
    }

    // MARK: Walking

    /// How the file is shown, and what SARIF's `uri` holds: relative to the working directory
    /// (with `..` for a file outside it), the folders spelled once.
    func display(_ path: String) -> String {
        guard path.hasPrefix("/") else {
            let shown = Self.components(path).joined(separator: "/")
            return shown.isEmpty ? "." : shown
        }
        let base = Self.components(workingDirectory)
        let target = Self.components(path)
        var common = 0
        while common < base.count, common < target.count, base[common] == target[common] { common += 1 }
        let shown = (Array(repeating: "..", count: base.count - common) + target[common...].map(String.init))
            .joined(separator: "/")
        return shown.isEmpty ? "." : shown
    }

    /// The path's parts with `.` dropped and `..` applied as text (a leading `..` kept).
    static func components(_ text: String) -> [Substring] {
        var out: [Substring] = []
        for part in text.split(separator: "/") where part != "." {
            if part == "..", let last = out.last, last != ".." { out.removeLast() } else { out.append(part) }
        }
        return out
    }

    /// The path with every link resolved, or nil (errno says why).
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Where an `env_file` leads from a Compose file's folder: `.inside(path)` when that is below a
    /// scanned root and reached through no symbolic link, `.missing` when it does not exist there,
    /// `.outside` otherwise: an absolute path or one leaving the roots is not even looked at.
    enum EnvFilePlace: Equatable { case inside(String), missing, outside }

    func place(ofEnvFile reference: String, folder: String) throws(ScanNote) -> EnvFilePlace {
        guard !reference.hasPrefix("/"), let base = Self.realPath(folder.isEmpty ? "." : folder) else {
            return .outside
        }
        let lexical = "/" + Self.components(base + "/" + reference).joined(separator: "/")
        guard roots.contains(where: { lexical.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else { return .outside }
        guard let resolved = Self.realPath(lexical) else {
            if errno == ENOENT { return .missing }
            throw ScanNote(
                file: display(lexical), reason: "env_file cannot be read: \(String(cString: strerror(errno)))")
        }
        return resolved == lexical ? .inside(lexical) : .outside
    }

    mutating func visit(_ path: String, explicit: Bool) throws(MigrationInputError) {
        var status = stat()
        guard (explicit ? stat(path, &status) : lstat(path, &status)) == 0 else {
            let reason = "cannot be read: \(String(cString: strerror(errno)))"
            if explicit { throw MigrationInputError("\(display(path)): \(reason)") }
            return notes.append(ScanNote(file: display(path), reason: reason))
        }
        switch status.st_mode & S_IFMT {
        case S_IFDIR:
            guard let directory = opendir(path) else {
                return notes.append(
                    ScanNote(file: display(path), reason: "cannot be read: \(String(cString: strerror(errno)))"))
            }
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(directory)
            for name in names.sorted() {
                let child = path.hasSuffix("/") ? path + name : path + "/" + name
                var childStatus = stat()
                guard lstat(child, &childStatus) == 0 else { continue }
                switch childStatus.st_mode & S_IFMT {
                case S_IFDIR where !Self.skipsFolder(name): try visit(child, explicit: false)
                case S_IFREG where Self.kind(ofFileNamed: name) != nil: try visit(child, explicit: false)
                default: continue  // links, sockets, FIFOs and files of no kind we read
                }
            }
        case S_IFREG:
            let name = String(path.split(separator: "/").last ?? Substring(path))
            guard Int(status.st_size) <= Self.sizeLimit else {
                return notes.append(
                    ScanNote(
                        file: display(path),
                        reason: "larger than \(Self.sizeLimit >> 20) MiB, which no configuration file is: skipped"))
            }
            do throws(ScanNote) {
                try read(path, name: name, explicit: explicit)
            } catch {
                notes.append(error)
            }
        default:
            if explicit { throw MigrationInputError("\(display(path)): is not a regular file or a folder") }
        }
    }

    /// The text of a file, or a note naming it.
    func text(of path: String) throws(ScanNote) -> (bytes: [UInt8], text: String) {
        // Never waited on: a file swapped for a FIFO after the walk looked at it is refused, not read.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else {
            throw ScanNote(file: display(path), reason: "cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG, Int(status.st_size) <= Self.sizeLimit
        else {
            throw ScanNote(file: display(path), reason: "is not a regular file of at most \(Self.sizeLimit >> 20) MiB")
        }
        let bytes: [UInt8]
        do {
            bytes = try readAll(descriptor, path: path)
        } catch {
            throw ScanNote(file: display(path), reason: "cannot be read: \(String(cString: strerror(error.code)))")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ScanNote(file: display(path), line: Self.firstBadLine(bytes), reason: "is not UTF-8 text")
        }
        return (bytes, text)
    }

    static func firstBadLine(_ bytes: [UInt8]) -> Int {
        var line = 1
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            if String(validating: bytes[start...index], as: UTF8.self) == nil { return line }
            line += 1
            start = index + 1
        }
        return line
    }

    /// Reads one file by the kind its name says, or, for a file named on the command line whose
    /// name says none, by its content. What cannot be read is thrown; a dotenv line that does not
    /// parse is noted and the rest of the file read.
    mutating func read(_ path: String, name: String, explicit: Bool) throws(ScanNote) {
        let (bytes, text) = try self.text(of: path)
        let file = display(path)
        let context: ValueContext = Self.isTemplate(name) ? .interpolated : .literal
        let kind = Self.kind(ofFileNamed: name) ?? Self.kind(ofContent: bytes, text: text)
        switch kind {
        case .dockerfile: candidates += Dockerfile.variables(text, file: file)
        case .dotenv:
            guard !envFilesRead.contains(file) else { return }
            readDotenv(text, file: file, container: nil)
        case .json, .yaml:
            let documents: [Located]
            do {
                documents =
                    kind == .yaml
                    ? try Located.yaml(text)
                    : [try Located.json(context == .interpolated ? Self.withoutTemplateExpressions(bytes) : bytes)]
            } catch {
                guard explicit || Self.looksLikeOurs(name: name, text: text) else { return }
                if text.allSatisfy(\.isWhitespace) { throw ScanNote(file: file, reason: "is empty") }
                throw ScanNote(file: file, line: error.line, reason: error.reason)
            }
            let recognised = readDocuments(documents, path: path, context: context)
            if !recognised && explicit {
                throw ScanNote(
                    file: file,
                    reason:
                        "is not an ECS task definition, a CloudFormation template with an AWS::ECS::TaskDefinition, a Compose file, a dotenv file or a Dockerfile: not read"
                )
            }
        }
    }

    /// A JSON template's text with each `${…}` outside a string (Terraform's `"cpu": ${cpu}`) read
    /// as `0`, its line ends kept, so that it parses with every value on its own line.
    static func withoutTemplateExpressions(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    out += [byte, bytes[index + 1]]
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "$"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "{") {
                // Each search starts past the last expression; with no `}` left the rest is copied as
                // it is (and will not parse), so no byte is searched twice.
                guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "}")) else {
                    return out + bytes[index...]
                }
                out.append(UInt8(ascii: "0"))
                out += bytes[index...close].filter { $0 == 0x0A }
                index = close + 1
                continue
            }
            out.append(byte)
            index += 1
        }
        return out
    }

    /// What a file named on the command line holds, when its name does not say: JSON when it
    /// starts with `{` or `[`; a Dockerfile when its first instruction is `FROM` or `ARG`; dotenv
    /// when every line is a binding; else YAML.
    static func kind(ofContent bytes: [UInt8], text: String) -> Kind {
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") { return .json }
        if Dockerfile.looksLikeOne(text) { return .dockerfile }
        let dotenv = Dotenv.parse(text)
        if dotenv.unparsedLines.isEmpty, dotenv.bindings.contains(where: { $0.value != nil }) { return .dotenv }
        return .yaml
    }

    /// A dotenv file's bindings; its first line that python-dotenv could not parse is a note (a
    /// scanner that skipped it silently could miss a secret).
    mutating func readDotenv(_ text: String, file: String, container: String?) {
        let parsed = Dotenv.parse(text)
        if let line = parsed.unparsedLines.first {
            let more = parsed.unparsedLines.count - 1
            notes.append(
                ScanNote(
                    file: file, line: line,
                    reason: "not a dotenv line (NAME=value)\(more > 0 ? ", nor are \(more) more" : ""): not read"))
        }
        for binding in parsed.bindings {
            guard let value = binding.value else { continue }
            candidates.append(
                Candidate(
                    file: file, line: binding.line, container: container, name: binding.name, value: value,
                    context: .interpolated))
        }
    }

    /// Reads every document we recognise, and says whether there was one.
    mutating func readDocuments(_ documents: [Located], path: String, context: ValueContext) -> Bool {
        let file = display(path)
        var recognised = false
        for document in documents {
            if let definition = TaskDefinitionShape.containers(in: document) {
                recognised = true
                for container in definition {
                    for entry in container.node["environment"]?.elements ?? [] {
                        add(
                            entry, nameKey: "name", valueKey: "value", container: container.name, file: file,
                            context: context)
                    }
                }
            }
            if let resources = document["Resources"], case .mapping = resources {
                var hasTask = false
                for (_, resource) in resources.members where resource["Type"]?.literal == "AWS::ECS::TaskDefinition" {
                    hasTask = true
                    for container in resource["Properties"]?["ContainerDefinitions"]?.elements ?? [] {
                        for entry in container["Environment"]?.elements ?? [] {
                            add(
                                entry, nameKey: "Name", valueKey: "Value", container: container["Name"]?.literal,
                                file: file, context: context)
                        }
                    }
                }
                if hasTask {
                    recognised = true
                    // A parameter's default is a literal in the template (`DbPassword: {Default: …}`).
                    for (name, parameter) in document["Parameters"]?.members ?? [] {
                        guard let value = parameter["Default"], let text = value.literal else { continue }
                        candidates.append(
                            Candidate(
                                file: file, line: value.line, container: nil, name: name, value: text, context: context)
                        )
                    }
                }
            }
            if let services = ComposeShape.services(in: document) {
                recognised = true
                readCompose(services, path: path, file: file)
            }
        }
        return recognised
    }

    mutating func add(
        _ entry: Located, nameKey: String, valueKey: String, container: String?, file: String, context: ValueContext
    ) {
        guard let name = entry[nameKey]?.literal, let valueNode = entry[valueKey], let value = valueNode.literal else {
            return
        }
        candidates.append(
            Candidate(
                file: file, line: valueNode.line, container: container, name: name, value: value, context: context))
    }

    /// `services.*.environment` (map or list) and the `env_file`s each service names, relative to
    /// the Compose file. An `env_file` that does not exist holds nothing in plain sight here; one
    /// outside the scanned folders, or behind a link, is a finding of its own, not read.
    mutating func readCompose(_ services: Located, path: String, file: String) {
        let folder = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        for (service, definition) in services.members {
            switch definition["environment"] {
            case .mapping(let members, _)?:
                for (name, value) in members {
                    guard let text = value.literal else { continue }
                    candidates.append(
                        Candidate(
                            file: file, line: value.line, container: service, name: name, value: text,
                            context: .interpolated))
                }
            case .sequence(let elements, _)?:
                for element in elements {
                    guard let item = element.literal, let equals = item.firstIndex(of: "=") else { continue }
                    candidates.append(
                        Candidate(
                            file: file, line: element.line, container: service, name: String(item[..<equals]),
                            value: String(item[item.index(after: equals)...]), context: .interpolated))
                }
            default: break
            }
            var envFiles: [(path: String, line: Int)] = []
            switch definition["env_file"] {
            case .scalar(let text, let line, true)?: envFiles.append((text, line))
            case .sequence(let elements, _)?:
                for element in elements {
                    if let text = element.literal ?? element["path"]?.literal { envFiles.append((text, element.line)) }
                }
            default: break
            }
            for envFile in envFiles {
                do throws(ScanNote) {
                    switch try place(ofEnvFile: envFile.path, folder: folder) {
                    case .missing: continue
                    case .outside:
                        // Reported, never read: the walk follows no link and leaves no scanned folder.
                        candidates.append(
                            Candidate(
                                file: file, line: envFile.line, container: service, name: "env_file",
                                value: envFile.path, context: .literal, rule: .envFileOutside))
                    case .inside(let full):
                        let shown = display(full)
                        let (_, text) = try self.text(of: full)
                        candidates.removeAll { $0.file == shown && $0.container == nil }
                        notes.removeAll { $0.file == shown }
                        envFilesRead.insert(shown)
                        readDotenv(text, file: shown, container: service)
                    }
                } catch {
                    notes.append(error)
                }
            }
        }
    }
}

/// A task definition (register or describe form), and a bare array of container definitions (what
/// Terraform's `container_definitions = file(…)` reads): every element a mapping with an `image`.
enum TaskDefinitionShape {
    static func containers(in document: Located) -> [(name: String?, node: Located)]? {
        let definition = document["taskDefinition"] ?? document
        if case .sequence(let containers, _)? = definition["containerDefinitions"] {
            return containers.map { ($0["name"]?.literal, $0) }
        }
        guard case .sequence(let containers, _) = document, !containers.isEmpty,
            containers.allSatisfy({ $0["image"] != nil })
        else { return nil }
        return containers.map { ($0["name"]?.literal, $0) }
    }
}

/// A Compose file's services: `services:` (the Compose specification, v2 and v3), or the v1 format's
/// top level, where every key is a service with an `image`, a `build` or an `extends`.
enum ComposeShape {
    static func services(in document: Located) -> Located? {
        if let services = document["services"], case .mapping = services { return services }
        guard case .mapping(let members, _) = document, !members.isEmpty,
            members.allSatisfy({ $0.value["image"] != nil || $0.value["build"] != nil || $0.value["extends"] != nil })
        else { return nil }
        return document
    }
}

/// `ENV` and `ARG` defaults in a Dockerfile: `ENV NAME=value NAME2="v 2"`, the older `ENV NAME
/// value`, `ARG NAME=default`; lines continued with `\`, comments and empty lines inside them skipped,
/// quotes as Docker reads them. Lines end at LF or CRLF (BuildKit's line scanner); each variable
/// carries the line it is written on, a continuation line's own.
enum Dockerfile {
    static func variables(_ text: String, file: String) -> [Candidate] {
        var candidates: [Candidate] = []
        var logical = ""
        var length = 0
        /// Where each physical line of the instruction starts in `logical`, and its number.
        var starts: [(offset: Int, line: Int)] = []
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        for (index, line) in lines.enumerated() {
            let trimmed = line.drop(while: \.isWhitespace)
            if trimmed.hasPrefix("#") || trimmed.isEmpty { continue }  // also inside a continued instruction
            starts.append((length, index + 1))
            var body = line
            while let last = body.last, last == " " || last == "\t" { body = body.dropLast() }
            if body.hasSuffix("\\") {
                logical += body.dropLast() + " "
                length += body.count
                continue
            }
            logical += line
            candidates += instruction(logical, starts: starts, file: file)
            logical = ""
            length = 0
            starts = []
        }
        if !starts.isEmpty { candidates += instruction(logical, starts: starts, file: file) }
        return candidates
    }

    /// A Dockerfile's first instruction is `FROM`, or `ARG` before it (parser directives and
    /// comments aside).
    static func looksLikeOne(_ text: String) -> Bool {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let trimmed = line.drop(while: \.isWhitespace)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let keyword = trimmed.prefix(while: { !$0.isWhitespace }).uppercased()
            return (keyword == "FROM" || keyword == "ARG") && trimmed.count > keyword.count
        }
        return false
    }

    static func instruction(_ text: String, starts: [(offset: Int, line: Int)], file: String) -> [Candidate] {
        // Words come in order: the physical line of each is found by moving forward, never searched.
        var current = 0
        func line(at offset: Int) -> Int {
            while current + 1 < starts.count, starts[current + 1].offset <= offset { current += 1 }
            return starts[current].line
        }
        let words = self.words(text)
        guard let keyword = words.first?.text.uppercased(), keyword == "ENV" || keyword == "ARG" else { return [] }
        var candidates: [Candidate] = []
        if keyword == "ENV", words.count > 1, !words[1].text.contains("=") {
            // The older form: the rest of the instruction is the value.
            let rest = Array(text)[words[1].end...]
            candidates.append(
                Candidate(
                    file: file, line: line(at: words[1].start), container: nil, name: words[1].text,
                    value: String(rest).trimmingBlanks, context: .interpolated))
            return candidates
        }
        for word in words.dropFirst() {
            guard let equals = word.text.firstIndex(of: "=") else { continue }
            candidates.append(
                Candidate(
                    file: file, line: line(at: word.start), container: nil, name: String(word.text[..<equals]),
                    value: String(word.text[word.text.index(after: equals)...]), context: .interpolated))
        }
        return candidates
    }

    /// Words split at blanks, with quotes removed and `\` escapes applied, each with the offsets
    /// (in characters) where it starts and ends in `text`.
    static func words(_ text: String) -> [(text: String, start: Int, end: Int)] {
        var words: [(text: String, start: Int, end: Int)] = []
        var current = ""
        var start = 0
        var inWord = false
        var quote: Character?
        var escaped = false
        var offset = 0
        for character in text {
            defer { offset += 1 }
            if !inWord && !character.isWhitespace { start = offset }
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if character == "\\" && quote != "'" {
                escaped = true
                inWord = true
                continue
            }
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
                continue
            }
            if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append((current, start, offset)) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append((current, start, offset)) }
        return words
    }
}
