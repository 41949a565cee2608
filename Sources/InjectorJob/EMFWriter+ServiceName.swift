public import AWSCredentials
public import HTTPTransport
public import InjectorTelemetry

extension EMFWriter {
    /// The `ServiceName` dimension: the configured one, else the ECS task family (``TaskMetadata``),
    /// else `secrets-injector`.
    public static func serviceName(configured: String?, metadata: TaskMetadata) async -> String {
        if let configured { return configured }
        guard case .success(let document) = await metadata.document(), let family = document.family, !family.isEmpty
        else { return "secrets-injector" }
        return family
    }

    public static func serviceName(
        configured: String?, environment: [String: String], transport: any HTTPTransport
    ) async -> String {
        await serviceName(
            configured: configured, metadata: TaskMetadata(environment: environment, transport: transport))
    }
}
