public import InjectorBase
import InjectorConfig
public import InjectorOutputs
import InjectorSources
import Logging
public import SecretsManager

extension Injector {
    /// The outputs from fetched values (or their errors). Pure: the sidecar re-renders from its cache.
    public func renderFiles(
        secrets: [ResolvedSecret], results: [SecretRequest: Result<SecretValue, AWSCallError>],
        problems: [Problem] = []
    ) throws(InjectorFailure) -> [OutputFile] {
        var problems = problems

        var contents: [String: SecretContent] = [:]
        var unavailable: Set<String> = []
        var files: [OutputFile] = []
        for secret in secrets {
            switch results[secret.request] {
            case .success(let value):
                let content = SecretContent(bytes: value.bytes, isBinary: value.secretString == nil)
                contents[secret.alias] = content
                logger.debug("fetched", metadata: ["secret": "\(value.name)", "versionId": "\(value.versionID)"])
                if let file = secret.file {
                    files.append(OutputFile(path: file.path, bytes: content.bytes, mode: file.mode, owner: file.owner))
                }
                for entry in secret.keys {
                    do {
                        let bytes = try content.value(at: [entry.key], alias: secret.alias)
                        files.append(
                            OutputFile(
                                path: entry.file.path, bytes: bytes, mode: entry.file.mode, owner: entry.file.owner))
                    } catch {
                        problems.append(
                            Problem(
                                message: error.message(output: "\(secret.origin).keys.\(entry.key)"),
                                exitStatus: .notFoundOrDenied))
                    }
                }
            case .failure(let error):
                unavailable.insert(secret.alias)
                if secret.required {
                    problems.append(Problem(message: "\(error)", exitStatus: ExitStatus.of(error)))
                } else {
                    logger.warning(
                        "optional secret not available",
                        metadata: ["secret": "\(secret.request.id)", "error": "\(error)"])
                }
            case nil:
                problems.append(
                    Problem(message: "\(secret.request): no answer from \(source.summary)", exitStatus: .unavailable))
            }
        }

        for template in config.templates {
            do {
                let bytes = try template.template.render { contents[$0] }
                files.append(
                    OutputFile(
                        path: template.file.path, bytes: bytes, mode: template.file.mode, owner: template.file.owner))
            } catch {
                if case .unknownAlias(let alias) = error, unavailable.contains(alias) { continue }  // its secret's failure is reported already
                problems.append(
                    Problem(
                        message: error.message(output: "template \(template.file.path)"), exitStatus: .notFoundOrDenied)
                )
            }
        }

        for env in config.env {
            files.append(
                OutputFile(
                    path: env.file.path, bytes: DotenvQuoting.dotenvFile(values(of: env, results: results, &problems)),
                    mode: env.file.mode, owner: env.file.owner))
        }

        guard problems.isEmpty else { throw InjectorFailure(problems: problems) }
        return files
    }

    /// The variables the configuration defines for an app's environment (`exec`), in order, a later
    /// one of a name winning: every `env` entry's (from `results`), then every variable a template
    /// written to a dotenv file binds (read from its rendered bytes in `files` as python-dotenv reads
    /// it, as `migrate verify` does), but the sh guard's. Each problem is thrown.
    public func environmentVariables(
        files: [OutputFile], results: [SecretRequest: Result<SecretValue, AWSCallError>]
    ) throws(InjectorFailure) -> [(name: String, value: [UInt8])] {
        var problems: [Problem] = []
        var variables = config.env.flatMap { values(of: $0, results: results, &problems) }
        guard problems.isEmpty else { throw InjectorFailure(problems: problems) }
        let dotenvTemplates = Set(config.templates.map(\.file.path).filter(Template.isDotenvFile))
        for file in files where dotenvTemplates.contains(file.path) {
            for binding in Dotenv.parse(String(decoding: file.bytes, as: UTF8.self)).bindings {
                guard let value = binding.value, !binding.name.hasPrefix("SECRETS_INJECTOR_") else { continue }
                variables.append((binding.name, Array(value.utf8)))
            }
        }
        return variables
    }

    /// One env file's values, in order; each problem appended.
    func values(
        of env: EnvSpec, results: [SecretRequest: Result<SecretValue, AWSCallError>], _ problems: inout [Problem]
    ) -> [(name: String, value: [UInt8])] {
        var values: [(name: String, value: [UInt8])] = []
        for entry in env.entries {
            let request = entry.request
            switch results[request] {
            case .success(let value):
                let content = SecretContent(bytes: value.bytes, isBinary: value.secretString == nil)
                do {
                    let bytes = try content.value(
                        at: entry.valueFrom.jsonKey.map { [$0] } ?? [], alias: entry.valueFrom.secret.name)
                    values.append((entry.name, bytes))
                } catch {
                    problems.append(
                        Problem(message: error.message(output: "env \(entry.name)"), exitStatus: .notFoundOrDenied))
                }
            case .failure(let error):
                if !problems.contains(where: { $0.message == "\(error)" }) {
                    problems.append(Problem(message: "\(error)", exitStatus: ExitStatus.of(error)))
                }
            case nil:
                problems.append(
                    Problem(message: "env \(entry.name): no answer for \(request)", exitStatus: .unavailable))
            }
        }
        return values
    }
}
