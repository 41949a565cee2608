public import InjectorBase
public import Logging
public import SecretsManager

#if canImport(Glibc)
    import Glibc
#endif

/// What `secrets-injector get` asks for: a secret, optionally a version and one top-level JSON key.
public struct SecretLookup: Sendable {
    public var secretID: String
    public var versionStage: String?
    public var versionID: String?
    public var jsonKey: String?

    public init(secretID: String, versionStage: String? = nil, versionID: String? = nil, jsonKey: String? = nil) {
        self.secretID = secretID
        self.versionStage = versionStage
        self.versionID = versionID
        self.jsonKey = jsonKey
    }

    /// `get`: the bytes on standard output (and a line end on a terminal), read with the client
    /// ``AWSSetup`` builds from `environment`.
    public func run(environment: [String: String], logger: Logger) async throws {
        let client = try await AWSSetup.secretsManagerClient(environment: environment, logger: logger)
        let bytes = try await output(client: client)
        StandardStream.output.write(bytes + (isatty(STDOUT_FILENO) == 1 ? [0x0A] : []))
    }

    /// The bytes to print: the value as stored, or the key's value (a string as itself, anything
    /// else as compact JSON).
    public func output(client: SecretsManagerClient) async throws -> [UInt8] {
        let value = try await client.getSecretValue(id: secretID, versionStage: versionStage, versionID: versionID)
        return try select(from: value)
    }

    func select(from value: SecretValue) throws(SecretLookupError) -> [UInt8] {
        guard let jsonKey else { return value.bytes }
        guard let string = value.secretString else {
            throw SecretLookupError(
                exitStatus: .notFoundOrDenied,
                message: "secret \(secretID) is binary: --json-key needs a JSON SecretString")
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(string)
        } catch {
            throw SecretLookupError(
                exitStatus: .notFoundOrDenied,
                message: "secret \(secretID) is not JSON (\(error)): --json-key needs a JSON object")
        }
        guard case .object = document else {
            throw SecretLookupError(
                exitStatus: .notFoundOrDenied,
                message: "secret \(secretID) is JSON but not an object: --json-key needs a JSON object")
        }
        guard let member = document[jsonKey] else {
            throw SecretLookupError(
                exitStatus: .notFoundOrDenied,
                message:
                    "secret \(secretID) has no key \"\(jsonKey)\" (its keys: \(document.keys.joined(separator: ", ")))")
        }
        return Array(member.text.utf8)
    }
}

/// A lookup that reached Secrets Manager but could not give what was asked. Names keys, never values.
public struct SecretLookupError: Error, Sendable, CustomStringConvertible, ExitStatusProviding {
    public var exitStatus: ExitStatus
    public var message: String
    public var description: String { message }
}
