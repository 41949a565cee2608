import InjectorBase
import InjectorConfig
import InjectorOutputs
import InjectorSources
import Logging
import SecretsManager

extension Injector {
    /// The configured secrets plus those discovered by `namePrefix`, each with its alias and files.
    /// `listed` gives names already listed per prefix (the `list` strategy's round), saving a call.
    public func resolveSecrets(_ problems: inout [Problem], listed: [String: [String]] = [:]) async throws
        -> [ResolvedSecret]
    {
        var resolved: [ResolvedSecret] = []
        for (index, spec) in config.secrets.enumerated() {
            guard case .id(let name) = spec.selector, let alias = spec.alias else { continue }
            resolved.append(
                ResolvedSecret(
                    request: SecretRequest(id: name.id, versionStage: spec.versionStage, versionID: spec.versionID),
                    alias: alias, file: spec.file,
                    keys: spec.keys, required: spec.required, origin: "secrets[\(index)]"))
        }
        var claimed = ClaimedPaths()
        for file in config.plannedFiles { _ = claimed.claim(file.path, by: "the configuration") }
        if let socket = config.socketRelativePath { _ = claimed.claim(socket, by: "the socket (server.socketPath)") }
        for (index, spec) in config.secrets.enumerated() {
            let prefix: String
            let key: String
            switch spec.selector {
            case .id: continue
            case .namePrefix(let namePrefix): (prefix, key) = (namePrefix, "namePrefix")
            case .parameterPath(let path): (prefix, key) = (path, "parameterPath")
            }
            let names: [String]
            do {
                if key == "parameterPath" {
                    names = try await source.listParameters(path: prefix)
                } else if let known = listed[prefix] {
                    names = known
                } else {
                    names = try await source.list(namePrefix: prefix)
                }
            } catch {
                // Discovery cannot work without ListSecrets (or GetParametersByPath): no fallback, a
                // start-up error (exit 3).
                throw InjectorFailure(
                    problems: problems + [
                        Problem(
                            message: "secrets[\(index)].\(key) \"\(prefix)\": \(error)",
                            exitStatus: ExitStatus.of(error))
                    ])
            }
            logger.debug("discovered", metadata: ["prefix": "\(prefix)", "count": "\(names.count)"])
            for name in names
            where !resolved.contains(where: { $0.request.id == name || SecretName($0.request.id).name == name }) {
                var relative = String(name.dropFirst(prefix.count))
                while relative.hasPrefix("/") { relative.removeFirst() }
                if relative.isEmpty { relative = name.split(separator: "/").last.map(String.init) ?? name }
                let alias = SecretName.alias(forName: name)
                let origin = "secrets[\(index)].\(key)"
                if let other = resolved.first(where: { $0.alias == alias }) {
                    problems.append(
                        Problem(
                            message:
                                "\(origin): discovered secret \(name) has the alias \"\(alias)\" of \(other.request.id) (\(other.origin)); give that one another alias",
                            exitStatus: .usage))
                    continue
                }
                if let problem = OutputPath.problem(relative) ?? claimed.claim(relative, by: "secret \(name)") {
                    problems.append(
                        Problem(
                            message: "\(origin): discovered secret \(name) cannot be written: \(problem)",
                            exitStatus: .usage))
                    continue
                }
                resolved.append(
                    ResolvedSecret(
                        request: SecretRequest(id: name), alias: alias,
                        file: FileSpec(path: relative, mode: spec.mode, owner: spec.owner), keys: [],
                        required: spec.required, origin: origin))
            }
        }
        return resolved
    }
}
