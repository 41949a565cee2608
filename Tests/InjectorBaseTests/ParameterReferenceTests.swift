import InjectorBase
import Testing

/// The `valueFrom` forms of ECS's documentation for Parameter Store ("Pass Systems Manager
/// parameters to Amazon ECS containers"), each with its resolution: the name
/// `GetParameters` is asked for, the region of an ARN, and the selector.
@Suite struct ParameterReferenceTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var text: String
        var name: String
        var request: String
        var region: String?
        var selector: String?
        var testDescription: String { text }
    }

    static let rows: [Row] = [
        // ECS's example: a parameter in another region, by its full ARN.
        Row(
            text: "arn:aws:ssm:us-east-2:123456789012:parameter/prod-app1/db-password", name: "/prod-app1/db-password",
            request: "arn:aws:ssm:us-east-2:123456789012:parameter/prod-app1/db-password", region: "us-east-2"),
        // The issue's own: what an operator pastes from a task definition.
        Row(
            text: "arn:aws:ssm:ap-southeast-1:123456789012:parameter/pipeline-pulse/prod/db-pass",
            name: "/pipeline-pulse/prod/db-pass",
            request: "arn:aws:ssm:ap-southeast-1:123456789012:parameter/pipeline-pulse/prod/db-pass",
            region: "ap-southeast-1"),
        // A one-level name in an ARN, and the GovCloud partition.
        Row(
            text: "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/db-pass", name: "db-pass",
            request: "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/db-pass", region: "us-gov-west-1"),
        // The ARN's resource part: the task's region and account.
        Row(text: "parameter/db-pass", name: "db-pass", request: "db-pass"),
        Row(
            text: "parameter/pipeline-pulse/prod/db-pass", name: "/pipeline-pulse/prod/db-pass",
            request: "/pipeline-pulse/prod/db-pass"),
        // A name with a leading slash, as ECS takes one in the task's region.
        Row(
            text: "/pipeline-pulse/prod/db-pass", name: "/pipeline-pulse/prod/db-pass",
            request: "/pipeline-pulse/prod/db-pass"),
        Row(text: "/db-pass", name: "/db-pass", request: "/db-pass"),
        // Selectors: a version, a label, on a name and on an ARN.
        Row(
            text: "/pipeline-pulse/prod/db-pass:3", name: "/pipeline-pulse/prod/db-pass",
            request: "/pipeline-pulse/prod/db-pass:3", selector: "3"),
        Row(
            text: "/pipeline-pulse/prod/db-pass:live", name: "/pipeline-pulse/prod/db-pass",
            request: "/pipeline-pulse/prod/db-pass:live", selector: "live"),
        Row(
            text: "arn:aws:ssm:ap-southeast-1:123456789012:parameter/pipeline-pulse/prod/db-pass:7",
            name: "/pipeline-pulse/prod/db-pass",
            request: "arn:aws:ssm:ap-southeast-1:123456789012:parameter/pipeline-pulse/prod/db-pass:7",
            region: "ap-southeast-1", selector: "7"),
        // Secrets Manager through Parameter Store's reserved path is a name like any other.
        Row(
            text: "/aws/reference/secretsmanager/pipeline-pulse/prod/jwt",
            name: "/aws/reference/secretsmanager/pipeline-pulse/prod/jwt",
            request: "/aws/reference/secretsmanager/pipeline-pulse/prod/jwt"),
    ]

    @Test(arguments: rows)
    func eachFormResolves(_ row: Row) throws {
        let reference = try #require(ParameterReference.parse(row.text)).get()
        #expect(reference.name == row.name)
        #expect(reference.requestName == row.request)
        #expect(reference.region == row.region)
        #expect(reference.selector == row.selector)
        #expect(reference.isVersionSelector == (row.selector?.allSatisfy(\.isNumber) ?? false))
    }

    /// A bare name is Secrets Manager's (ours; ECS would read Parameter Store), and so is its ARN.
    @Test(arguments: [
        "pipeline-pulse/prod/database", "db-pass", "pipeline-pulse/prod/jwt:secret::",
        "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/database-AbCdEf",
    ])
    func otherFormsAreNotParameters(_ text: String) {
        #expect(ParameterReference.parse(text) == nil)
    }

    @Test(arguments: [
        ("arn:aws:ssm:ap-southeast-1:123456789012:secret/x", "is not a Parameter Store ARN"),
        ("arn:aws:ssm:ap-southeast-1:12345:parameter/x", "is not a Parameter Store ARN"),
        ("arn:aws:ssm:ap-southeast-1:123456789012:parameter/", "is not a parameter name"),
        ("/pipeline pulse/db", "is not a parameter name"),
        ("//db", "is not a parameter name"),
        ("/db/", "is not a parameter name"),
        ("/db:1:2", "has more than one selector"),
        ("/db:", "has the selector"),
        ("/db:9lives", "has the selector"),
    ])
    func badReferencesSayWhy(_ text: String, _ problem: String) throws {
        let result = try #require(ParameterReference.parse(text))
        guard case .failure(let error) = result else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(error.description.hasPrefix("\"\(text)\" \(problem)"), "\(error)")
    }
}
