#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Why `scan` calls a value a secret. The raw value is the identifier a finding carries.
public enum Rule: String, Sendable, CaseIterable, Codable {
    case awsAccessKeyID = "aws-access-key-id"
    case privateKey = "private-key"
    case jwt
    case githubToken = "github-token"
    case gitlabToken = "gitlab-token"
    case slackToken = "slack-token"
    case stripeKey = "stripe-key"
    case googleAPIKey = "google-api-key"
    case urlPassword = "url-password"
    case sensitiveName = "sensitive-name"
    case base64Entropy = "high-entropy-base64"
    case hexEntropy = "high-entropy-hex"
    /// Not a value: a Compose `env_file` that `scan` does not read (outside the scanned folders, or
    /// behind a symbolic link).
    case envFileOutside = "env-file-outside"

    /// SARIF's `shortDescription`.
    public var summary: String {
        switch self {
        case .awsAccessKeyID: "An AWS access key id"
        case .privateKey: "A PEM private key"
        case .jwt: "A JSON Web Token"
        case .githubToken: "A GitHub token"
        case .gitlabToken: "A GitLab token"
        case .slackToken: "A Slack token or webhook"
        case .stripeKey: "A Stripe secret or restricted key"
        case .googleAPIKey: "A Google API key"
        case .urlPassword: "A URL with a password in its userinfo"
        case .sensitiveName: "A literal value in a variable whose name says it is a secret"
        case .base64Entropy: "A high-entropy base64 string"
        case .hexEntropy: "A high-entropy hexadecimal string"
        case .envFileOutside: "An env_file outside the scanned folders or behind a symbolic link, not read"
        }
    }
}

/// Where a value was found; interpolation is what Compose, dotenv readers and Docker do with `$`.
public enum ValueContext: Sendable {
    /// ECS task definitions and CloudFormation: `$` is a literal character.
    case literal
    /// Compose, dotenv files and Dockerfiles: `${VAR}` and `$VAR` are references.
    case interpolated
}

/// The rules (docs/migrating.md, "What `scan` reads and calls a secret"), as pure functions of a name and a value.
public enum SecretRules {
    /// detect-secrets' limits (its `Base64HighEntropyString` and `HexHighEntropyString` plugins):
    /// Shannon entropy in bits per character.
    public static let base64Limit = 4.5
    public static let hexLimit = 3.0
    /// Our own minimum length for an entropy finding (detect-secrets has none; below 20 characters
    /// a random base64 string can hardly reach 4.5 bits, and hex words and short ids are common).
    public static let minimumEntropyLength = 20

    /// The rule that makes `value` in `name` a secret, or nil. Formats first (the most specific),
    /// then the name, then entropy.
    public static func rule(name: String, value: String, context: ValueContext) -> Rule? {
        let trimmed = value.trimmingBlanks
        guard !trimmed.isEmpty, !isReference(trimmed), !isPlaceholder(trimmed) else { return nil }
        let literal = context == .interpolated ? withoutInterpolation(value) : value
        let literalTrimmed = literal.trimmingBlanks
        guard literal.contains(where: { $0.isLetter || $0.isNumber }), !isPlaceholder(literalTrimmed),
            !isReference(literalTrimmed)
        else { return nil }
        if let format = knownFormat(literal) { return format }
        if isSensitive(name: name), !isSetting(value: literalTrimmed), !isPlainURL(literalTrimmed) {
            return .sensitiveName
        }
        return isChecksum(name: name) ? nil : entropy(literal)
    }

    // MARK: Names

    /// The sensitive words (password, secret, token…), matched against the name's words; `pass` and `pw`
    /// as `DB_PASS`, `SMTP_PASS`, `DB_PW` use them; `creds` as gitleaks has it.
    static let sensitiveWords: Set<String> = [
        "password", "passwords", "passwd", "pwd", "pass", "pw", "secret", "token", "tokens", "apikey",
        "apikeys", "accesskey", "privatekey", "credential", "credentials", "creds", "auth", "dsn", "connectionstring",
        "passphrase",
    ]
    /// Two words that name a secret together: detect-secrets' `*_key` entries (client, service,
    /// account, database, private key), the keys frameworks sign with (Laravel's `APP_KEY`, Rails'
    /// `MASTER_KEY`), and RabbitMQ's `ERLANG_COOKIE`.
    static let sensitivePairs: Set<[String]> = [
        ["api", "key"], ["api", "keys"], ["access", "key"], ["private", "key"], ["priv", "key"],
        ["connection", "string"], ["client", "key"], ["service", "key"], ["account", "key"], ["db", "key"],
        ["database", "key"], ["master", "key"], ["signing", "key"], ["encryption", "key"], ["app", "key"],
        ["app", "keys"], ["erlang", "cookie"],
    ]
    /// A word written as one with its qualifier (`DBPASS`, `PGPASSWORD`, `ADMINPASSWORD`,
    /// `CLIENTSECRET`, `AUTHTOKEN`) ends in one of these; English words that end in `pass` are not.
    static let sensitiveEndings = ["password", "passwd", "pass", "secret", "token"]
    static let wordsEndingInPass: Set<String> = [
        "bypass", "compass", "encompass", "overpass", "underpass", "surpass", "trespass", "impass",
    ]

    /// A name that ends in one of these holds a setting about a secret, not the secret itself
    /// (`JWT_EXPIRE_MINUTES`, `TOKEN_URL`, `PASSWORD_MIN_LENGTH`, `SECRET_FILE`).
    static let settingWords: Set<String> = [
        "url", "uri", "endpoint", "host", "domain", "issuer", "audience", "algorithm", "alg", "ttl", "expiry",
        "expires", "expire", "expiration", "minutes", "seconds", "hours", "days", "timeout", "length", "file",
        "path", "dir", "enabled", "disabled", "type", "header", "name", "id", "mode", "version", "region",
    ]

    public static func isSensitive(name: String) -> Bool {
        let words = self.words(name)
        guard let last = words.last else { return false }
        if settingWords.contains(last) && !isSensitive(word: last) { return false }
        if words.contains(where: isSensitive(word:)) { return true }
        return zip(words, words.dropFirst()).contains { sensitivePairs.contains([$0, $1]) }
    }

    static func isSensitive(word: String) -> Bool {
        sensitiveWords.contains(word)
            || (!wordsEndingInPass.contains(word) && sensitiveEndings.contains { word.hasSuffix($0) })
    }

    /// A name whose last word says it holds a published checksum (`NODE_SHA256`,
    /// `RUBY_SOURCE_SHA256SUM`, `GOSU_CHECKSUM`): a Dockerfile pins downloads with these, and their hex
    /// is random by design. Entropy alone is no finding there.
    static func isChecksum(name: String) -> Bool {
        guard let last = words(name).last else { return false }
        return ["checksum", "digest", "md5", "sha", "sha1", "sha256", "sha512", "sha256sum", "sha512sum", "sum"]
            .contains(last)
    }

    /// The words of a name, split at `_`, `-`, `.` and camelCase (`apiKey`, `APIKey`), lowercased.
    public static func words(_ name: String) -> [String] {
        var words: [String] = []
        var current: [Character] = []
        let characters = Array(name)
        for (index, character) in characters.enumerated() {
            if character == "_" || character == "-" || character == "." || character == " " {
                if !current.isEmpty { words.append(String(current)) }
                current = []
                continue
            }
            if character.isUppercase, let previous = current.last {
                let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) {
                    words.append(String(current))
                    current = []
                }
            }
            current.append(character)
        }
        if !current.isEmpty { words.append(String(current)) }
        return words.map { $0.lowercased() }
    }

    /// A value no one would call a secret even in a sensitive name: a flag or a small number.
    static func isSetting(value: String) -> Bool {
        let lowered = value.lowercased()
        if ["true", "false", "yes", "no", "on", "off", "enabled", "disabled", "none", "null"].contains(lowered) {
            return true
        }
        return value.count < 6 && value.allSatisfy(\.isASCIIDigit)
    }

    // MARK: Not findings

    /// A reference to a value kept elsewhere: Secrets Manager and Parameter Store, CloudFormation's
    /// dynamic references, 1Password's `op://`, and a file under `/run/secrets/` (Docker and Compose
    /// secrets, the pattern to encourage).
    public static func isReference(_ value: String) -> Bool {
        let lowered = value.lowercased()
        for partition in ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"] {
            if lowered.hasPrefix("arn:\(partition):secretsmanager:") || lowered.hasPrefix("arn:\(partition):ssm:") {
                return true
            }
        }
        return lowered.hasPrefix("{{resolve:secretsmanager:") || lowered.hasPrefix("{{resolve:ssm-secure:")
            || lowered.hasPrefix("{{resolve:ssm:") || lowered.hasPrefix("op://") || isPath(value)
    }

    /// An absolute path (`/run/secrets/db-password`, `/app/service-account.json`): the value names a
    /// file that holds the secret, which is where a secret should be.
    static func isPath(_ value: String) -> Bool {
        guard value.hasPrefix("/"), value.dropFirst().contains("/") else { return false }
        return value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._-".contains($0)) }
    }

    /// Words that say a value is to be replaced: `your_api_key_here`, `your-client-secret`,
    /// `change-me-too`, `changethis`, `CHANGE_IT`, Strapi's generated `tobemodified`.
    static let placeholderWords: Set<String> = ["your", "here", "changeme", "changethis", "changeit", "tobemodified"]

    /// `[…]`, `<…>`, a whole template expression (`{{API_KEY}}`, `${{ secrets.X }}`: a CI system,
    /// Helm or Jinja substitutes it), `changeme`, `xxx…`, `***…`, a value made of words one of
    /// which is a placeholder word or begins with `change`, and the same inside a URL's password.
    public static func isPlaceholder(_ value: String) -> Bool {
        let lowered = value.lowercased()
        if (value.hasPrefix("[") && value.hasSuffix("]")) || (value.hasPrefix("<") && value.hasSuffix(">"))
            || (value.hasPrefix("{{") && value.hasSuffix("}}")) || (value.hasPrefix("${{") && value.hasSuffix("}}"))
        {
            return true
        }
        if ["changeme", "change-me", "change_me", "change me", "replaceme", "replace-me", "todo"].contains(lowered) {
            return true
        }
        if value.count >= 3, lowered.allSatisfy({ $0 == "x" }) || value.allSatisfy({ $0 == "*" }) { return true }
        // A list of placeholders (Strapi's `APP_KEYS=toBeModified1,toBeModified2`).
        let items = value.split(separator: ",", omittingEmptySubsequences: false)
        if items.count > 1 { return items.allSatisfy { isPlaceholder(String($0).trimmingBlanks) } }
        // Words only (letters, digits, `_`, `-`, `.`, blanks): a phrase, not a random string.
        guard value.allSatisfy({ $0.isLetter || $0.isNumber || "_-. ".contains($0) }) else { return false }
        let words = self.words(value)
        let joined = String(words.joined().reversed().drop(while: \.isASCIIDigit).reversed())
        return words.contains { placeholderWords.contains($0) } || placeholderWords.contains(joined)
            || joined.hasPrefix("change")
    }

    /// A URL with no userinfo and no query (`mongodb://db:27017/app`): a place, not a secret, even in
    /// a variable named a connection string; one with a password is `url-password`'s.
    static func isPlainURL(_ value: String) -> Bool {
        guard URLUserinfo.split(value) == nil, let schemeEnd = value.firstRange(of: "://"),
            value[..<schemeEnd.lowerBound].allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) })
        else { return false }
        return !value.contains("?") && !value.contains("@")
    }

    /// The value with every `$VAR`, `${…}` and `$$` taken out; a default or alternative value
    /// (`${VAR:-postgres}`, `${VAR-x}`, `${VAR:+x}`) is kept, as it is a literal in plain sight,
    /// and `${VAR:?message}`'s message is not. One pass, whatever the nesting.
    static func withoutInterpolation(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        /// One per open `${`: whether its word would be kept, and whether its name has ended.
        var frames: [(keeps: Bool, inWord: Bool)] = []
        var scalars = Array(value.unicodeScalars)[...]
        func isNamePart(_ scalar: Unicode.Scalar) -> Bool {
            scalar == "_" || scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
        }
        while let first = scalars.popFirst() {
            let keeping = frames.last.map { $0.keeps && $0.inWord } ?? true
            if first == "$" {
                if scalars.first == "$" {
                    scalars.removeFirst()
                } else if scalars.first == "{" {
                    scalars.removeFirst()
                    frames.append((keeping, false))
                } else {
                    while let next = scalars.first, isNamePart(next) { scalars.removeFirst() }
                }
                continue
            }
            if let frame = frames.last {
                if first == "}" {
                    frames.removeLast()
                    continue
                }
                if !frame.inWord {
                    // The name, an optional `:`, then the operator: `-` and `+` give a word, others none.
                    if isNamePart(first) || first == ":" { continue }
                    frames[frames.count - 1] = (frame.keeps && (first == "-" || first == "+"), true)
                    continue
                }
            }
            if keeping { out.append(first) }
        }
        return String(out)
    }

    // MARK: Formats

    static func knownFormat(_ value: String) -> Rule? {
        if value.contains(/(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/) { return .awsAccessKeyID }
        if value.contains(/-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----/) || value.contains("PuTTY-User-Key-File-") {
            return .privateKey
        }
        if value.contains(/eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/) { return .jwt }
        if value.contains(/(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{36}/) || value.contains(/github_pat_[A-Za-z0-9_]{60,}/)
        {
            return .githubToken
        }
        if value.contains(/gl(?:pat|dt|rt|ptt|ft|cbt|imt|oas|soat|agent)-[A-Za-z0-9_-]{20,}/) { return .gitlabToken }
        if value.contains(/xox[abposr]-[0-9A-Za-z-]{10,}/)
            || value.contains(/hooks\.slack\.com\/services\/T[A-Za-z0-9_]+\/B[A-Za-z0-9_]+\/[A-Za-z0-9_]+/)
        {
            return .slackToken
        }
        if value.contains(/(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,}/) { return .stripeKey }
        if value.contains(/AIza[0-9A-Za-z_-]{35}/) { return .googleAPIKey }
        if let password = URLUserinfo.password(in: value), !password.isEmpty, !isPlaceholder(password),
            !isPlaceholder(String(password.removingPercentEncoding ?? password)),
            password.contains(where: { $0.isLetter || $0.isNumber || $0.isPunctuation || $0.isSymbol })
        {
            return .urlPassword
        }
        return nil
    }

    // MARK: Entropy

    static let base64Alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")
    static let hexAlphabet = Set("0123456789abcdefABCDEF")

    /// Like detect-secrets: every run of the alphabet's characters is measured, hex first; a run
    /// of digits alone is discounted (`1.2 / log2(length)`) as its hex plugin does.
    static func entropy(_ value: String) -> Rule? {
        for run in runs(of: value, in: hexAlphabet) where run.count >= minimumEntropyLength {
            var bits = shannon(run)
            if run.allSatisfy(\.isASCIIDigit) { bits -= 1.2 / log2(Double(run.count)) }
            if bits > hexLimit { return .hexEntropy }
        }
        for run in runs(of: value, in: base64Alphabet) where run.count >= minimumEntropyLength {
            if shannon(run) > base64Limit { return .base64Entropy }
        }
        return nil
    }

    static func runs(of value: String, in alphabet: Set<Character>) -> [Substring] {
        value.split(whereSeparator: { !alphabet.contains($0) })
    }

    static func shannon(_ text: Substring) -> Double {
        var counts: [Character: Int] = [:]
        for character in text { counts[character, default: 0] += 1 }
        let total = Double(text.count)
        return counts.values.reduce(0) { sum, count in
            let p = Double(count) / total
            return sum - p * log2(p)
        }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    var trimmingBlanks: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    /// RFC 3986 percent-decoding, nil when a `%` is not followed by two hex digits or the result
    /// is not UTF-8.
    var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let byte = utf8.first {
            utf8 = utf8.dropFirst()
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard utf8.count >= 2, let high = hexDigit(utf8[utf8.startIndex]),
                let low = hexDigit(utf8[utf8.startIndex + 1])
            else { return nil }
            bytes.append(high << 4 | low)
            utf8 = utf8.dropFirst(2)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x41...0x46: byte - 0x41 + 10
    case 0x61...0x66: byte - 0x61 + 10
    default: nil
    }
}

/// `scheme://user:password@host…`: the userinfo's parts, as RFC 3986 splits them (the last `@`
/// before the path ends the userinfo, the first `:` in it ends the user).
enum URLUserinfo {
    static func split(_ value: String) -> (scheme: Substring, user: Substring, password: Substring?, rest: Substring)? {
        guard let schemeEnd = value.firstRange(of: "://") else { return nil }
        let scheme = value[..<schemeEnd.lowerBound]
        guard !scheme.isEmpty, scheme.first!.isLetter,
            scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return nil }
        let afterScheme = value[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex(where: { "/?#".contains($0) }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@") else { return nil }
        let userinfo = authority[..<at]
        let rest = value[value.index(after: at)...]
        guard let colon = userinfo.firstIndex(of: ":") else { return (scheme, userinfo, nil, rest) }
        return (scheme, userinfo[..<colon], userinfo[userinfo.index(after: colon)...], rest)
    }

    static func password(in value: String) -> String? {
        split(value)?.password.map(String.init)
    }
}
