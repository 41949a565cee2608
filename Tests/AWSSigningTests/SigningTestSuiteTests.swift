import AWSSigning
import Foundation
import TestSupport
import Testing

/// AWS's own SigV4 test suite (header-signing cases), read from `SIGV4_TEST_SUITE` or from
/// `../shared/testdata/aws-signing-test-suite/v4` beside the repository. Never copied into it.
enum SigningTestSuite {
    static let directory: URL? = {
        let candidates = [
            ProcessInfo.processInfo.environment["SIGV4_TEST_SUITE"].map { URL(fileURLWithPath: $0) },
            Repository.root.appendingPathComponent("../shared/testdata/aws-signing-test-suite/v4").standardized,
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0.path) }
    }()

    static let caseNames: [String] = {
        guard let directory else {
            print("SigV4 test suite not found (set SIGV4_TEST_SUITE or provide ../shared/testdata): skipping its cases")
            return []
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter {
            FileManager.default.fileExists(atPath: directory.appendingPathComponent("\($0)/header-signature.txt").path)
        }
        .sorted()
    }()

    struct Context: Decodable {
        struct Credentials: Decodable {
            var access_key_id: String
            var secret_access_key: String
            var token: String?
        }
        var credentials: Credentials
        var region: String
        var service: String
        var timestamp: String
        var normalize: Bool
        var sign_body: Bool
        var omit_session_token: Bool?
    }

    /// Parses `request.txt`: request line, header lines (continuation lines folded into the value),
    /// a blank line, the body.
    static func parseRequest(_ text: String) -> SigV4Request {
        let lines = text.components(separatedBy: "\n")
        let requestLine = lines[0]
        let method = String(requestLine.prefix { $0 != " " })
        var target = requestLine.dropFirst(method.count + 1)
        if let range = target.range(of: " HTTP/1.1", options: .backwards) { target = target[..<range.lowerBound] }
        let pathPart = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(pathPart[0]).removingPercentEncoding ?? String(pathPart[0])
        var query: [QueryItem] = []
        if pathPart.count > 1 {
            for pair in pathPart[1].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
                let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
                query.append(QueryItem(name, value))
            }
        }
        var headers: [HTTPHeaderField] = []
        var index = 1
        while index < lines.count, !lines[index].isEmpty {
            let line = lines[index]
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append(HTTPHeaderField(String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
            index += 1
        }
        let body = index + 1 < lines.count ? lines[(index + 1)...].joined(separator: "\n") : ""
        return SigV4Request(method: method, path: path, query: query, headers: headers, body: Array(body.utf8))
    }
}

@Suite struct SigningTestSuiteTests {
    @Test(
        "AWS SigV4 test suite, header signing",
        .enabled(if: SigningTestSuite.directory != nil, "SigV4 test suite not found: set SIGV4_TEST_SUITE"),
        arguments: SigningTestSuite.caseNames)
    func headerSigningCase(_ name: String) throws {
        let folder = SigningTestSuite.directory!.appendingPathComponent(name)
        func read(_ file: String) throws -> String {
            try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
        }
        let context = try JSONDecoder().decode(SigningTestSuite.Context.self, from: Data(try read("context.json").utf8))
        let request = SigningTestSuite.parseRequest(try read("request.txt"))
        let token = context.omit_session_token == true ? nil : context.credentials.token
        let signer = SigV4Signer(
            credentials: SigningCredentials(
                accessKeyID: context.credentials.access_key_id,
                secretAccessKey: context.credentials.secret_access_key, sessionToken: token),
            region: context.region, service: context.service, normalizesPath: context.normalize,
            addsContentSHA256Header: context.sign_body, unsignedHeaders: [])
        let date = try #require(ISO8601DateFormatter().date(from: context.timestamp))

        let signed = try signer.sign(request, date: date)

        #expect(signed.canonicalRequest == (try read("header-canonical-request.txt")), "\(name): canonical request")
        #expect(signed.stringToSign == (try read("header-string-to-sign.txt")), "\(name): string to sign")
        #expect(signed.signature == (try read("header-signature.txt")), "\(name): signature")
        let expectedAuthorization = try read("header-signed-request.txt").components(separatedBy: "\n")
            .first { $0.hasPrefix("Authorization:") }
        #expect("Authorization:" + signed.authorization == expectedAuthorization, "\(name): Authorization header")
    }

    @Test func thePeersArePresentInCI() throws {
        // .ci/run always provides the suite and botocore; when either is missing there, signing is not proven.
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            #expect(SigningTestSuite.caseNames.count >= 30, "the SigV4 test suite must be present in CI")
            #expect(BotocoreDifferentialTests.hasBotocore, "botocore must be installed in CI")
        }
    }
}
