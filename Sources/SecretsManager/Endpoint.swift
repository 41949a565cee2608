public import AWSCredentials
import FoundationEssentials
public import HTTPTransport
import InjectorBase

/// Where a service's calls go: the URL, and the `Host` header signed for it.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public var url: String
    public var host: String
    /// Which setting chose it, for error messages.
    public var origin: String

    /// Parses an http(s) URL; `origin` names the setting it came from.
    public init(url: String, origin: String) throws(AWSCallError) {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = parsed.host(percentEncoded: false), !host.isEmpty
        else {
            throw AWSCallError.configuration("\(origin) \"\(url)\" is not an http(s) URL")
        }
        let defaultPort = scheme == "https" ? 443 : 80
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        self.host = parsed.port.map { $0 == defaultPort ? hostPart : "\(hostPart):\($0)" } ?? hostPart
        var trimmed = url
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.url = trimmed + "/"
        self.origin = origin
    }

    public var description: String { url }

    /// Why `url` would send signed requests and the session token in the clear, or nil: plain
    /// http is for loopback only, unless `allowInsecureEndpoint` says otherwise.
    public static func plainHTTPProblem(_ url: String) -> String? {
        guard !ContainerEndpointPolicy.isHTTPSOrLoopback(url) else { return nil }
        return
            "\"\(url)\" is plain http to a host that is not loopback, so the signed requests and the session token would cross the network in the clear: use https, or set \"allowInsecureEndpoint\": true (warned about at every start)"
    }

    /// In order: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL`, the configuration's
    /// `endpoint`, else the regional (or FIPS, or China) AWS endpoint. For Parameter Store,
    /// `AWS_ENDPOINT_URL_SSM` (botocore's name for the service), `AWS_ENDPOINT_URL`, else the
    /// regional `ssm` endpoint: the configuration's `endpoint` is Secrets Manager's. KMS likewise
    /// (`AWS_ENDPOINT_URL_KMS`); IAM (`AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL`) else its global
    /// endpoint, `https://iam.amazonaws.com`.
    public static func resolve(
        environment: [String: String], configured: String?, region: String, service: AWSService = .secretsManager
    ) throws(AWSCallError) -> Endpoint {
        let variable = service.endpointVariable
        if let url = environment[variable], !url.isEmpty {
            return try Endpoint(url: url, origin: variable)
        }
        if let url = environment["AWS_ENDPOINT_URL"], !url.isEmpty {
            return try Endpoint(url: url, origin: "AWS_ENDPOINT_URL")
        }
        if service == .secretsManager, let configured, !configured.isEmpty {
            return try Endpoint(url: configured, origin: "endpoint")
        }
        let fips = environment["AWS_USE_FIPS_ENDPOINT"]?.lowercased() == "true"
        if service == .identity {
            // IAM is global: one endpoint per partition, whatever the region.
            let url =
                region.hasPrefix("cn-")
                ? "https://iam.cn-north-1.amazonaws.com.cn"
                : region.hasPrefix("us-gov-")
                    ? "https://iam.us-gov.amazonaws.com"
                    : fips ? "https://iam-fips.amazonaws.com" : "https://iam.amazonaws.com"
            return try Endpoint(url: url, origin: "the global IAM endpoint")
        }
        let domain = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return try Endpoint(
            url: "https://\(service.signingName)\(fips ? "-fips" : "").\(region).\(domain)",
            origin: "the regional endpoint")
    }
}

/// Finds the AWS region: configuration, `AWS_REGION`, `AWS_DEFAULT_REGION`, else the
/// `TaskARN` in the ECS task metadata (``TaskMetadata``).
public enum RegionResolver {
    public static func resolve(
        configured: String?, environment: [String: String], transport: any HTTPTransport,
        metadata: TaskMetadata? = nil
    ) async throws(AWSCallError) -> String {
        for (value, origin) in [
            (configured, "region"), (environment["AWS_REGION"], "AWS_REGION"),
            (environment["AWS_DEFAULT_REGION"], "AWS_DEFAULT_REGION"),
        ] {
            if let value, !value.isEmpty { return try validate(value, origin: origin) }
        }
        let metadata = metadata ?? TaskMetadata(environment: environment, transport: transport)
        switch await metadata.document() {
        case .failure(.notSet):
            throw AWSCallError.configuration(
                "no AWS region: set AWS_REGION (or \"region\" in the configuration)")
        case .failure(.refused(let problem)):
            throw AWSCallError.configuration(
                "no AWS region: set AWS_REGION; ECS_CONTAINER_METADATA_URI_V4 \(problem)")
        case .failure(.failed(let url, let reason)):
            throw AWSCallError.configuration(
                "no AWS region: AWS_REGION is not set and the ECS task metadata at \(url) did not give one (\(reason))")
        case .success(let document):
            let text = document.taskARN ?? ""
            guard let arn = ARN(text), !arn.region.isEmpty else {
                throw AWSCallError.configuration(
                    "no AWS region: AWS_REGION is not set and the ECS task metadata's TaskARN \"\(text)\" has no region"
                )
            }
            return try validate(arn.region, origin: "the ECS task ARN")
        }
    }

    static func validate(_ region: String, origin: String) throws(AWSCallError) -> String {
        guard RegionName.isValid(region) else {
            throw AWSCallError.configuration(
                "\(origin) \"\(region)\" is not an AWS region name (like ap-southeast-1)")
        }
        return region
    }
}

/// AWS region names, checked offline: lowercase letters, digits and `-`, at least four.
public enum RegionName {
    public static func isValid(_ region: String) -> Bool {
        region.count >= 4 && region.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }
}
