import Foundation
import HTTPTransport
import TestSupport
import Testing

@Suite struct CurlTransportTests {
    let peer: PeerProcess
    let transport = CurlTransport()
    var base: String { "http://127.0.0.1:\(peer.string("port"))" }

    init() async throws {
        peer = try await PeerProcess.start(
            python: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("http_peer.py"))
    }

    struct Echo: Decodable {
        var method: String
        var path: String
        var headers: [[String]]
        var body: String
        func header(_ name: String) -> String? { headers.first { $0[0].lowercased() == name.lowercased() }?[1] }
    }

    @Test func postSendsHeadersAndBodyAndReadsTheResponse() async throws {
        let body = #"{"SecretId":"pipeline-pulse/prod/database"}"#
        let response = try await transport.send(
            HTTPRequest(
                method: "POST", url: base + "/echo?x=1",
                headers: [
                    HTTPHeader("Content-Type", "application/x-amz-json-1.1"),
                    HTTPHeader("X-Amz-Target", "secretsmanager.GetSecretValue"),
                ],
                body: Array(body.utf8)))
        #expect(response.status == 200)
        #expect(response.value(forHeader: "content-type") == "application/json")
        let echo = try JSONDecoder().decode(Echo.self, from: Data(response.body))
        #expect(echo.method == "POST")
        #expect(echo.path == "/echo?x=1")
        #expect(echo.body == body)
        #expect(echo.header("X-Amz-Target") == "secretsmanager.GetSecretValue")
        #expect(echo.header("Content-Type") == "application/x-amz-json-1.1")
        #expect(echo.header("Expect") == nil)
    }

    @Test func putWithAnEmptyBodyAndGet() async throws {
        let put = try await transport.send(
            HTTPRequest(
                method: "PUT", url: base + "/echo",
                headers: [HTTPHeader("X-aws-ec2-metadata-token-ttl-seconds", "21600")]))
        let echo = try JSONDecoder().decode(Echo.self, from: Data(put.body))
        #expect(echo.method == "PUT")
        #expect(echo.header("Content-Length") == "0")
        let get = try await transport.send(HTTPRequest(method: "GET", url: base + "/echo"))
        #expect(try JSONDecoder().decode(Echo.self, from: Data(get.body)).method == "GET")
    }

    @Test func errorStatusesAreResponsesNotErrors() async throws {
        let response = try await transport.send(HTTPRequest(method: "GET", url: base + "/status/503"))
        #expect(response.status == 503)
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"status":"as asked"}"#)
    }

    @Test func connectionsAreReused() async throws {
        let transport = CurlTransport(configuration: .init(maximumConcurrentTransfers: 1))
        let first = try await transport.send(HTTPRequest(method: "GET", url: base + "/status/200"))
        let second = try await transport.send(HTTPRequest(method: "GET", url: base + "/status/200"))
        let third = try await transport.send(HTTPRequest(method: "POST", url: base + "/echo", body: Array("x".utf8)))
        #expect(!first.reusedConnection)
        #expect(second.reusedConnection)
        #expect(third.reusedConnection)
        #expect(third.value(forHeader: "X-Connection-Requests") == "3")
    }

    @Test func totalTimeoutEndsASlowExchange() async throws {
        let start = ContinuousClock.now
        let error = await #expect(throws: TransportError.self) {
            try await self.transport.send(
                HTTPRequest(method: "GET", url: self.base + "/slow?ms=60000", timeout: .milliseconds(300)))
        }
        #expect(error?.kind == .timedOut)
        #expect(error?.isTransient == true)
        // Ended by the 300 ms timeout, not by the answer 60 s later (loose: at the start of a full run the
        // machine is saturated for tens of seconds, and this await waits its turn like every other).
        #expect(ContinuousClock.now - start < .seconds(40))
    }

    @Test func refusedConnectionNamesTheEndpoint() async throws {
        let error = await #expect(throws: TransportError.self) {
            try await self.transport.send(HTTPRequest(method: "GET", url: "http://127.0.0.1:1/x?secretId=a"))
        }
        #expect(error?.kind == .connectionRefused)
        #expect(error?.description.contains("http://127.0.0.1:1/x") == true)
        #expect(error?.description.contains("secretId") == false)
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        let start = ContinuousClock.now
        let (transport, url) = (self.transport, base + "/slow?ms=60000")
        let task = Task { try await transport.send(HTTPRequest(method: "GET", url: url, timeout: .seconds(90))) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // Aborted, not waited out: the server answers only after 60 s (loose, as above).
        #expect(ContinuousClock.now - start < .seconds(40))
    }

    @Test func unixSocketRequests() async throws {
        let response = try await transport.send(
            HTTPRequest(method: "GET", url: "http://localhost/echo", unixSocketPath: peer.string("socket")))
        #expect(response.status == 200)
        let echo = try JSONDecoder().decode(Echo.self, from: Data(response.body))
        #expect(echo.path == "/echo")
        #expect(echo.header("Host") == "localhost")
    }

    @Test(arguments: ["file:///etc/passwd", "ldap://127.0.0.1/", "dict://127.0.0.1:11211/stat", "gopher://127.0.0.1/"])
    func onlyHTTPAndHTTPSAreSpoken(url: String) async throws {
        let error = await #expect(throws: TransportError.self) {
            try await self.transport.send(HTTPRequest(method: "GET", url: url))
        }
        #expect(error?.kind == .invalidRequest, "\(url): \(String(describing: error))")
    }

    @Test func oversizedResponsesAreRefused() async throws {
        let small = CurlTransport(configuration: .init(maximumResponseBytes: 1000))
        let fits = try await small.send(HTTPRequest(method: "GET", url: base + "/big?bytes=1000"))
        #expect(fits.body.count == 1000)
        let error = await #expect(throws: TransportError.self) {
            try await small.send(HTTPRequest(method: "GET", url: self.base + "/big?bytes=100000"))
        }
        #expect(error?.kind == .responseTooLarge)
    }

    @Test func manyConcurrentRequestsAllComplete() async throws {
        let (transport, base) = (self.transport, self.base)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try await transport.send(HTTPRequest(method: "GET", url: base + "/status/\(200 + index % 3)"))
                        .status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 40)
        #expect(Set(statuses) == [200, 201, 202])
    }

    @Test func theCABundleIsTheOneConfigured() async throws {
        // TLS to the plain-HTTP peer fails either way; with AWS_CA_BUNDLE pointing nowhere it fails
        // on loading that bundle, which proves the setting reaches libcurl.
        let url = "https://127.0.0.1:\(peer.string("port"))/"
        let configured = CurlTransport(configuration: .init(caBundlePath: "/nonexistent/ca.pem"))
        let badBundle = await #expect(throws: TransportError.self) {
            try await configured.send(
                HTTPRequest(method: "GET", url: url, connectTimeout: .seconds(2), timeout: .seconds(4)))
        }
        #expect(badBundle?.kind == .tls)
        #expect(badBundle?.detail.contains("/nonexistent/ca.pem") == true, "\(badBundle?.detail ?? "")")
        let systemBundle = await #expect(throws: TransportError.self) {
            try await self.transport.send(
                HTTPRequest(method: "GET", url: url, connectTimeout: .seconds(2), timeout: .seconds(4)))
        }
        #expect(systemBundle?.detail.contains("/nonexistent/ca.pem") == false)
    }
}
