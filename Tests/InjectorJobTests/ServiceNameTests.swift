import Foundation
import HTTPTransport
import InjectorSources
import InjectorTelemetry
import Logging
import SecretsManager
import TestSupport
import Testing

@testable import InjectorJob

/// CloudWatch's `ServiceName`, as `init` and `run` choose it (``TaskMetadata``).
@Suite struct ServiceNameTests {
    @Test func theServiceNameIsTheTaskFamilyFromTheMetadataEndpoint() async throws {
        let transport = FakeTransport { request, _ in
            #expect(request.url == "http://169.254.170.2/v4/abc/task")
            return .json(
                200,
                #"{"Cluster":"prod","TaskARN":"arn:aws:ecs:ap-southeast-1:1:task/prod/x","Family":"pipeline-pulse-api"}"#
            )
        }
        let environment = ["ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc"]
        #expect(
            await EMFWriter.serviceName(configured: nil, environment: environment, transport: transport)
                == "pipeline-pulse-api")
        #expect(
            await EMFWriter.serviceName(configured: "mine", environment: environment, transport: transport) == "mine")
        #expect(
            await EMFWriter.serviceName(configured: nil, environment: [:], transport: transport) == "secrets-injector")
        let elsewhere = ["ECS_CONTAINER_METADATA_URI_V4": "http://10.0.0.1/v4/abc"]
        #expect(
            await EMFWriter.serviceName(configured: nil, environment: elsewhere, transport: transport)
                == "secrets-injector", "only the ECS agent's own addresses are asked")
        #expect(transport.requests.count == 1, "asked once: when nothing is configured and the endpoint is the agent's")
    }

    /// The region and the ServiceName both come from the task document: one request gives both
    /// (it was fetched twice).
    @Test func oneTaskMetadataRequestGivesTheRegionAndTheServiceName() async throws {
        let transport = FakeTransport { request, _ in
            #expect(request.url == "http://169.254.170.2/v4/abc/task")
            return .json(
                200,
                #"{"Cluster":"prod","TaskARN":"arn:aws:ecs:ap-southeast-1:1:task/prod/x","Family":"pipeline-pulse-api"}"#
            )
        }
        let config = try makeConfig(
            #"{"outputDir": "/out", "secrets": [{"id": "a"}], "metrics": {"cloudwatch": {"namespace": "PipelinePulse"}}}"#
        )
        let injector = try await Injector.build(
            config: config,
            environment: [
                "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc", "AWS_ACCESS_KEY_ID": "AKIA",
                "AWS_SECRET_ACCESS_KEY": "s",
            ], transport: transport, logger: Logger(label: "test"))
        #expect(injector.emf?.serviceName == "pipeline-pulse-api")
        let source = try #require(injector.source as? SecretsManagerSource)
        #expect(source.client.configuration.region == "ap-southeast-1")
        #expect(transport.requests.count == 1)
    }
}
