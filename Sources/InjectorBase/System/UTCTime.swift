#if canImport(Glibc)
    import Glibc
#endif

/// The wall clock's current UTC time, split into fields, for names and log lines.
public struct UTCTime: Sendable {
    public let year, month, day, hour, minute, second, nanosecond: Int

    public static func now() -> UTCTime {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return UTCTime(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour),
            minute: Int(parts.tm_min), second: Int(parts.tm_sec), nanosecond: now.tv_nsec)
    }

    /// The UTC time `epochSeconds` after 1970-01-01.
    public init(epochSeconds: Double) {
        var seconds = time_t(epochSeconds.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        self.init(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec),
            nanosecond: Int((epochSeconds - epochSeconds.rounded(.down)) * 1e9))
    }

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int) {
        (self.year, self.month, self.day) = (year, month, day)
        (self.hour, self.minute, self.second, self.nanosecond) = (hour, minute, second, nanosecond)
    }

    /// `2026-11-29`.
    public var date: String { "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))" }

    /// `value` in decimal, zero-padded to `width`.
    public static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// RFC 3339 with milliseconds: `2026-11-29T01:28:38.123Z`.
    public var rfc3339: String {
        "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))T\(Self.pad(hour, 2)):\(Self.pad(minute, 2)):\(Self.pad(second, 2))."
            + "\(Self.pad(nanosecond / 1_000_000, 3))Z"
    }

    /// `2026_11_29_01_28_38.123456789`, as the kubelet names its generation folders.
    public var folderName: String {
        "\(Self.pad(year, 4))_\(Self.pad(month, 2))_\(Self.pad(day, 2))_\(Self.pad(hour, 2))_\(Self.pad(minute, 2))_\(Self.pad(second, 2))."
            + Self.pad(nanosecond, 9)
    }
}

/// Seconds since `start`, as a `Double` (for metrics and log lines).
public func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
