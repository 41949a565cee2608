internal import CCurl

/// A URL as libcurl itself reads it (`curl_url()`), so that what a caller checks is what libcurl
/// connects to: the scheme, the host (IPv4 numbers normalized by libcurl, percent-escapes decoded,
/// IPv6 without brackets, lowercased) and the port.
public struct URLParts: Sendable, Equatable {
    public var scheme: String
    public var host: String
    public var port: Int?
    /// The host exactly as the URL's text writes it (lowercased, without brackets), when it can be
    /// told: after `://`, before the first `/`, `?` or `#`, after the last `@`, before a port. A
    /// host libcurl normalized (`127.1`, `%31…`, `0x7f.0.0.1`) differs from ``host`` here.
    public var hostAsWritten: String?

    /// nil when libcurl refuses the URL (a host it cannot connect to, a bad port, no scheme).
    public init?(_ url: String) {
        guard let handle = curl_url() else { return nil }
        defer { curl_url_cleanup(handle) }
        guard curl_url_set(handle, CURLUPART_URL, url, UInt32(CURLU_NON_SUPPORT_SCHEME)) == CURLUE_OK else {
            return nil
        }
        func part(_ what: CURLUPart, _ flags: Int32 = 0) -> String? {
            var value: UnsafeMutablePointer<CChar>?
            guard curl_url_get(handle, what, &value, UInt32(flags)) == CURLUE_OK, let value else { return nil }
            defer { curl_free(value) }
            return String(cString: value)
        }
        guard let scheme = part(CURLUPART_SCHEME), var host = part(CURLUPART_HOST, CURLU_URLDECODE), !host.isEmpty
        else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let zone = host.firstIndex(of: "%") { host = String(host[..<zone]) }  // an IPv6 zone id
        self.scheme = scheme.lowercased()
        self.host = host.lowercased()
        self.port = part(CURLUPART_PORT).flatMap { Int($0) }
        self.hostAsWritten = Self.writtenHost(url)
    }

    static func writtenHost(_ url: String) -> String? {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        var authority = parts[1].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            return authority[authority.index(after: authority.startIndex)..<close].lowercased()
        }
        return authority.prefix { $0 != ":" }.lowercased()
    }
}
