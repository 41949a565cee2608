import FoundationEssentials
import HTTPTransport
import InjectorBase

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

/// Static keys from the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default
/// `~/.aws/credentials`), profile `AWS_PROFILE` or `default`: for laptops.
public struct SharedCredentialsFileProvider: CredentialProvider {
    public let name: String
    private let credentials: Credentials

    /// nil when the file or the default profile is absent; an error when an explicitly named
    /// profile is missing or incomplete.
    public init?(
        environment: [String: String],
        readFile: (String) -> String? = { (try? readWholeFile($0)).map { String(decoding: $0, as: UTF8.self) } }
    ) throws(CredentialError) {
        let home = environment["HOME"] ?? "/root"
        let path = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let explicitProfile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        let profile = explicitProfile ?? "default"
        name = "shared credentials file \(path) [\(profile)]"
        guard let text = readFile(path) else {
            if explicitProfile != nil, environment["AWS_SHARED_CREDENTIALS_FILE"] != nil {
                throw CredentialError(
                    .configuration, "cannot read the shared credentials file \(path) (AWS_SHARED_CREDENTIALS_FILE)")
            }
            return nil
        }
        let values = parseINISection(text, section: profile)
        guard let values else {
            if explicitProfile != nil {
                throw CredentialError(.configuration, "profile [\(profile)] (AWS_PROFILE) is not in \(path)")
            }
            return nil
        }
        guard let keyID = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw CredentialError(
                .configuration,
                "profile [\(profile)] in \(path) needs aws_access_key_id and aws_secret_access_key (only static keys are supported)"
            )
        }
        credentials = Credentials(
            accessKeyID: keyID, secretAccessKey: secret, sessionToken: values["aws_session_token"],
            source: "shared credentials file")
    }

    public func fetch() async throws(CredentialError) -> Credentials { credentials }
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
