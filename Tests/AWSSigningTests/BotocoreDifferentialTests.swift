import AWSSigning
import Foundation
import TestSupport
import Testing

/// Signs randomized requests with ``SigV4Signer`` and with botocore's `SigV4Auth`, and requires the
/// same `Authorization` header. The seed is random per run and printed on failure;
/// `SIGV4_DIFF_SEED` replays one.
@Suite struct BotocoreDifferentialTests {
    struct Case: Encodable {
        var method: String
        var host: String
        var path: String
        var query: [[String]]
        var headers: [[String]]
        var body: String
        var region: String
        var service: String
        var accessKeyID: String
        var secretAccessKey: String
        var sessionToken: String?
        var epochSeconds: Int
    }

    static let hasBotocore = pythonHasModule("botocore")

    @Test(.enabled(if: hasBotocore, "python3 with botocore is not installed"))
    func authorizationMatchesBotocore() async throws {
        let seed =
            ProcessInfo.processInfo.environment["SIGV4_DIFF_SEED"].flatMap(UInt64.init)
            ?? UInt64.random(in: 0...UInt64.max)
        var random = SplitMix64(seed: seed)
        let cases = (0..<600).map { _ in Self.randomCase(&random) }

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "botocore_sigv4.py")
        let result = try await run(
            "/usr/bin/env", ["python3", script.path], environment: ProcessInfo.processInfo.environment,
            input: try JSONEncoder().encode(cases))
        try #require(result.status == 0, "botocore signer failed: \(result.stderr)")
        let expected = try JSONDecoder().decode([String].self, from: Data(result.stdout.utf8))
        try #require(expected.count == cases.count)

        var mismatches = 0
        for (index, testCase) in cases.enumerated() {
            let signer = SigV4Signer(
                credentials: SigningCredentials(
                    accessKeyID: testCase.accessKeyID, secretAccessKey: testCase.secretAccessKey,
                    sessionToken: testCase.sessionToken),
                region: testCase.region, service: testCase.service)
            let request = SigV4Request(
                method: testCase.method, path: testCase.path,
                query: testCase.query.map { QueryItem($0[0], $0[1]) },
                headers: [HTTPHeaderField("Host", testCase.host)]
                    + testCase.headers.map { HTTPHeaderField($0[0], $0[1]) },
                body: Array(testCase.body.utf8))
            let signed = try signer.sign(
                request, date: Date(timeIntervalSince1970: TimeInterval(testCase.epochSeconds)))
            if signed.authorization != expected[index] {
                mismatches += 1
                if mismatches <= 3 {
                    Issue.record(
                        "seed \(seed), case \(index): \(testCase)\nours:     \(signed.authorization)\nbotocore: \(expected[index])\ncanonical request:\n\(signed.canonicalRequest)"
                    )
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(cases.count) requests differ from botocore (seed \(seed))")
    }

    static func randomCase(_ random: inout SplitMix64) -> Case {
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }
        func text(_ alphabet: [String], _ lengths: ClosedRange<Int>) -> String {
            let length = lengths.lowerBound + Int(random.next() % UInt64(lengths.count))
            return (0..<length).map { _ in pick(alphabet) }.joined()
        }
        let letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".map(String.init)
        let tokenChars = letters + "0123456789-".map(String.init)
        let valueChars =
            letters + "0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".map(String.init) + ["  ", "\t", " \t "]
        let queryChars = valueChars + ["ሴ", "é", "日本", "=", "&", "+", "%", "/"]
        let pathChars = letters + "0123456789-_.~".map(String.init) + [" ", "é", "ሴ", "+", "@"]

        var headers: [[String]] = []
        for _ in 0..<Int(random.next() % 6) {
            let name: String
            switch random.next() % 4 {
            case 0: name = pick(["Content-Type", "content-TYPE", "X-Amz-Target", "x-amz-meta-Owner", "Accept"])
            default:
                name =
                    "X-"
                    + String(
                        text(tokenChars, 1...12).map {
                            chance(50) ? Character($0.uppercased()) : Character($0.lowercased())
                        })
            }
            var value = text(valueChars, 0...24)
            if chance(20) { value = "  " + value + " \t" }
            headers.append([name, value])
            if chance(15) { headers.append([name.lowercased(), text(valueChars, 1...8)]) }
        }
        if chance(30) { headers.append(["User-Agent", "secrets-injector/test " + text(tokenChars, 1...5)]) }

        var query: [[String]] = []
        for _ in 0..<Int(random.next() % 5) {
            query.append([text(queryChars, 1...10), chance(15) ? "" : text(queryChars, 0...16)])
        }
        if chance(10), let first = query.first { query.append([first[0], text(queryChars, 1...4)]) }

        // Segments of only dots are left out: for "/a/." botocore gives "/a" where RFC 3986 §5.2.4 (and
        // AWS's suite) give "/a/"; the client only ever signs "/".
        let segments = (0..<(1 + Int(random.next() % 3))).map { _ in
            var segment = text(pathChars, 1...8)
            while segment.allSatisfy({ $0 == "." }) { segment = text(pathChars, 1...8) }
            return segment
        }
        let path = chance(40) ? "/" : "/" + segments.joined(separator: "/") + (chance(30) ? "/" : "")
        let port = chance(30) ? ":\(1024 + random.next() % 60_000)" : ""
        return Case(
            method: pick(["GET", "POST", "PUT", "DELETE"]),
            host: pick([
                "secretsmanager.ap-southeast-1.amazonaws.com", "127.0.0.1", "example.amazonaws.com",
                "sts.cn-north-1.amazonaws.com.cn",
            ]) + port,
            path: path, query: query, headers: headers,
            body: chance(40) ? "" : #"{"SecretId":""# + text(queryChars, 0...40) + #""}"#,
            region: pick(["us-east-1", "ap-southeast-1", "eu-central-1", "cn-north-1", "us-gov-west-1"]),
            service: pick(["secretsmanager", "sts", "iam", "service", "s3-object-lambda"]),
            accessKeyID: "AKIA" + text(tokenChars, 16...16).uppercased(),
            secretAccessKey: text(letters + ["/", "+", "0", "9"], 40...40),
            sessionToken: chance(50) ? text(letters + ["/", "+", "="], 20...300) : nil,
            epochSeconds: 1_000_000_000 + Int(random.next() % 2_000_000_000))
    }
}
