import InjectorAccess
import InjectorBase
import Testing

@Suite struct AccessReviewCommandTests {
    static let role = "arn:aws:iam::123456789012:role/pipeline-pulse-task"

    @Test func keepsItsFlags() {
        let command = AccessReviewCommand(
            days: 90, expectedPrincipals: [], taskDefinition: nil, requireVPCEndpoint: false, format: "text")
        #expect(command.days == 90)
    }

    static func usage(days: Int = 90, expected: [String] = [role], format: String = "text") -> String? {
        do {
            _ = try AccessReviewCommand(
                days: days, expectedPrincipals: expected, taskDefinition: nil, requireVPCEndpoint: false,
                format: format
            ).checkedFlags()
            return nil
        } catch let error as CommandExit {
            return error.exitStatus == .usage ? error.message : "exit \(error.exitStatus)"
        } catch {
            return "\(error)"
        }
    }

    @Test func theWindowIsCloudTrailsNinetyDays() throws {
        for days in [0, -1, 91, 365] {
            let message = try #require(Self.usage(days: days), "\(days)")
            #expect(message.contains("CloudTrail's event history keeps 90 days"), "\(message)")
            #expect(message.contains("S3") && message.contains("Athena"))
        }
        for days in [1, 7, 90] { #expect(Self.usage(days: days) == nil) }
    }

    @Test func flagsAreCheckedFirst() throws {
        #expect(Self.usage(format: "yaml")?.contains("--format yaml") == true)
        let none = try #require(Self.usage(expected: []))
        #expect(none.contains("--expected-principal") && none.contains("--task-definition"))
        let (format, expected) = try AccessReviewCommand(
            days: 30, expectedPrincipals: ["arn:aws:sts::123456789012:assumed-role/pipeline-pulse-task/s"],
            taskDefinition: nil, requireVPCEndpoint: true, format: "markdown"
        ).checkedFlags()
        #expect(format == .markdown && expected == [Self.role])
    }
}
