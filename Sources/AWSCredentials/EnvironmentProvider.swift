import FoundationEssentials
import HTTPTransport
import InjectorBase

#if canImport(Glibc)
    import Glibc
#endif

/// Long-term or session keys from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialProvider: CredentialProvider {
    public let name = "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    private let credentials: Credentials

    /// nil when neither key is set; a configuration error when only one is.
    public init?(environment: [String: String]) throws(CredentialError) {
        let keyID = environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        switch (keyID, secret) {
        case (nil, nil):
            return nil
        case (let keyID?, let secret?):
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            credentials = Credentials(
                accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, source: "environment")
        case (nil, _):
            throw CredentialError(
                .configuration,
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both, or neither to use the ECS task role"
            )
        case (_, nil):
            throw CredentialError(
                .configuration,
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither to use the ECS task role"
            )
        }
    }

    public func fetch() async throws(CredentialError) -> Credentials { credentials }
}

/// A profile of the shared files (`AWS_PROFILE`, else `default`), read as botocore reads them: for
/// laptops and CI, never for a task (the ECS task role comes first). In order:
/// - static keys in the credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`);
/// - in the config file (`AWS_CONFIG_FILE`, else `~/.aws/config`; section `[profile NAME]`, or
///   `[default]`), a `credential_process`: a command that prints the credentials as JSON (how SSO
///   users export theirs: `aws configure export-credentials --profile NAME --format process`);
/// - static keys in that config section.
public struct SharedCredentialsFileProvider: CredentialProvider {
    enum Source: Sendable {
        case keys(Credentials)
        /// The command's words, and the environment it runs with.
        case process([String], environment: [String: String])
    }

    public let name: String
    let source: Source

    /// Never in a `credential_process`'s environment: the injector's own credentials and tokens.
    static let withheldAlways = [
        "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_TOKEN",
    ]

    /// nil when neither file holds the profile (and it was not named); an error when a named
    /// profile is missing or unusable. `withheld` names more variables a `credential_process` must
    /// not see (the SSRF token's, `server.ssrfEnvVariables`, known only to the configuration).
    public init?(
        environment: [String: String], withheld: [String] = [],
        readFile: (String) -> String? = SharedCredentialsFileProvider.readProfileFile
    ) throws(CredentialError) {
        let home = environment["HOME"] ?? "/root"
        let path = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configPath = environment["AWS_CONFIG_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.aws/config"
        let explicitProfile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        let profile = explicitProfile ?? "default"
        let credentialsText = readFile(path)
        if credentialsText == nil, explicitProfile != nil, environment["AWS_SHARED_CREDENTIALS_FILE"] != nil {
            throw CredentialError(
                .configuration, "cannot read the shared credentials file \(path) (AWS_SHARED_CREDENTIALS_FILE)")
        }
        if let values = credentialsText.flatMap({ parseINISection($0, section: profile) }) {
            guard let keys = Self.keys(values, source: "shared credentials file") else {
                throw CredentialError(
                    .configuration,
                    "profile [\(profile)] in \(path) needs aws_access_key_id and aws_secret_access_key (only static keys are supported there; a credential_process goes in \(configPath))"
                )
            }
            name = "shared credentials file \(path) [\(profile)]"
            source = .keys(keys)
            return
        }
        // The config file names its profiles `[profile NAME]`; the default one may be `[default]`.
        let sections = profile == "default" ? ["default", "profile default"] : ["profile \(profile)"]
        let configText = readFile(configPath)
        guard let configText, let values = sections.lazy.compactMap({ parseINISection(configText, section: $0) }).first
        else {
            if explicitProfile != nil {
                throw CredentialError(
                    .configuration, "profile [\(profile)] (AWS_PROFILE) is not in \(path) or \(configPath)")
            }
            return nil
        }
        if let command = values["credential_process"] {
            guard let words = shellWords(command), !words.isEmpty else {
                throw CredentialError(
                    .configuration,
                    "profile [\(profile)] in \(configPath): credential_process is not a command line (an unclosed quote?)"
                )
            }
            name = "credential_process of profile [\(profile)] in \(configPath)"
            // The command needs HOME, PATH and the profile's settings; never a credential or token of ours.
            let hidden = Set(Self.withheldAlways + withheld)
            source = .process(words, environment: environment.filter { !hidden.contains($0.key) })
        } else if let keys = Self.keys(values, source: "config file") {
            name = "config file \(configPath) [profile \(profile)]"
            source = .keys(keys)
        } else {
            guard explicitProfile != nil else { return nil }
            throw CredentialError(
                .configuration,
                "profile [\(profile)] in \(configPath) has neither credential_process nor static keys (an SSO profile: add credential_process = aws configure export-credentials --profile \(profile) --format process)"
            )
        }
    }

    /// A shared file as ``SmallFile`` reads it: a regular file (through links, as botocore follows
    /// them) of at most 1 MiB, never waited on; nil otherwise, as for a file that is absent.
    public static func readProfileFile(_ path: String) -> String? {
        (try? SmallFile.read(path, limit: 1 << 20, followingLinks: true)).map {
            String(decoding: $0.bytes, as: UTF8.self)
        }
    }

    static func keys(_ values: [String: String], source: String) -> Credentials? {
        guard let keyID = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else { return nil }
        return Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: values["aws_session_token"], source: source)
    }

    public func fetch() async throws(CredentialError) -> Credentials {
        switch source {
        case .keys(let credentials): return credentials
        case .process(let words, let environment):
            return try await Self.run(words, environment: environment, name: name)
        }
    }

    /// Runs the command (no shell, standard error discarded, at most 5 minutes: an SSO login may
    /// wait for a browser) and reads botocore's process format, version 1: `AccessKeyId`,
    /// `SecretAccessKey`, optional `SessionToken` and `Expiration`. No error repeats its output.
    static func run(_ words: [String], environment: [String: String], name: String) async throws(CredentialError)
        -> Credentials
    {
        let result = await runOnOwnThread {
            ChildProcess.run(words, environment: environment, timeoutSeconds: 300, errorOutput: .discarded)
        }
        switch result.status {
        case .exited(0): break
        case .exited(let code): throw CredentialError(.unavailable, "\(name) exited with status \(code)")
        case .couldNotStart(let code):
            throw CredentialError(.configuration, "\(name) could not start: \(String(cString: strerror(code)))")
        default: throw CredentialError(.unavailable, "\(name) did not finish (killed, or over 5 minutes)")
        }
        guard let document = try? JSONValue.parse(result.output), case .object = document else {
            throw CredentialError(.invalidResponse, "\(name) did not print a JSON object")
        }
        guard case .number("1")? = document["Version"] else {
            throw CredentialError(.invalidResponse, "\(name) printed a Version other than 1 (the only one supported)")
        }
        guard case .string(let keyID)? = document["AccessKeyId"],
            case .string(let secret)? = document["SecretAccessKey"],
            !keyID.isEmpty, !secret.isEmpty
        else {
            throw CredentialError(.invalidResponse, "\(name) printed no AccessKeyId and SecretAccessKey")
        }
        var expiration: Date?
        if case .string(let text)? = document["Expiration"] {
            guard let date = parseISO8601(text) else {
                throw CredentialError(.invalidResponse, "\(name) printed an Expiration that is not ISO-8601")
            }
            expiration = date
        }
        var token: String?
        if case .string(let text)? = document["SessionToken"], !text.isEmpty { token = text }
        return Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: expiration,
            source: "credential_process")
    }
}

/// The words of a command line as a POSIX shell splits them, without expanding anything (Python's
/// `shlex.split`, which botocore uses for `credential_process`): blanks separate; `'…'` is literal;
/// in `"…"` a backslash escapes `\\`, `"`, `$` and `` ` ``; elsewhere it escapes any character. Nil
/// when a quote is left open.
func shellWords(_ text: String) -> [String]? {
    var words: [String] = []
    var word = ""
    var inWord = false
    var characters = text.makeIterator()
    while let character = characters.next() {
        switch character {
        case " ", "\t", "\n":
            if inWord { words.append(word) }
            word = ""
            inWord = false
        case "'":
            inWord = true
            while true {
                guard let next = characters.next() else { return nil }
                if next == "'" { break }
                word.append(next)
            }
        case "\"":
            inWord = true
            while true {
                guard let next = characters.next() else { return nil }
                if next == "\"" { break }
                if next == "\\" {
                    guard let escaped = characters.next() else { return nil }
                    if !["\\", "\"", "$", "`"].contains(escaped) { word.append("\\") }
                    word.append(escaped)
                } else {
                    word.append(next)
                }
            }
        case "\\":
            inWord = true
            guard let escaped = characters.next() else { return nil }
            word.append(escaped)
        default:
            inWord = true
            word.append(character)
        }
    }
    if inWord { words.append(word) }
    return words
}

/// The `key = value` pairs of one `[section]` of an INI file, or nil when the section is absent.
func parseINISection(_ text: String, section: String) -> [String: String]? {
    var current: String?
    var found = false
    var values: [String: String] = [:]
    for rawLine in text.split(whereSeparator: \.isNewline) {
        let line = rawLine.trimmingCharacters(in: " \t\r\n")
        if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
        if line.hasPrefix("["), line.hasSuffix("]") {
            current = String(line.dropFirst().dropLast()).trimmingCharacters(in: " \t\r\n")
            if current == section { found = true }
            continue
        }
        guard current == section, let equals = line.firstIndex(of: "=") else { continue }
        let key = String(line[..<equals]).trimmingCharacters(in: " \t\r\n").lowercased()
        values[key] = String(line[line.index(after: equals)...]).trimmingCharacters(in: " \t\r\n")
    }
    return found ? values : nil
}
