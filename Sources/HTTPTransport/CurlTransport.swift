internal import CCurl
import InjectorBase
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// An ``HTTPTransport`` over libcurl's easy interface.
///
/// Transfers run on a few threads of the transport's own (never on Swift's cooperative pool);
/// each thread keeps one easy handle, so connections, TLS sessions and DNS answers are reused
/// from one request to the next. Cancelling the awaiting task aborts the transfer from libcurl's
/// progress callback.
public final class CurlTransport: HTTPTransport {
    public struct Configuration: Sendable {
        /// PEM bundle of trusted CAs (`AWS_CA_BUNDLE`); nil uses the system's.
        public var caBundlePath: String?
        /// Transfers in flight at once; more wait in line.
        public var maximumConcurrentTransfers: Int
        /// A larger response is refused rather than held in memory.
        public var maximumResponseBytes: Int

        public init(
            caBundlePath: String? = nil, maximumConcurrentTransfers: Int = 4, maximumResponseBytes: Int = 32 << 20
        ) {
            self.caBundlePath = caBundlePath
            self.maximumConcurrentTransfers = maximumConcurrentTransfers
            self.maximumResponseBytes = maximumResponseBytes
        }
    }

    private let configuration: Configuration
    private let pool: CurlWorkerPool

    public init(configuration: Configuration = Configuration()) {
        _ = curlGlobalInitialization
        self.configuration = configuration
        self.pool = CurlWorkerPool(maximumWorkers: max(1, configuration.maximumConcurrentTransfers))
    }

    deinit { pool.shutdown() }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = CurlTransfer(request: request, configuration: configuration)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                transfer.continuation = continuation
                if Task.isCancelled { transfer.cancel() }
                pool.submit(transfer)
            }
        } onCancel: {
            transfer.cancel()
        }
    }
}

/// `curl_global_init` is not thread-safe in older libcurl; Swift runs a global's initializer once.
private let curlGlobalInitialization: Void = {
    _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

/// Worker threads, started on demand up to a maximum, each owning one easy handle.
final class CurlWorkerPool: @unchecked Sendable {
    private let maximumWorkers: Int
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    // Guarded by `mutex`.
    private var queue: [CurlTransfer] = []
    private var workers = 0
    private var idleWorkers = 0
    private var isShutDown = false

    init(maximumWorkers: Int) {
        self.maximumWorkers = maximumWorkers
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    func submit(_ transfer: CurlTransfer) {
        pthread_mutex_lock(&mutex)
        queue.append(transfer)
        let startWorker = idleWorkers == 0 && workers < maximumWorkers && !isShutDown
        if startWorker { workers += 1 }
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
        if startWorker { startThread() }
    }

    /// Lets the workers finish what is queued, then end.
    func shutdown() {
        pthread_mutex_lock(&mutex)
        isShutDown = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }

    private func next() -> CurlTransfer? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while queue.isEmpty {
            if isShutDown {
                workers -= 1
                return nil
            }
            idleWorkers += 1
            pthread_cond_wait(&condition, &mutex)
            idleWorkers -= 1
        }
        return queue.removeFirst()
    }

    private func startThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { context in
                let pool = Unmanaged<CurlWorkerPool>.fromOpaque(context!).takeRetainedValue()
                pool.work()
                return nil
            }, context)
        if result == 0 {
            pthread_detach(thread)
        } else {
            // No thread: run the queue on this one rather than leave callers waiting forever.
            Unmanaged<CurlWorkerPool>.fromOpaque(context).release()
            work()
        }
    }

    private func work() {
        guard let handle = curl_easy_init() else {
            while let transfer = next() {
                transfer.finish(
                    .failure(TransportError(kind: .other, url: transfer.request.url, detail: "curl_easy_init failed")))
            }
            return
        }
        defer { curl_easy_cleanup(handle) }
        while let transfer = next() {
            curl_easy_reset(handle)  // keeps live connections and caches
            transfer.perform(on: handle)
        }
    }
}

/// One request's state while a worker performs it.
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    private let configuration: CurlTransport.Configuration
    // Set before submission, resumed once by `finish`.
    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    private let cancelled = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    // Touched only by the worker thread during `perform`.
    fileprivate var responseBody: [UInt8] = []
    fileprivate var responseHeaders: [HTTPHeader] = []
    fileprivate var tooLarge = false
    fileprivate var maximumResponseBytes: Int { configuration.maximumResponseBytes }

    init(request: HTTPRequest, configuration: CurlTransport.Configuration) {
        self.request = request
        self.configuration = configuration
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }
    fileprivate var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    func finish(_ result: Result<HTTPResponse, any Error>) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        continuation?.resume(with: result)
        continuation = nil
    }

    func perform(on handle: UnsafeMutableRawPointer) {
        if isCancelled {
            finish(.failure(CancellationError()))
            return
        }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for header in request.headers {
            // libcurl's syntax for a header with an empty value is "Name;".
            let line = header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)"
            headerList = curl_slist_append(headerList, line)
        }
        headerList = curl_slist_append(headerList, "Expect:")  // never wait for 100-continue

        let context = Unmanaged.passUnretained(self).toOpaque()
        let code: CURLcode = request.body.withUnsafeBufferPointer { body in
            errorBuffer.withUnsafeMutableBufferPointer { errorBytes in
                do throws(SetupError) {
                    try configure(
                        handle, headers: headerList, body: body, errorBuffer: errorBytes.baseAddress!, context: context)
                } catch {
                    return error.code
                }
                return curl_easy_perform(handle)
            }
        }

        if code != CURLE_OK {
            let message = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            let detail = message.isEmpty ? String(cString: curl_easy_strerror(code)) : message
            finish(.failure(transportError(code, detail: detail)))
            return
        }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var connects = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        finish(
            .success(
                HTTPResponse(
                    status: status, headers: responseHeaders, body: responseBody, reusedConnection: connects == 0)))
    }

    private struct SetupError: Error { var code: CURLcode }

    private func check(_ code: CURLcode) throws(SetupError) {
        if code != CURLE_OK { throw SetupError(code: code) }
    }

    private func configure(
        _ handle: UnsafeMutableRawPointer, headers: UnsafeMutablePointer<curl_slist>?,
        body: UnsafeBufferPointer<UInt8>, errorBuffer: UnsafeMutablePointer<CChar>, context: UnsafeMutableRawPointer
    ) throws(SetupError) {
        try check(ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        try check(ccurl_setopt_string(handle, CURLOPT_URL, request.url))
        // HTTP and HTTPS only, whatever the URL says: libcurl also speaks FILE, LDAP, RTMP, SCP and
        // more, none of which the injector needs (and the image leaves GnuTLS, which RTMP and
        // LDAP would use, uninitialised: Dockerfile).
        try check(ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        try check(ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try check(ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout)))
        try check(ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(request.timeout)))
        try check(ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        try check(ccurl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1))
        try check(ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, headers))

        switch request.method.uppercased() {
        case "GET":
            try check(ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case "HEAD":
            try check(ccurl_setopt_long(handle, CURLOPT_NOBODY, 1))
        default:
            if request.method.uppercased() != "POST" {
                try check(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method.uppercased()))
            }
            try check(ccurl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            // An empty body still needs a valid pointer, or libcurl reads from stdin.
            let pointer =
                body.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) }
                ?? UnsafeMutableRawPointer(mutating: emptyBody)
            try check(ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, pointer))
        }

        switch request.proxy {
        case .fromEnvironment:
            break
        case .never:
            try check(ccurl_setopt_string(handle, CURLOPT_PROXY, ""))
            try check(ccurl_setopt_string(handle, CURLOPT_NOPROXY, "*"))
        }
        if let caBundle = configuration.caBundlePath {
            try check(ccurl_setopt_string(handle, CURLOPT_CAINFO, caBundle))
        }
        if let socketPath = request.unixSocketPath {
            try check(ccurl_setopt_string(handle, CURLOPT_UNIX_SOCKET_PATH, socketPath))
        }

        try check(ccurl_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteBody))
        try check(ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try check(ccurl_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, curlWriteHeader))
        try check(ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        try check(ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        try check(ccurl_setopt_progress_callback(handle, curlProgress))
        try check(ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))
    }

    private func transportError(_ code: CURLcode, detail: String) -> any Error {
        let kind: TransportError.Kind
        switch code {
        case CURLE_ABORTED_BY_CALLBACK where isCancelled: return CancellationError()
        case CURLE_COULDNT_CONNECT: kind = .connectionRefused
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .couldNotResolveHost
        case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM:
            kind = .tls
        case CURLE_WRITE_ERROR where tooLarge: kind = .responseTooLarge
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_UNKNOWN_OPTION:
            kind = .invalidRequest
        default: kind = .other
        }
        return TransportError(kind: kind, url: request.url, detail: detail)
    }
}

nonisolated(unsafe) private let emptyBody = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

private func milliseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
}

private let curlWriteBody: ccurl_data_callback = { buffer, size, count, context in
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
    let length = size * count
    if transfer.responseBody.count + length > transfer.maximumResponseBytes {
        transfer.tooLarge = true
        return 0  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
    }
    buffer!.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        transfer.responseBody.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
    }
    return length
}

private let curlWriteHeader: ccurl_data_callback = { buffer, size, count, context in
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
    let length = size * count
    let line = buffer!.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }
    if line.hasPrefix("HTTP/") {
        transfer.responseHeaders = []  // a new response (after 1xx): keep only the final one's headers
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t\r\n")
        transfer.responseHeaders.append(HTTPHeader(name, value))
    }
    return length
}

private let curlProgress: ccurl_progress_callback = { context, _, _, _, _ in
    Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue().isCancelled ? 1 : 0
}
