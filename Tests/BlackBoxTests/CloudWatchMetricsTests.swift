import Foundation
import TestSupport
import Testing

/// CloudWatch metrics as Embedded Metric Format lines on standard output.
@Suite(.enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
struct CloudWatchMetricsTests {
    /// The EMF specification's rules for one line (docs.aws.amazon.com, "Specification: Embedded
    /// metric format"): the problems found, none when it is valid.
    static func problems(_ line: String) -> [String] {
        guard let root = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return ["not a JSON object: \(line)"]
        }
        guard let aws = root["_aws"] as? [String: Any] else { return ["no _aws object"] }
        var problems: [String] = []
        if let extra = Set(aws.keys).subtracting(["Timestamp", "CloudWatchMetrics", "LogGroupName"]).first {
            problems.append("_aws has \(extra)")
        }
        guard let timestamp = aws["Timestamp"] as? NSNumber,
            line.range(of: #""Timestamp":\d+[,}]"#, options: .regularExpression) != nil,
            abs(timestamp.doubleValue / 1000 - Date().timeIntervalSince1970) < 3600
        else { return problems + ["_aws.Timestamp is not whole milliseconds since the epoch, now"] }
        guard let directives = aws["CloudWatchMetrics"] as? [[String: Any]], !directives.isEmpty else {
            return problems + ["_aws.CloudWatchMetrics is not a non-empty array of objects"]
        }
        let units: Set<String> = [
            "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
            "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
            "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
            "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
        ]
        for directive in directives {
            if let extra = Set(directive.keys).subtracting(["Namespace", "Dimensions", "Metrics"]).first {
                problems.append("a directive has \(extra)")
            }
            guard let namespace = directive["Namespace"] as? String, (1...255).contains(namespace.count) else {
                problems.append("Namespace missing or too long")
                continue
            }
            guard let sets = directive["Dimensions"] as? [[String]] else {
                problems.append("Dimensions is not an array of arrays of strings")
                continue
            }
            for set in sets {
                if set.count > 30 { problems.append("more than 30 dimensions") }
                for key in set {
                    guard let value = root[key] as? String, (1...1024).contains(value.count) else {
                        problems.append("dimension \(key) has no string value at the top level")
                        continue
                    }
                }
            }
            guard let metrics = directive["Metrics"] as? [[String: Any]], (1...100).contains(metrics.count) else {
                problems.append("Metrics is not 1 to 100 objects")
                continue
            }
            for metric in metrics {
                guard let name = metric["Name"] as? String, (1...1024).contains(name.count) else {
                    problems.append("a metric has no Name")
                    continue
                }
                if let unit = metric["Unit"], !((unit as? String).map(units.contains) ?? false) {
                    problems.append("\(name): unit \(unit) is not a CloudWatch unit")
                }
                if let extra = Set(metric.keys).subtracting(["Name", "Unit", "StorageResolution"]).first {
                    problems.append("\(name) has \(extra)")
                }
                // A JSON number (not a string, not a boolean) under the metric's name, at the top level.
                if root[name] == nil
                    || line.range(of: "\"\(name)\":-?[0-9]", options: .regularExpression) == nil
                {
                    problems.append("\(name) has no number at the top level")
                }
            }
        }
        return problems
    }

    /// Totals of `metric` over the lines.
    static func total(_ metric: String, in lines: [String]) -> Double {
        lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { ($0[metric] as? NSNumber)?.doubleValue }.reduce(0, +)
    }

    @Test func initCountsWhatItFetchedAndEveryLineIsValidEMF() async throws {
        let peers = try await BlackBox.sharedPeers.value
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        let config =
            #"{\#(owner)"outputDir": "\#(folder)/out", "metrics": {"cloudwatch": {"namespace": "SecretsInjector", "serviceName": "pipeline-pulse"}}, "secrets": [{"id": "pipeline-pulse/prod/database"}, {"id": "pipeline-pulse/prod/zoho"}, {"id": "pipeline-pulse/prod/currency"}, {"id": "pipeline-pulse/prod/jwt"}, {"id": "pipeline-pulse/prod/missing", "required": false}]}"#
        let result = try await run(
            BlackBox.binary, ["init"],
            environment: BlackBox.taskEnvironment(peers, ["SECRETS_INJECTOR_CONFIG": config]), timeout: 60)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(!lines.isEmpty)
        for line in lines { #expect(Self.problems(line).isEmpty, "\(Self.problems(line)): \(line)") }
        #expect(lines.allSatisfy { $0.contains(#""_aws""#) }, "standard output holds EMF lines only")
        #expect(!result.stderr.contains(#""_aws""#), "log lines stay apart")
        #expect(Self.total("FetchSuccess", in: lines) == 4)
        #expect(Self.total("FetchFailure", in: lines) == 1)
        #expect(lines.allSatisfy { $0.contains(#""ServiceName":"pipeline-pulse""#) })
        try BlackBox.expectNoSecret(of: peers.ready["secrets"] as? [String: String] ?? [:], in: result.stdout)
    }

    @Test func theSidecarCountsRoundsAndEachSecretsAge() async throws {
        let peers = try await BlackBox.sharedPeers.value
        let folder = try BlackBox.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let output = "\(folder)/out"
        let owner = getuid() == 0 ? "" : #""defaults": {"uid": \#(getuid()), "gid": \#(getgid())}, "#
        let config =
            #"{\#(owner)"outputDir": "\#(output)", "metrics": {"cloudwatch": {"namespace": "SecretsInjector"}}, "refresh": {"intervalSeconds": 1}, "secrets": [{"id": "pipeline-pulse/prod/database"}, {"id": "pipeline-pulse/prod/jwt"}]}"#
        let stdout = "\(folder)/stdout"
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: BlackBox.binary)
        process.arguments = ["run"]
        process.environment = BlackBox.taskEnvironment(peers, ["SECRETS_INJECTOR_CONFIG": config])
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdout))
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try #require(
            await SidecarCommandTests.waitFor(30) { FileManager.default.fileExists(atPath: "\(output)/.ready") })
        // The start and two rounds or more (1 s apart, each against the shared moto server): waited
        // for, bounded, rather than slept for, so that a loaded machine only makes it slower.
        _ = await SidecarCommandTests.waitFor(30) {
            let text = (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").dropLast(text.hasSuffix("\n") ? 0 : 1)
                .filter { $0.contains(#""RefreshLatency""#) }.count >= 3
        }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let lines = try String(contentsOfFile: stdout, encoding: .utf8).split(separator: "\n").map(String.init)
        for line in lines { #expect(Self.problems(line).isEmpty, "\(Self.problems(line)): \(line)") }
        let rounds = lines.filter { $0.contains(#""RefreshLatency""#) }
        #expect(rounds.count >= 3, "the start and two rounds: \(lines)")
        let ages = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["SecretAge"] != nil }
        #expect(
            Set(ages.compactMap { $0["SecretName"] as? String }) == [
                "pipeline-pulse/prod/database", "pipeline-pulse/prod/jwt",
            ])
        #expect(ages.allSatisfy { ($0["SecretAge"] as? Double ?? 99) < 5 })
        #expect(lines.allSatisfy { $0.contains(#""ServiceName":"secrets-injector""#) }, "no ECS metadata: the default")
        try BlackBox.expectNoSecret(of: peers.ready["secrets"] as? [String: String] ?? [:], in: lines.joined())
    }
}
