public import FoundationEssentials

/// AWS keys as a provider handed them out. The description never shows the secret or the token.
public struct Credentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When the keys stop working; nil for long-term keys.
    public var expiration: Date?
    /// Which provider they came from, for messages ("ECS container endpoint").
    public var source: String

    public init(
        accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil,
        source: String
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    public var description: String {
        "Credentials(accessKeyID: \(accessKeyID), source: \(source), expiration: \(expiration.map { "\($0)" } ?? "none"))"
    }
}

/// Why no credentials could be had. Messages name the variable or endpoint to fix, never a key.
public struct CredentialError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The environment is wrong (a disallowed URI, a token with a line break): fix it, do not retry.
        case configuration
        /// The provider could not be reached or failed; another try may work.
        case unavailable
        /// The provider answered with something that is not credentials.
        case invalidResponse
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var isTransient: Bool { kind == .unavailable }
    public var description: String { message }
}

/// Something that hands out credentials; each call may go to the network.
public protocol CredentialProvider: Sendable {
    /// A short name for messages, e.g. "ECS container endpoint http://169.254.170.2/v2/credentials/…".
    var name: String { get }
    func fetch() async throws(CredentialError) -> Credentials
}

/// The wall-clock time, injectable so expiry rules are tested without waiting.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The system's real time.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// Parses the ISO-8601 timestamps credential endpoints send (`2026-11-29T06:00:00Z`, with optional
/// fractional seconds and a `±HH:MM` offset).
public func parseISO8601(_ text: String) -> Date? {
    let bytes = Array(text.utf8)
    func number(_ range: Range<Int>) -> Int? {
        guard range.upperBound <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[range] {
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        return value
    }
    guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
        bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
        bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
        let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
        let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
        (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { return nil }

    var index = 19
    var fraction = 0.0
    if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
        index += 1
        var scale = 0.1
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
            fraction += Double(bytes[index] - 48) * scale
            scale /= 10
            index += 1
        }
    }
    var offsetSeconds = 0
    guard index < bytes.count else { return nil }
    switch bytes[index] {
    case UInt8(ascii: "Z"), UInt8(ascii: "z"):
        guard index + 1 == bytes.count else { return nil }
    case UInt8(ascii: "+"), UInt8(ascii: "-"):
        guard index + 6 == bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
            let hours = number(index + 1..<index + 3), let minutes = number(index + 4..<index + 6)
        else { return nil }
        offsetSeconds = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
    default:
        return nil
    }
    // Days since 1970-01-01 from a civil date (H. Hinnant's days_from_civil).
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    let days = era * 146_097 + dayOfEra - 719_468
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
    return Date(timeIntervalSince1970: Double(seconds) + fraction)
}
