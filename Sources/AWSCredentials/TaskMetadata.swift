import FoundationEssentials
public import HTTPTransport
import Synchronization

/// The ECS task metadata endpoint v4's task document (`${ECS_CONTAINER_METADATA_URI_V4}/task`):
/// the task's ARN (its region, when none is configured) and family (CloudWatch's `ServiceName`).
/// One request per process, whoever asks first; everyone after shares its answer. The endpoint is
/// the ECS agent's, so it is held to the same hosts as the credential endpoint.
public final class TaskMetadata: Sendable {
    public struct Document: Sendable, Equatable, Decodable {
        public var taskARN: String?
        public var family: String?

        public init(taskARN: String? = nil, family: String? = nil) {
            self.taskARN = taskARN
            self.family = family
        }

        enum CodingKeys: String, CodingKey {
            case taskARN = "TaskARN"
            case family = "Family"
        }
    }

    /// Why there is no document: the variable is unset, names a host that is not the agent's, or
    /// the request failed.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case notSet
        case refused(String)
        case failed(url: String, reason: String)

        public var description: String {
            switch self {
            case .notSet: "ECS_CONTAINER_METADATA_URI_V4 is not set"
            case .refused(let problem): "ECS_CONTAINER_METADATA_URI_V4 \(problem)"
            case .failed(let url, let reason): "the ECS task metadata at \(url) did not answer (\(reason))"
            }
        }
    }

    private let url: Result<String, Failure>
    private let transport: any HTTPTransport
    private let answer = Mutex<Task<Result<Document, Failure>, Never>?>(nil)

    public init(environment: [String: String], transport: any HTTPTransport) {
        self.transport = transport
        if let metadata = environment["ECS_CONTAINER_METADATA_URI_V4"], !metadata.isEmpty {
            if let problem = ContainerEndpointPolicy.problem(metadata) {
                url = .failure(.refused(problem))
            } else {
                url = .success(metadata.hasSuffix("/") ? metadata + "task" : metadata + "/task")
            }
        } else {
            url = .failure(.notSet)
        }
    }

    /// The task document, fetched on the first call only.
    public func document() async -> Result<Document, Failure> {
        let task = answer.withLock { answer in
            if let answer { return answer }
            let fetch = Task { [url, transport] in await Self.fetch(url, transport: transport) }
            answer = fetch
            return fetch
        }
        return await task.value
    }

    private static func fetch(_ location: Result<String, Failure>, transport: any HTTPTransport) async -> Result<
        Document, Failure
    > {
        let url: String
        switch location {
        case .success(let value): url = value
        case .failure(let failure): return .failure(failure)
        }
        do {
            let response = try await transport.send(
                HTTPRequest(method: "GET", url: url, connectTimeout: .seconds(2), timeout: .seconds(2), proxy: .never))
            guard response.status == 200 else { return .failure(.failed(url: url, reason: "HTTP \(response.status)")) }
            return .success(try JSONDecoder().decode(Document.self, from: Data(response.body)))
        } catch {
            return .failure(.failed(url: url, reason: "\(error)"))
        }
    }
}
