internal import CCrypto

/// An OpenSSL call that failed, with the library's own reason drained from its error queue.
public struct CryptoError: Error, CustomStringConvertible {
    /// The libcrypto function that failed.
    public var function: String
    /// What OpenSSL's error queue said, or a fallback when the queue was empty.
    public var reason: String

    public var description: String { "OpenSSL \(function) failed: \(reason)" }
}

/// Checks an OpenSSL return code (1 is success) and turns failure into a ``CryptoError``.
///
/// OpenSSL keeps errors on a per-thread queue; it is drained here so that a later call does not
/// report a stale reason.
@inline(__always)
func cryptoCheck(_ result: Int32, _ function: String) throws(CryptoError) {
    guard result == 1 else { throw CryptoError(function: function, reason: drainOpenSSLErrors()) }
}

private func drainOpenSSLErrors() -> String {
    var reasons: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return reasons.isEmpty ? "no reason on the OpenSSL error queue" : reasons.joined(separator: "; ")
}

/// SHA-256 through OpenSSL's EVP digest API.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func hash(_ bytes: some Collection<UInt8>) throws(CryptoError) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result: Int32 =
            bytes.withContiguousStorageIfAvailable { input in
                EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
            }
            ?? Array(bytes).withUnsafeBufferPointer { input in
                EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
            }
        try cryptoCheck(result, "EVP_Digest(SHA-256)")
        return Array(digest.prefix(Int(length)))
    }

    /// The lowercase hex digest of `bytes`.
    public static func hexHash(_ bytes: some Collection<UInt8>) throws(CryptoError) -> String {
        hex(try hash(bytes))
    }
}

/// HMAC-SHA256 through OpenSSL's EVP MAC API (`EVP_Q_mac`).
public enum HMACSHA256 {
    /// The 32-byte authentication code of `data` under `key`.
    public static func authenticationCode(key: [UInt8], data: [UInt8]) throws(CryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length = 0
        let pointer = key.withUnsafeBytes { keyBytes in
            data.withUnsafeBufferPointer { dataBytes in
                EVP_Q_mac(
                    nil, "HMAC", nil, "SHA256", nil,
                    keyBytes.baseAddress, keyBytes.count,
                    dataBytes.baseAddress, dataBytes.count,
                    &output, output.count, &length)
            }
        }
        try cryptoCheck(pointer == nil ? 0 : 1, "EVP_Q_mac(HMAC-SHA256)")
        return Array(output.prefix(length))
    }

    /// The code of a UTF-8 string under `key`.
    public static func authenticationCode(key: [UInt8], string: String) throws(CryptoError) -> [UInt8] {
        try authenticationCode(key: key, data: Array(string.utf8))
    }
}

/// Lowercase hexadecimal, as SigV4 writes every digest.
public func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}
