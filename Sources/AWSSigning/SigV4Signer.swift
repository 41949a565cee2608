public import FoundationEssentials

/// The keys a request is signed with. Its description never shows the secret or the token.
public struct SigningCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String { "SigningCredentials(accessKeyID: \(accessKeyID), secret: <redacted>)" }
}

/// One header line; names keep the caller's case, signing lowercases them.
public struct HTTPHeaderField: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// One query parameter, not yet percent-encoded.
public struct QueryItem: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The parts of an HTTP request that SigV4 covers. Path and query are given decoded; the signer
/// encodes them as the canonical request requires.
public struct SigV4Request: Sendable, Equatable {
    public var method: String
    public var path: String
    public var query: [QueryItem]
    public var headers: [HTTPHeaderField]
    public var body: [UInt8]

    public init(
        method: String, path: String = "/", query: [QueryItem] = [], headers: [HTTPHeaderField], body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// What signing produced: the headers to send, and each intermediate step for inspection.
public struct SignedRequest: Sendable {
    /// The request's headers plus `X-Amz-Date`, `X-Amz-Security-Token` (when there is a token) and
    /// `Authorization`, in the order to send them.
    public var headers: [HTTPHeaderField]
    public var canonicalRequest: String
    public var stringToSign: String
    public var signature: String
    public var authorization: String
}

/// An AWS Signature Version 4 signer for header-based authentication.
///
/// A pure value: the same credentials, request and date always give the same signature. Each
/// function is named after a step of
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
public struct SigV4Signer: Sendable {
    /// Headers never signed: hop-by-hop headers (RFC 9110 §7.6.1), and the ones AWS leaves unsigned
    /// because proxies or the HTTP client may change them.
    public static let defaultUnsignedHeaders: Set<String> = [
        "authorization", "connection", "content-length", "expect", "keep-alive", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
        "x-amzn-trace-id",
    ]

    public var credentials: SigningCredentials
    public var region: String
    public var service: String
    /// Remove `.`/`..` segments and empty segments from the path (every service but S3).
    public var normalizesPath: Bool
    /// Add and sign `X-Amz-Content-SHA256` with the payload hash.
    public var addsContentSHA256Header: Bool
    /// Lowercased names of headers that are sent but not signed.
    public var unsignedHeaders: Set<String>

    public init(
        credentials: SigningCredentials, region: String, service: String, normalizesPath: Bool = true,
        addsContentSHA256Header: Bool = false, unsignedHeaders: Set<String> = SigV4Signer.defaultUnsignedHeaders
    ) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.normalizesPath = normalizesPath
        self.addsContentSHA256Header = addsContentSHA256Header
        self.unsignedHeaders = unsignedHeaders
    }

    /// Signs `request` as of `date` and returns the headers to send.
    public func sign(_ request: SigV4Request, date: Date) throws(CryptoError) -> SignedRequest {
        let timestamp = AMZDate(date)
        var headers = request.headers.filter { field in
            let name = field.name.lowercased()
            return name != "authorization" && name != "x-amz-date"
                && !(name == "x-amz-security-token" && credentials.sessionToken != nil)
        }
        headers.append(HTTPHeaderField("X-Amz-Date", timestamp.dateTime))
        if let token = credentials.sessionToken {
            headers.append(HTTPHeaderField("X-Amz-Security-Token", token))
        }
        let payloadHash = try SHA256.hexHash(request.body)
        if addsContentSHA256Header {
            headers.removeAll { $0.name.lowercased() == "x-amz-content-sha256" }
            headers.append(HTTPHeaderField("X-Amz-Content-SHA256", payloadHash))
        }

        let signedHeaders = headers.filter { !unsignedHeaders.contains($0.name.lowercased()) }
        let canonical = canonicalRequest(
            method: request.method, path: request.path, query: request.query, headers: signedHeaders,
            payloadHash: payloadHash)
        let toSign = try stringToSign(canonicalRequest: canonical, timestamp: timestamp)
        let signature = hex(
            try HMACSHA256.authenticationCode(key: try signingKey(date: timestamp.date), string: toSign))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(credentialScope(date: timestamp.date)), "
            + "SignedHeaders=\(signedHeaderList(signedHeaders)), Signature=\(signature)"
        headers.append(HTTPHeaderField("Authorization", authorization))
        return SignedRequest(
            headers: headers, canonicalRequest: canonical, stringToSign: toSign, signature: signature,
            authorization: authorization)
    }

    // MARK: Step 1: the canonical request

    /// `Method\nCanonicalURI\nCanonicalQuery\nCanonicalHeaders\n\nSignedHeaders\nHashedPayload`.
    public func canonicalRequest(
        method: String, path: String, query: [QueryItem], headers: [HTTPHeaderField], payloadHash: String
    ) -> String {
        [
            method.uppercased(),
            canonicalURI(path),
            canonicalQueryString(query),
            canonicalHeaders(headers) + "\n",
            signedHeaderList(headers),
            payloadHash,
        ].joined(separator: "\n")
    }

    /// The path, normalized when ``normalizesPath`` is set, each byte outside the unreserved set
    /// percent-encoded; `/` separators are kept.
    public func canonicalURI(_ path: String) -> String {
        let raw = path.isEmpty ? "/" : path
        let segments: [Substring]
        if normalizesPath {
            var stack: [Substring] = []
            for segment in raw.split(separator: "/", omittingEmptySubsequences: true) {
                switch segment {
                case ".": continue
                case "..": _ = stack.popLast()
                default: stack.append(segment)
                }
            }
            let endsInFolder = raw.hasSuffix("/") || raw.hasSuffix("/.") || raw.hasSuffix("/..")
            if stack.isEmpty { return "/" }
            segments = [""] + stack + (endsInFolder ? [""] : [])
        } else {
            segments = raw.split(separator: "/", omittingEmptySubsequences: false)
        }
        return segments.map { percentEncode($0) }.joined(separator: "/")
    }

    /// Names and values percent-encoded, sorted by name and then by value.
    public func canonicalQueryString(_ query: [QueryItem]) -> String {
        let encoded: [(name: String, value: String)] = query.map { (percentEncode($0.name), percentEncode($0.value)) }
        let sorted = encoded.sorted { left, right in
            left.name == right.name ? left.value < right.value : left.name < right.name
        }
        return sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// `name:value` lines, names lowercased and sorted, values trimmed with inner runs of
    /// whitespace folded to one space, repeated headers joined by commas in the order sent.
    public func canonicalHeaders(_ headers: [HTTPHeaderField]) -> String {
        var values: [String: [String]] = [:]
        for field in headers {
            values[field.name.lowercased(), default: []].append(trimAll(field.value))
        }
        return values.keys.sorted().map { "\($0):\(values[$0]!.joined(separator: ","))" }
            .joined(separator: "\n")
    }

    /// The lowercased header names, sorted and joined by `;`.
    public func signedHeaderList(_ headers: [HTTPHeaderField]) -> String {
        Set(headers.map { $0.name.lowercased() }).sorted().joined(separator: ";")
    }

    // MARK: Step 2: the string to sign

    /// `AWS4-HMAC-SHA256\n<timestamp>\n<scope>\n<hex(SHA256(canonical request))>`.
    func stringToSign(canonicalRequest: String, timestamp: AMZDate) throws(CryptoError) -> String {
        [
            "AWS4-HMAC-SHA256",
            timestamp.dateTime,
            credentialScope(date: timestamp.date),
            try SHA256.hexHash(Array(canonicalRequest.utf8)),
        ].joined(separator: "\n")
    }

    /// `<yyyyMMdd>/<region>/<service>/aws4_request`.
    public func credentialScope(date: String) -> String { "\(date)/\(region)/\(service)/aws4_request" }

    // MARK: Step 3: the signing key

    /// `kSigning` from the HMAC chain over date, region, service and `aws4_request`.
    func signingKey(date: String) throws(CryptoError) -> [UInt8] {
        var key = Array("AWS4\(credentials.secretAccessKey)".utf8)
        for part in [date, region, service, "aws4_request"] {
            key = try HMACSHA256.authenticationCode(key: key, string: part)
        }
        return key
    }
}

/// RFC 3986 percent-encoding of every byte outside `A–Z a–z 0–9 - _ . ~`, as SigV4 requires.
public func percentEncode(_ string: some StringProtocol) -> String {
    let hexDigits = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(string.utf8.count)
    for byte in string.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
            UInt8(ascii: "~"):
            out.append(byte)
        default:
            out.append(UInt8(ascii: "%"))
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Trims a header value and folds each inner run of whitespace (including obsolete line folding)
/// into one space.
func trimAll(_ value: String) -> String {
    value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0.isNewline || $0 == "\u{0B}" || $0 == "\u{0C}" })
        .joined(separator: " ")
}

/// The two UTC renderings SigV4 uses: `yyyyMMdd'T'HHmmss'Z'` and `yyyyMMdd`.
public struct AMZDate: Sendable, Equatable {
    public let dateTime: String
    public var date: String { String(dateTime.prefix(8)) }

    public init(_ date: Date) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let calendarDay: String = pad(year, 4) + pad(month, 2) + pad(day, 2)
        let time: String = pad(secondOfDay / 3600, 2) + pad(secondOfDay % 3600 / 60, 2) + pad(secondOfDay % 60, 2)
        dateTime = calendarDay + "T" + time + "Z"
    }
}
