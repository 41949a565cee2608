public import InjectorBase
public import SecretsManager

/// Values from a JSON file of `{ "name": value }` (a string, or any JSON written compactly),
/// re-read on every fetch: development without AWS (`source.local`).
public struct LocalFileSource: SecretSource {
    public let path: String

    public init(path: String) { self.path = path }

    public var summary: String { "local file \(path)" }

    public var deniedOperations: [String] { [] }

    func load() throws -> [String: [UInt8]] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(try readWholeFile(path))
        } catch let error as JSONParseError {
            throw AWSCallError.configuration("source.local \(path): not valid JSON (\(error))")
        } catch {
            throw AWSCallError.configuration("source.local: \(error)")
        }
        guard case .object(let members) = document else {
            throw AWSCallError.configuration(
                "source.local \(path): must be a JSON object of {\"secret name\": value}")
        }
        var values: [String: [UInt8]] = [:]
        for member in members { values[member.key] = Array(member.value.text.utf8) }
        return values
    }

    public func list(namePrefix: String) async throws -> [String] {
        try load().keys.filter { $0.hasPrefix(namePrefix) }.sorted()
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        let values = try load()
        var results: [SecretRequest: Result<SecretValue, AWSCallError>] = [:]
        for request in requests {
            let name = SecretName(request.id).name
            if let bytes = values[name], request.isCurrent {
                let text = String(decoding: bytes, as: UTF8.self)
                results[request] = .success(
                    SecretValue(
                        arn: "local:\(name)", name: name, versionID: "local-" + Self.fingerprint(bytes),
                        secretString: text, versionStages: ["AWSCURRENT"]))
            } else {
                // Worded as Secrets Manager's answer, which the file stands in for.
                var error = AWSCallError(
                    service: .secretsManager, category: .notFound, code: "ResourceNotFoundException",
                    resourceID: request.id, region: "local file \(path)")
                error.versionStage = request.versionStage
                error.versionID = request.versionID
                results[request] = .failure(error)
            }
        }
        return results
    }

    /// The file is read whole anyway: every strategy gets the values themselves.
    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        ProbeResult(probes: try await fetch(requests).mapValues(Probe.init), strategy: .get)
    }

    /// A version id that changes with the content (FNV-1a, 64 bits).
    package static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
