import FoundationEssentials
import HTTPTransport
import SecretsManager

@testable import AWSCredentials
@testable import InjectorAgent
@testable import InjectorBase
@testable import InjectorConfig
@testable import InjectorHTTP
@testable import InjectorMigration
@testable import InjectorOutputs
@testable import InjectorSidecar

#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer targets for the parsers that read what others send us (issue: hardening). Built with
/// `-sanitize=fuzzer,address -DFUZZING` by `scripts/fuzz`, one binary for every target, chosen by
/// `FUZZ_TARGET`; built plainly (as `swift build` does) it replays files through the same code, so
/// the seed corpus and every crash found stay regression tests (`FuzzCorpusTests`).
enum Fuzz {
    static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "config": config, "template": template, "agent": agent, "json": json, "credentials": credentials,
        "uri": uri, "files": files, "scan": scan, "yaml": yaml, "iam": iam,
    ]

    /// IAM's XML answer as `review permissions` reads it: the small XML reader, then a
    /// `GetAccountAuthorizationDetails` page's lists, each document percent-decoded.
    static func iam(_ bytes: [UInt8]) {
        guard let root = try? XMLTree.parse(bytes) else { return }
        var details = AccountAuthorizationDetails()
        details.add(page: root.child("GetAccountAuthorizationDetailsResult") ?? root)
        _ = IAMClient.percentDecoded(String(decoding: bytes, as: UTF8.self))
    }

    /// What `scan` reads from files it does not trust: dotenv (python-dotenv's grammar), JSON with
    /// each value's line, Dockerfiles, YAML through Yams; the rules over every value found.
    static func scan(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        for binding in Dotenv.parse(text).bindings {
            _ = SecretRules.rule(name: binding.name, value: binding.value ?? "", context: .interpolated)
        }
        for candidate in Dockerfile.variables(text, file: "Dockerfile") {
            _ = SecretRules.rule(name: candidate.name, value: candidate.value, context: candidate.context)
        }
        _ = try? Located.json(bytes)
        _ = try? Located.yaml(text)
    }

    /// YAML as `scan` reads a Compose file or a CloudFormation template: Yams, then ``Located``
    /// within its node and depth limits (aliases expanded), then the scanner's walk of the
    /// documents, whose `env_file`s name a folder that does not exist.
    static func yaml(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let documents = try? Located.yaml(text) else { return }
        func count(_ node: Located) -> Int {
            1 + node.members.map { count($0.value) }.reduce(0, +) + node.elements.map(count).reduce(0, +)
        }
        precondition(
            documents.map(count).reduce(0, +) <= Located.nodeLimit(bytes: text.utf8.count), "more nodes than the limit")
        var scanner = Scanner(workingDirectory: "/nonexistent/secrets-injector-fuzz")
        _ = scanner.readDocuments(documents, path: "/nonexistent/secrets-injector-fuzz/compose.yml", context: .literal)
        _ = try? scanner.findings(key: fuzzKey)
    }

    static let fuzzKey = ScanKey(String(repeating: "0", count: 64))!

    /// The configuration reader and its validation, then the plan `check` prints.
    static func config(_ bytes: [UInt8]) {
        guard let document = try? JSONValue.parse(bytes), let config = try? Config(document: document) else { return }
        _ = config.plan
    }

    /// The template parser, then the renderer over values of every kind.
    static func template(_ bytes: [UInt8]) {
        guard let template = try? Template(parsing: String(decoding: bytes, as: UTF8.self)) else { return }
        let contents = [
            "db": SecretContent(
                bytes: Array(#"{"password":"p@ss w'rd\\","port":5432,"list":[1,{"a":"b"}]}"#.utf8), isBinary: false),
            "raw": SecretContent(bytes: bytes, isBinary: true),
        ]
        _ = try? template.render { contents[$0] }
    }

    /// The Agent request: a request line and headers, routed, then answered from fixed entries.
    static func agent(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).makeIterator()
        let requestLine = (lines.next() ?? "").split(separator: " ", maxSplits: 2)
        var headers: [(name: String, value: String)] = []
        while let line = lines.next(), !line.isEmpty {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers.append(
                (String(parts.first ?? ""), String(parts.dropFirst().first ?? "").trimmingCharacters(in: " ")))
        }
        let request = AgentRequest(
            method: requestLine.first.map(String.init) ?? "GET",
            uri: requestLine.dropFirst().first.map(String.init) ?? "/", headers: headers,
            transport: bytes.first.map { $0 & 1 == 0 } == true ? .tcp : .unixSocket,
            overConnectionLimit: bytes.last.map { $0 & 1 == 1 } ?? false)
        guard case .secret(let query) = agentAPI.route(request, token: "xyzzy") else { return }
        precondition(!agentSnapshot.answer(query).body.isEmpty)
    }

    static let agentAPI = AgentAPI(settings: .init())
    static let agentSnapshot = AgentSnapshot(entries: agentEntries)
    static let agentEntries: [AgentEntry] = [
        AgentEntry(
            request: SecretRequest(id: "app/db"),
            value: .init(
                arn: "arn:aws:secretsmanager:us-west-2:123456789012:secret:app/db-AbCdEf", name: "app/db",
                versionID: "v1", secretString: "s", versionStages: ["AWSCURRENT"])),
        AgentEntry(
            request: SecretRequest(id: "app/db", versionStage: "AWSPENDING"),
            value: .init(
                arn: "arn:aws:secretsmanager:us-west-2:123456789012:secret:app/db-AbCdEf", name: "app/db",
                versionID: "v2", secretString: "t", versionStages: ["AWSPENDING"])),
    ]

    /// The JSON reader: whatever it accepts, it writes back to text that reads back the same.
    static func json(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes) else { return }
        let again = try? JSONValue.parse(value.serialized)
        precondition(again == value, "JSON does not survive its own serialization")
    }

    /// The credential endpoint's answer.
    static func credentials(_ bytes: [UInt8]) {
        _ = try? ContainerCredentialProvider.decode(bytes, from: "fuzz", source: "fuzz")
    }

    /// The credential-URI check: whatever it allows over plain http, libcurl connects to an address
    /// that is loopback or one of the agents'.
    static func uri(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard ContainerEndpointPolicy.problem(text) == nil, let parts = URLParts(text), parts.scheme == "http" else {
            return
        }
        var v4 = in_addr()
        var v6 = in6_addr()
        let allowed =
            parts.host == "localhost"
            || (inet_pton(AF_INET, parts.host, &v4) == 1
                && (UInt32(bigEndian: v4.s_addr) >> 24 == 127
                    || ["169.254.170.2", "169.254.170.23"].contains(parts.host)))
            || (inet_pton(AF_INET6, parts.host, &v6) == 1 && ["::1", "fd00:ec2::23"].contains(parts.host))
        precondition(allowed, "allowed a host that is not loopback or an agent's: \(parts.host)")
    }
}

extension Fuzz {
    /// The token and pid-file readers over a file of the input's bytes, reached
    /// directly or (first byte's low bits 7) through a symbolic link: whatever they accept is a
    /// token a header can carry, or a pid that is neither init nor ours, from at most 4 KiB or 32
    /// bytes; through a link they accept nothing.
    static func files(_ bytes: [UInt8]) {
        let folder = filesFolder
        let file = folder + "/file"
        let link = folder + "/link"
        unlink(file)
        let descriptor = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(descriptor >= 0, "cannot write the fuzz file")
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        let linked = bytes.first.map { $0 & 7 == 7 } ?? false
        let path = linked ? link : file

        let (token, _, problem) = SSRFToken.read(path)
        if let token {
            precondition(!linked, "a token was read through a link")
            precondition(bytes.count <= SSRFToken.fileLimit, "a token from more than 4 KiB")
            precondition(
                !token.isEmpty && !token.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "a token a header cannot carry")
        } else {
            precondition(problem != nil, "no token and no reason")
        }
        if let pid = try? PIDFile.read(path, appUID: nil) {
            precondition(!linked, "a pid was read through a link")
            precondition(bytes.count <= PIDFile.limit, "a pid from more than 32 bytes")
            precondition(pid > 1 && pid != getpid(), "pid \(pid) passed")
        }
    }

    /// A folder of the fuzzer's own, with `link` pointing at `file`.
    static let filesFolder: String = {
        var template = Array("/tmp/secrets-injector-fuzz-files.XXXXXX".utf8CString)
        let folder = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        symlink(folder + "/file", folder + "/link")
        return folder
    }()
}

#if FUZZING
    let selected: @Sendable ([UInt8]) -> Void = {
        let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
        guard let target = Fuzz.targets[name] else {
            fatalError("FUZZ_TARGET must be one of \(Fuzz.targets.keys.sorted())")
        }
        return target
    }()

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        selected(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }

    typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: TestOneInput
    ) -> CInt

    /// SwiftPM links an executable's entry point under this name: hand over to libFuzzer's driver.
    @_cdecl("secrets_injector_fuzz_main")
    public func fuzzMain(
        _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
    ) -> CInt {
        var count = argc
        var arguments = argv
        return withUnsafeMutablePointer(to: &arguments) { pointer in
            pointer.withMemoryRebound(to: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?.self, capacity: 1) {
                runDriver(&count, $0, fuzzOne)
            }
        }
    }
#else
    /// `secrets-injector-fuzz TARGET FILE…`: each file through the target once (a replay).
    @main struct Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = Fuzz.targets[name] else {
                print("usage: secrets-injector-fuzz \(Fuzz.targets.keys.sorted().joined(separator: "|")) FILE…")
                exit(2)
            }
            for path in arguments.dropFirst() {
                guard let bytes = try? readWholeFile(path) else {
                    print("cannot read \(path)")
                    exit(2)
                }
                target(bytes)
            }
            print("replayed \(arguments.count - 1) inputs through \(name)")
        }
    }
#endif
