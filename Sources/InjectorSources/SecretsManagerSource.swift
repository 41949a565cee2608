import FoundationEssentials
public import InjectorBase
public import Logging
public import SecretsManager

/// AWS Secrets Manager: current versions by `BatchGetSecretValue` (≤ 20 per call), others by
/// `GetSecretValue`, discovery by `ListSecrets`. A round of `auto` over named secrets checks those
/// that share a name prefix with one `ListSecrets` (``ListingPlan``), and with `DescribeSecret`
/// per secret while the listing is throttled or denied.
///
/// It works with the smallest policy that can read the secrets (`GetSecretValue` on the
/// secrets' ARNs): a denied `BatchGetSecretValue` becomes concurrent `GetSecretValue` calls, and a
/// denied probe (`ListSecrets`, `DescribeSecret`) falls back to the next one the role allows, ending
/// with `GetSecretValue`. Each denial is remembered for the life of the process, so no later call
/// pays for it again, and warned about once, naming the permission that would save calls.
public struct SecretsManagerSource: SecretSource {
    public let client: SecretsManagerClient
    let logger: Logger
    let denials = Denials()
    let listing = ListingState()
    /// Single reads and probes in flight at once when they cannot be batched.
    static let concurrency = 8

    public init(client: SecretsManagerClient, logger: Logger = Logger(label: "secrets-injector")) {
        self.client = client
        self.logger = logger
    }

    public var summary: String {
        "AWS Secrets Manager at \(client.configuration.endpoint) (region \(client.configuration.region))"
    }

    public var deniedOperations: [String] { denials.operations }

    public func list(namePrefix: String) async throws -> [String] {
        try await client.listSecrets(namePrefix: namePrefix).map(\.name)
    }

    public func fetch(_ requests: [SecretRequest]) async throws -> [SecretRequest: Result<SecretValue, AWSCallError>] {
        var results: [SecretRequest: Result<SecretValue, AWSCallError>] = [:]
        let current = requests.filter(\.isCurrent)
        var single = requests.filter { !$0.isCurrent }
        var spread = false
        if !current.isEmpty, denials.contains(.batchGetSecretValue) {
            single = current + single
        } else if !current.isEmpty {
            do {
                // A throttled batch is not retried: its quota (100/s for the account) is what a
                // fleet's deployment runs out of, and GetSecretValue's (10,000/s) is not.
                let batch = try await client.batchGetSecretValue(ids: current.map(\.id), retryThrottling: false)
                for request in current {
                    if let value = batch.values.first(where: { Self.matches(request.id, $0) }) {
                        if value.versionStages.isEmpty || value.versionStages.contains("AWSCURRENT") {
                            results[request] = .success(value)
                        } else {
                            // Not the current version (moto answers a default version that
                            // UpdateSecretVersionStage does not move): read it by its stage.
                            single.append(request)
                        }
                    } else if let error = batch.errors.first(where: { $0.resourceID == request.id }) {
                        // A per-secret AccessDenied here is a real denial of that secret.
                        results[request] = .failure(error.underlying)
                    } else {
                        results[request] = .failure(
                            client.jsonClient.failure(
                                .notFound, "BatchGetSecretValue", request.id, code: "ResourceNotFoundException"))
                    }
                }
            } catch {
                switch error.category {
                case .accessDenied:
                    // BatchGetSecretValue has no resource-level permissions, so a policy scoped to the
                    // secrets' ARNs cannot grant it: read the same secrets one by one.
                    if denials.insert(.batchGetSecretValue) {
                        logger.warning(
                            "BatchGetSecretValue is denied to the task role; reading each secret with GetSecretValue instead. Grant secretsmanager:BatchGetSecretValue on * to read up to 20 secrets per call",
                            metadata: ["deniedOperation": "BatchGetSecretValue", "secrets": "\(current.count)"])
                    }
                case .throttled:
                    // Many tasks starting together: rather than fail, read one by one, spread out.
                    spread = true
                default:
                    throw error
                }
                single = current + single
            }
        }
        for (request, result) in await readEach(single, spread: spread) { results[request] = result }
        return results
    }

    /// `GetSecretValue` for each request, at most ``concurrency`` at a time; `spread` waits a
    /// random 20–250 ms before each call (after throttling).
    private func readEach(_ requests: [SecretRequest], spread: Bool) async -> [(
        SecretRequest, Result<SecretValue, AWSCallError>
    )] {
        await requests.concurrentMap(limit: Self.concurrency) { [client] request in
            if spread {
                try? await client.jsonClient.pause(.milliseconds(20 + Int(client.jsonClient.randomFraction() * 230)))
            }
            do throws(SecretsManagerError) {
                // The current version is asked for by its stage, explicitly: the answer is then
                // always the version that carries AWSCURRENT (moto otherwise answers its default
                // version, which UpdateSecretVersionStage does not move).
                let value = try await client.getSecretValue(
                    id: request.id, versionStage: request.isCurrent ? "AWSCURRENT" : request.versionStage,
                    versionID: request.versionID)
                return (request, .success(value))
            } catch {
                var error = error.underlying
                error.versionStage = request.versionStage
                return (request, .failure(error))
            }
        }
    }

    public func probe(_ requests: [SecretRequest], strategy: RefreshStrategy, discoveryPrefixes: [String]) async throws
        -> ProbeResult
    {
        if strategy == .auto, discoveryPrefixes.isEmpty, !denials.contains(.listSecrets), listing.mayList() {
            if let result = try await probeByListingPrefixes(requests) { return result }
        }
        var strategy = strategy.resolved(discovers: !discoveryPrefixes.isEmpty)
        if strategy == .list {
            if !denials.contains(.listSecrets) {
                do {
                    return try await probeByListing(requests, discoveryPrefixes: discoveryPrefixes)
                } catch {
                    guard error.category == .accessDenied else { throw error }
                    listSecretsDenied(granting: "to check up to 100 secrets per call")
                }
            }
            strategy = .describe
        }
        if strategy == .describe { return try await probeByDescribing(requests, batches: true) }
        return ProbeResult(probes: try await fetch(requests).mapValues(Probe.init), strategy: .get)
    }

    /// A denied `ListSecrets`, remembered for the life of the process and warned about once, with
    /// what granting it would save.
    private func listSecretsDenied(granting saving: String) {
        guard denials.insert(.listSecrets) else { return }
        logger.warning(
            "ListSecrets is denied to the task role; checking versions with DescribeSecret per secret instead. Grant secretsmanager:ListSecrets on * \(saving)",
            metadata: ["deniedOperation": "ListSecrets"])
    }

    /// `auto` with named secrets: one `ListSecrets` for the secrets that share a prefix
    /// (``ListingPlan``), `DescribeSecret` for the others and for any the listing does not show (it
    /// is eventually consistent). Throttled, it is not retried: this round describes every secret,
    /// spread out over 20–250 ms, and the next few rounds do too (``ListingState``). Nil when the
    /// round should describe as `describe` does (nothing to list, ListSecrets denied).
    private func probeByListingPrefixes(_ requests: [SecretRequest]) async throws -> ProbeResult? {
        let current = requests.filter { $0.versionID == nil }
        let plan = listing.plan(for: Set(current.map { SecretName($0.id).name }))
        guard plan.calls > 0, plan.calls < plan.listed.count else { return nil }
        var entries: [SecretListEntry] = []
        do {
            for start in stride(from: 0, to: plan.prefixes.count, by: ListingPlan.prefixesPerCall) {
                let prefixes = Array(
                    plan.prefixes[start..<min(start + ListingPlan.prefixesPerCall, plan.prefixes.count)])
                entries += try await client.listSecrets(namePrefixes: prefixes, retryThrottling: false)
            }
        } catch {
            switch error.category {
            case .accessDenied:
                listSecretsDenied(granting: "to check the secrets that share a name prefix with one call")
                return nil
            case .throttled:
                if listing.throttled(random: client.jsonClient.randomFraction()) {
                    logger.warning(
                        "ListSecrets was throttled \(ListingState.throttlingLimit) times (the account's quota is 100 a second, shared by every task): checking each secret with DescribeSecret from now on",
                        metadata: ["operation": "ListSecrets"])
                } else {
                    logger.info(
                        "ListSecrets is throttled (the account's quota is 100 a second); checking each secret with DescribeSecret for a few rounds",
                        metadata: ["operation": "ListSecrets"])
                }
                return try await probeByDescribing(requests, batches: true, spread: true)
            default:
                throw error
            }
        }
        listing.succeeded(random: client.jsonClient.randomFraction())
        let pages = (entries.count + 99) / 100
        if pages >= plan.listed.count, listing.giveUp() {
            logger.warning(
                "ListSecrets under \(plan.prefixes.joined(separator: ", ")) answers \(entries.count) secrets for \(plan.listed.count) checked: checking each with DescribeSecret from now on, which takes fewer calls",
                metadata: ["operation": "ListSecrets"])
        }
        let listed = Set(plan.listed)
        var probes: [SecretRequest: Probe] = [:]
        var rest: [SecretRequest] = []
        for request in requests {
            if let versionID = request.versionID {
                probes[request] = .version(versionID, stages: nil, nextRotation: nil)
            } else if listed.contains(SecretName(request.id).name),
                let entry = entries.first(where: {
                    $0.name == SecretName(request.id).name || SecretName.names(request.id, arn: $0.arn)
                })
            {
                probes[request] = Self.probe(
                    request, versions: entry.versionIDsToStages, nextRotation: entry.nextRotationDate)
            } else {
                rest.append(request)
            }
        }
        guard !rest.isEmpty else { return ProbeResult(probes: probes, strategy: .list) }
        let described = try await probeByDescribing(rest, batches: true)
        probes.merge(described.probes) { $1 }
        return ProbeResult(probes: probes, strategy: described.strategy == .get ? .get : .list)
    }

    /// `DescribeSecret` per secret (with the `get` strategy, or where it is denied, `GetSecretValue`
    /// per secret): never `ListSecrets` or `BatchGetSecretValue`.
    public func probeEach(_ requests: [SecretRequest], strategy: RefreshStrategy) async throws -> ProbeResult {
        if strategy == .get { return ProbeResult(probes: await readEachProbes(requests), strategy: .get) }
        return try await probeByDescribing(requests, batches: false)
    }

    private func readEachProbes(_ requests: [SecretRequest]) async -> [SecretRequest: Probe] {
        var probes: [SecretRequest: Probe] = [:]
        for (request, result) in await readEach(requests, spread: false) { probes[request] = Probe(result) }
        return probes
    }

    /// One ListSecrets (100 a page) for every secret: the discovery prefixes and the folders of the
    /// named secrets, OR'ed in one filter when there are at most ten of them.
    private func probeByListing(_ requests: [SecretRequest], discoveryPrefixes: [String])
        async throws(SecretsManagerError) -> ProbeResult
    {
        let names = requests.map { SecretName($0.id).name }
        var prefixes = discoveryPrefixes
        for name in names {
            let folder = name.lastIndex(of: "/").map { String(name[...$0]) } ?? name
            if !prefixes.contains(where: { folder.hasPrefix($0) }) { prefixes.append(folder) }
        }
        let entries = try await client.listSecrets(namePrefixes: prefixes.count <= 10 ? prefixes : [])
        var probes: [SecretRequest: Probe] = [:]
        for request in requests {
            if let versionID = request.versionID {
                probes[request] = .version(versionID, stages: nil, nextRotation: nil)
            } else if let entry = entries.first(where: {
                $0.name == SecretName(request.id).name || SecretName.names(request.id, arn: $0.arn)
            }) {
                probes[request] = Self.probe(
                    request, versions: entry.versionIDsToStages, nextRotation: entry.nextRotationDate)
            } else {
                probes[request] = .failure(
                    client.jsonClient.failure(
                        .notFound, "ListSecrets", request.id, code: "ResourceNotFoundException",
                        awsMessage:
                            "not in ListSecrets (deleted, or not yet visible: ListSecrets is eventually consistent)"))
            }
        }
        var listed: [String: [String]] = [:]
        for prefix in discoveryPrefixes {
            listed[prefix] = entries.map(\.name).filter { $0.hasPrefix(prefix) }.sorted()
        }
        return ProbeResult(probes: probes, listed: listed, strategy: .list)
    }

    /// `DescribeSecret` per secret (never touches KMS), ``concurrency`` at a time (`spread`: each
    /// after a random 20–250 ms, after throttling). A secret whose
    /// DescribeSecret is denied is read instead, in this round and every later one: with `batches`,
    /// as `fetch` reads; without, with `GetSecretValue` per secret.
    private func probeByDescribing(_ requests: [SecretRequest], batches: Bool, spread: Bool = false) async throws
        -> ProbeResult
    {
        var probes: [SecretRequest: Probe] = [:]
        var described: [SecretRequest] = []
        var read: [SecretRequest] = []
        for request in requests {
            if let versionID = request.versionID {
                probes[request] = .version(versionID, stages: nil, nextRotation: nil)
            } else if denials.containsDescribe(of: request.id) {
                read.append(request)
            } else {
                described.append(request)
            }
        }
        let answers = await described.concurrentMap(limit: Self.concurrency) { [client] request in
            if spread {
                try? await client.jsonClient.pause(.milliseconds(20 + Int(client.jsonClient.randomFraction() * 230)))
            }
            // The call is awaited on its own before the tuple is built: a `try await` inside the
            // tuple made the release build (Swift 6.3, -O) lose the child task's result, so that
            // the first DescribeSecret round of the sidecar crashed (found by bench/fleet).
            do throws(SecretsManagerError) {
                let description = try await client.describeSecret(id: request.id)
                return (request, Result<SecretDescription, AWSCallError>.success(description))
            } catch {
                return (request, .failure(error.underlying))
            }
        }
        var denied: [String] = []
        for (request, answer) in answers {
            switch answer {
            case .success(let description):
                probes[request] = Self.probe(
                    request, versions: description.versionIDsToStages, nextRotation: description.nextRotationDate)
            case .failure(let error) where error.category == .accessDenied:
                denied.append(request.id)
                read.append(request)
            case .failure(let error):
                probes[request] = .failure(error)
            }
        }
        if !denied.isEmpty, denials.insertDescribe(of: denied) {
            logger.warning(
                "DescribeSecret is denied to the task role; checking these secrets with GetSecretValue each round instead (reads the value, uses KMS). Grant secretsmanager:DescribeSecret on \(denied.map(resourcePattern).joined(separator: ", ")) to make refreshing cheaper",
                metadata: ["deniedOperation": "DescribeSecret", "secrets": "\(denied.count)"])
        }
        if batches {
            for (request, result) in try await fetch(read) { probes[request] = Probe(result) }
        } else {
            probes.merge(await readEachProbes(read)) { $1 }
        }
        return ProbeResult(probes: probes, strategy: described.count > denied.count ? .describe : .get)
    }

    /// The IAM resource pattern that covers a secret: its ARN, or the ARN of its name with any suffix.
    private func resourcePattern(_ id: String) -> String {
        AWSService.secretsManager.resourcePattern(of: id, region: client.configuration.region)
    }

    /// The version carrying the request's stage (`AWSCURRENT` unless set), or a not-found failure.
    /// Should several carry it (AWS never does; moto can, after a `PutSecretValue` that follows an
    /// `UpdateSecretVersionStage`), the smallest id is taken, so that rounds never flap between them.
    static func probe(_ request: SecretRequest, versions: [String: [String]], nextRotation: Date?) -> Probe {
        let stage = request.versionStage ?? "AWSCURRENT"
        guard let version = versions.filter({ $0.value.contains(stage) }).keys.min() else {
            var error = AWSCallError(
                service: .secretsManager, category: .notFound, code: "ResourceNotFoundException",
                awsMessage: "no version has the stage \(stage)", resourceID: request.id)
            error.versionStage = stage
            return .failure(error)
        }
        return .version(version, stages: versions[version], nextRotation: nextRotation)
    }

    /// A value answers an id given as its name, its full ARN, or an ARN without the random suffix.
    static func matches(_ id: String, _ value: SecretValue) -> Bool {
        id == value.name || SecretName.names(id, arn: value.arn)
    }
}
