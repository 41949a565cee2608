import Foundation
import InjectorBase
import TestSupport
import Testing

@testable import InjectorMigration

/// `migrate` refuses a region that does not exist: its list is botocore's, for the partitions a
/// task definition can name (aws, aws-cn, aws-us-gov).
@Suite(.enabled(if: pythonHasModule("botocore"), "botocore is not installed"))
struct KnownRegionsTests {
    @Test func theListIsBotocores() async throws {
        let script = """
            import botocore, json, os
            data = json.load(open(os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints.json")))
            print("\\n".join(sorted(r for p in data["partitions"] if p["partition"] in ("aws", "aws-cn", "aws-us-gov") for r in p["regions"])))
            """
        let result = try await run(
            "/usr/bin/env", ["python3", "-c", script],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        try #require(result.status == 0, "\(result.stderr)")
        let botocore = Set(result.stdout.split(separator: "\n").map(String.init))
        #expect(
            KnownRegions.all == botocore,
            "ours only: \(KnownRegions.all.subtracting(botocore)), botocore's only: \(botocore.subtracting(KnownRegions.all))"
        )
        #expect(
            ARN.partition(region: "cn-north-1") == "aws-cn" && ARN.partition(region: "us-gov-west-1") == "aws-us-gov")
    }

    @Test func officialImagesByName() {
        for image in [
            "postgres", "postgres:16", "docker.io/library/postgres:16-alpine",
            "public.ecr.aws/docker/library/postgres@sha256:abc",
        ] {
            #expect(OfficialImage(image: image) == .postgres, "\(image)")
        }
        for image in ["bitnami/postgresql:16", "myorg/postgres", "postgres-exporter", "registry:5000/app"] {
            #expect(OfficialImage(image: image) == nil, "\(image)")
        }
        #expect(OfficialImage(image: "localhost:5000/library/mysql:8") == .mysql)
    }
}
