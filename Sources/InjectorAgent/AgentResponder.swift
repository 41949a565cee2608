/// The Agent's API over the sidecar's cache: ``AgentAPI`` routes a request (decides what it
/// is), and this answers the route — `/ping`, `/health`, `/metrics`, and secrets from the last
/// committed values, after a refresh round when the request says `refreshNow`.
public struct AgentResponder: Sendable {
    package let api: AgentAPI
    let store: SecretStore
    let health: @Sendable () async -> HealthReport
    let metricsText: @Sendable () async -> String
    /// Checks the secret a `refreshNow` request names (at most once per 5 s per secret); gives the
    /// answer itself when the check read a version the store does not keep (a `versionId` asked for).
    let refreshNow: @Sendable (SecretQuery) async -> AgentResponse?
    /// `POST /refresh`: checks one configured secret (or all, nil) now, and answers after the commit.
    let refresh: @Sendable (String?) async -> AgentResponse
    /// The SSRF token the TCP port demands; nil when TCP is off.
    let token: @Sendable () -> String?

    public init(
        api: AgentAPI = AgentAPI(settings: .init()), store: SecretStore,
        health: @escaping @Sendable () async -> HealthReport, metricsText: @escaping @Sendable () async -> String,
        refreshNow: @escaping @Sendable (SecretQuery) async -> AgentResponse?,
        refresh: @escaping @Sendable (String?) async -> AgentResponse = { _ in
            AgentResponse(status: 404, contentType: nil, body: Array("Not found".utf8))
        },
        token: @escaping @Sendable () -> String?
    ) {
        self.api = api
        self.store = store
        self.health = health
        self.metricsText = metricsText
        self.refreshNow = refreshNow
        self.refresh = refresh
        self.token = token
    }

    /// The answer, when it can be given at once from the snapshot (everything but `/health`,
    /// `/metrics` and `refreshNow`): the event loop answers it without leaving its thread.
    public func respondNow(to request: AgentRequest) -> AgentResponse? { respondNow(route(request)) }

    package func respondNow(_ route: AgentRoute) -> AgentResponse? {
        switch route {
        case .refused(let response): response
        case .ping: Self.healthy
        case .secret(let query) where !query.refreshNow: store.answer(query)
        case .secret, .health, .metrics, .refresh: nil
        }
    }

    /// The answer to any request; waits for a refresh round when the request asks for one.
    public func respond(to request: AgentRequest) async -> AgentResponse {
        let route = route(request)
        if let response = respondNow(route) { return response }
        return await answerLater(route)
    }

    /// ``AgentAPI/route(_:token:)`` with the token the TCP port demands now: the one routing, not a
    /// second one; the transport asks for the route, then for its answer (now, or later).
    package func route(_ request: AgentRequest) -> AgentRoute {
        api.route(request, token: request.transport == .tcp ? token() : nil)
    }

    static let healthy = AgentResponse.text(200, "healthy").encodedOnce()

    /// The answers that wait: `/health`, `/metrics`, and a secret after a `refreshNow` round.
    package func answerLater(_ route: AgentRoute) async -> AgentResponse {
        switch route {
        case .refused(let response):
            return response
        case .ping:
            return Self.healthy
        case .health:
            let report = await health()
            return .json(report.status == .unhealthy ? 503 : 200, report.json)
        case .metrics:
            return AgentResponse(
                status: 200, contentType: "text/plain; version=0.0.4", body: Array(await metricsText().utf8))
        case .secret(let query):
            if query.refreshNow, let answer = await refreshNow(query) { return answer }
            return store.answer(query, refreshed: query.refreshNow)
        case .refresh(let secretID):
            return await refresh(secretID)
        }
    }
}
