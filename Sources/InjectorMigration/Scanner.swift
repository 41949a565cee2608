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

    static func kind(ofFileNamed name: String) -> Kind? {
        if name == "Dockerfile" || name == "Containerfile" || name.hasPrefix("Dockerfile.")
            || name.hasSuffix(".Dockerfile") || name.hasSuffix(".dockerfile")
        {
            return .dockerfile
        }
        if name == ".env" || name.hasSuffix(".env") || name.hasPrefix(".env.") { return .dotenv }
        if name.hasSuffix(".json") { return .json }
        if name.hasSuffix(".yaml") || name.hasSuffix(".yml") { return .yaml }
        return nil
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

    /// The files that could not be read or parsed, one line each (naming the file, and its line
    /// when there is one): the walk goes on past them, and `scan` exits 2.
    private(set) var problems: [MigrationInputError] = []

    /// Every finding under `paths`, sorted by file, line and name, and every file that could not be read.
    public static func scan(_ paths: [String], workingDirectory: String, key: ScanKey) throws(MigrationInputError)
        -> (findings: [Finding], problems: [MigrationInputError])
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
        return (try scanner.findings(key: key), scanner.problems)
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

    func place(ofEnvFile reference: String, folder: String) throws(MigrationInputError) -> EnvFilePlace {
        guard !reference.hasPrefix("/"), let base = Self.realPath(folder.isEmpty ? "." : folder) else {
            return .outside
        }
        let lexical = "/" + Self.components(base + "/" + reference).joined(separator: "/")
        guard roots.contains(where: { lexical.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else { return .outside }
        guard let resolved = Self.realPath(lexical) else {
            if errno == ENOENT { return .missing }
            throw MigrationInputError(
                "\(display(lexical)): env_file cannot be read: \(String(cString: strerror(errno)))")
        }
        return resolved == lexical ? .inside(lexical) : .outside
    }

    mutating func visit(_ path: String, explicit: Bool) throws(MigrationInputError) {
        var status = stat()
        guard (explicit ? stat(path, &status) : lstat(path, &status)) == 0 else {
            throw MigrationInputError("\(display(path)): cannot be read: \(String(cString: strerror(errno)))")
        }
        switch status.st_mode & S_IFMT {
        case S_IFDIR:
            guard let directory = opendir(path) else {
                throw MigrationInputError("\(display(path)): cannot be read: \(String(cString: strerror(errno)))")
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
                // A configuration file is never this large: a named one is refused, a walked one skipped.
                let message =
                    "\(display(path)): larger than \(Self.sizeLimit >> 20) MiB, which no configuration file is"
                if explicit { throw MigrationInputError(message) }
                StandardStream.error.write("secrets-injector: warning: \(message.escapingControls()): skipped\n")
                return
            }
            do {
                try read(path, kind: Self.kind(ofFileNamed: name), explicit: explicit)
            } catch {
                problems.append(error)
            }
        default:
            if explicit { throw MigrationInputError("\(display(path)): is not a regular file or a folder") }
        }
    }

    /// The text of a file, or exit 2 naming it.
    func text(of path: String) throws(MigrationInputError) -> (bytes: [UInt8], text: String) {
        // Never waited on: a file swapped for a FIFO after the walk looked at it is refused, not read.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard descriptor >= 0 else {
            throw MigrationInputError("\(display(path)): cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG, Int(status.st_size) <= Self.sizeLimit
        else {
            throw MigrationInputError("\(display(path)): is not a regular file of at most \(Self.sizeLimit >> 20) MiB")
        }
        let bytes: [UInt8]
        do {
            bytes = try readAll(descriptor, path: path)
        } catch {
            throw MigrationInputError("\(display(path)): cannot be read: \(String(cString: strerror(error.code)))")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw MigrationInputError("\(display(path)): line \(Self.firstBadLine(bytes)): is not UTF-8 text")
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

    mutating func read(_ path: String, kind: Kind?, explicit: Bool) throws(MigrationInputError) {
        let (bytes, text) = try self.text(of: path)
        let file = display(path)
        switch kind {
        case .dockerfile: candidates += Dockerfile.variables(text, file: file)
        case .dotenv:
            guard !envFilesRead.contains(file) else { return }
            try readDotenv(text, file: file, container: nil)
        case .json: try readDocuments([try located(json: bytes, file: file)], path: path, explicit: explicit)
        case .yaml: try readDocuments(try located(yaml: text, file: file), path: path, explicit: explicit)
        case nil:
            // A file named on the command line whose name says nothing: by its content.
            let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
            let documents =
                first == UInt8(ascii: "{")
                ? [try located(json: bytes, file: file)] : try located(yaml: text, file: file)
            try readDocuments(documents, path: path, explicit: explicit)
        }
    }

    func located(json bytes: [UInt8], file: String) throws(MigrationInputError) -> Located {
        do {
            return try Located.json(bytes)
        } catch {
            throw MigrationInputError("\(file): \(error)")
        }
    }

    func located(yaml text: String, file: String) throws(MigrationInputError) -> [Located] {
        do {
            return try Located.yaml(text)
        } catch {
            throw MigrationInputError("\(file): \(error)")
        }
    }

    mutating func readDotenv(_ text: String, file: String, container: String?) throws(MigrationInputError) {
        let parsed = Dotenv.parse(text)
        if let line = parsed.unparsedLines.first {
            throw MigrationInputError("\(file): line \(line): not a dotenv line (NAME=value)")
        }
        for binding in parsed.bindings {
            guard let value = binding.value else { continue }
            candidates.append(
                Candidate(
                    file: file, line: binding.line, container: container, name: binding.name, value: value,
                    context: .interpolated))
        }
    }

    mutating func readDocuments(_ documents: [Located], path: String, explicit: Bool) throws(MigrationInputError) {
        let file = display(path)
        var recognised = false
        for document in documents {
            if let definition = TaskDefinitionShape.containers(in: document) {
                recognised = true
                for container in definition {
                    for entry in container.node["environment"]?.elements ?? [] {
                        add(entry, nameKey: "name", valueKey: "value", container: container.name, file: file)
                    }
                }
            }
            if let resources = document["Resources"], case .mapping = resources {
                for (_, resource) in resources.members where resource["Type"]?.literal == "AWS::ECS::TaskDefinition" {
                    recognised = true
                    for container in resource["Properties"]?["ContainerDefinitions"]?.elements ?? [] {
                        for entry in container["Environment"]?.elements ?? [] {
                            add(
                                entry, nameKey: "Name", valueKey: "Value", container: container["Name"]?.literal,
                                file: file)
                        }
                    }
                }
            }
            if let services = document["services"], case .mapping = services {
                recognised = true
                try readCompose(services, path: path, file: file)
            }
        }
        if explicit && !recognised {
            throw MigrationInputError(
                "\(file): is not an ECS task definition, a CloudFormation template with an AWS::ECS::TaskDefinition, or a Compose file"
            )
        }
    }

    mutating func add(_ entry: Located, nameKey: String, valueKey: String, container: String?, file: String) {
        guard let name = entry[nameKey]?.literal, let valueNode = entry[valueKey], let value = valueNode.literal else {
            return
        }
        candidates.append(
            Candidate(
                file: file, line: valueNode.line, container: container, name: name, value: value, context: .literal))
    }

    /// `services.*.environment` (map or list) and the `env_file`s each service names, relative to
    /// the Compose file. An `env_file` that does not exist holds nothing in plain sight here; one
    /// outside the scanned folders, or behind a link, is a finding of its own, not read.
    mutating func readCompose(_ services: Located, path: String, file: String) throws(MigrationInputError) {
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
                switch try place(ofEnvFile: envFile.path, folder: folder) {
                case .missing: continue
                case .outside:
                    // Reported, never read: the walk follows no link and leaves no scanned folder.
                    candidates.append(
                        Candidate(
                            file: file, line: envFile.line, container: service, name: "env_file", value: envFile.path,
                            context: .literal, rule: .envFileOutside))
                case .inside(let full):
                    let shown = display(full)
                    let (_, text) = try self.text(of: full)
                    candidates.removeAll { $0.file == shown && $0.container == nil }
                    envFilesRead.insert(shown)
                    try readDotenv(text, file: shown, container: service)
                }
            }
        }
    }
}

/// The two forms of a task definition (SPEC §10).
enum TaskDefinitionShape {
    static func containers(in document: Located) -> [(name: String?, node: Located)]? {
        let definition = document["taskDefinition"] ?? document
        guard case .sequence(let containers, _)? = definition["containerDefinitions"] else { return nil }
        return containers.map { ($0["name"]?.literal, $0) }
    }
}

/// `ENV` and `ARG` defaults in a Dockerfile: `ENV NAME=value NAME2="v 2"`, the older `ENV NAME
/// value`, `ARG NAME=default`; lines continued with `\`, comments and quotes as Docker reads them.
enum Dockerfile {
    static func variables(_ text: String, file: String) -> [Candidate] {
        var candidates: [Candidate] = []
        var logical = ""
        var startLine = 0
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.drop(while: \.isWhitespace)
            if logical.isEmpty {
                if trimmed.hasPrefix("#") || trimmed.isEmpty { continue }
                startLine = index + 1
            } else if trimmed.hasPrefix("#") {
                continue  // a comment inside a continued instruction
            }
            if line.hasSuffix("\\") {
                logical += line.dropLast() + " "
                continue
            }
            logical += line
            candidates += instruction(logical, line: startLine, file: file)
            logical = ""
        }
        if !logical.isEmpty { candidates += instruction(logical, line: startLine, file: file) }
        return candidates
    }

    static func instruction(_ text: String, line: Int, file: String) -> [Candidate] {
        let trimmed = text.drop(while: \.isWhitespace)
        guard let space = trimmed.firstIndex(where: \.isWhitespace) else { return [] }
        let keyword = trimmed[..<space].uppercased()
        guard keyword == "ENV" || keyword == "ARG" else { return [] }
        let arguments = trimmed[space...].drop(while: \.isWhitespace)
        let words = self.words(arguments)
        var candidates: [Candidate] = []
        if keyword == "ENV", let first = words.first, !first.contains("=") {
            // The older form: the rest of the line is the value.
            let rest = arguments.drop(while: { !$0.isWhitespace }).drop(while: \.isWhitespace)
            candidates.append(
                Candidate(
                    file: file, line: line, container: nil, name: first, value: String(rest).trimmingBlanks,
                    context: .interpolated))
            return candidates
        }
        for word in words {
            guard let equals = word.firstIndex(of: "=") else { continue }
            candidates.append(
                Candidate(
                    file: file, line: line, container: nil, name: String(word[..<equals]),
                    value: String(word[word.index(after: equals)...]), context: .interpolated))
        }
        return candidates
    }

    /// Words split at blanks, with quotes removed and `\` escapes applied.
    static func words(_ text: Substring) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
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
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}
