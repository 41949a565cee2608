import AWSCredentials
import Foundation
import HTTPTransport
import Synchronization

/// A wall clock that moves only when a test says so.
public final class ManualClock: WallClock, @unchecked Sendable {
    private let time: Mutex<Date>
    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { time = Mutex(start) }
    public func now() -> Date { time.withLock { $0 } }
    public func advance(by seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    public func set(_ date: Date) { time.withLock { $0 = date } }
}

/// An ``HTTPTransport`` that records each request and answers from a handler.
public final class FakeTransport: HTTPTransport, @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest, Int) async throws -> HTTPResponse
    private let state = Mutex<[HTTPRequest]>([])
    private let handler: Handler

    /// `handler` gets the request and its 0-based index among all requests sent.
    public init(_ handler: @escaping Handler) { self.handler = handler }

    /// Answers the given responses (or throws the given errors) in order; the last one repeats.
    public convenience init(script: [Result<HTTPResponse, any Error>]) {
        self.init { _, index in try script[min(index, script.count - 1)].get() }
    }

    public var requests: [HTTPRequest] { state.withLock { $0 } }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let index = state.withLock { requests in
            requests.append(request)
            return requests.count - 1
        }
        return try await handler(request, index)
    }
}

extension HTTPResponse {
    /// A response with a JSON (or any text) body.
    public static func json(_ status: Int, _ body: String, headers: [HTTPHeader] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: Array(body.utf8))
    }
}

/// A one-shot latch: `wait()` suspends until `open()`.
public final class Gate: @unchecked Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    public init() {}
    public func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
    public func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }
}
