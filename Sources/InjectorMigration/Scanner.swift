import AWSSigning
import InjectorBase
import InjectorOutputs

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

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
    var candidates: [Candidate] = []
    /// Files read as a Compose service's `env_file`, so that a walk does not read them again alone.
    var envFilesRead: Set<String> = []
    /// The folders named on the command line (a file's own folder), links resolved: no
    /// `env_file` is read outside them.
    private var roots: [String] = []

    public init(workingDirectory: String) {
        self.workingDirectory = workingDirectory.hasSuffix("/") ? workingDirectory : workingDirectory + "/"
    }

    /// The files that could not be read, parsed or recognised (``ScanNote``): the walk goes on past them.
    var notes: [ScanNote] = []

    /// Every finding under `paths`, sorted by file, line and name, and every file noted. A path that
    /// does not exist, or is neither a file nor a folder, is bad usage.
    public static func scan(_ paths: [String], workingDirectory: String, key: ScanKey) throws(InputError)
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

    func findings(key: ScanKey) throws(InputError) -> [Finding] {
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
                throw InputError("cannot hash: \(error)")
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

    mutating func visit(_ path: String, explicit: Bool) throws(InputError) {
        var status = stat()
        guard (explicit ? stat(path, &status) : lstat(path, &status)) == 0 else {
            let reason = "cannot be read: \(String(cString: strerror(errno)))"
            if explicit { throw InputError("\(display(path)): \(reason)") }
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
            if explicit { throw InputError("\(display(path)): is not a regular file or a folder") }
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
}
