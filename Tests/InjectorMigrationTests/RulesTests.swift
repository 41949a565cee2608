import InjectorBase
import InjectorOutputs
import TestSupport
import Testing

@testable import InjectorMigration

struct RulesTests {
    @Test(arguments: [
        ("ZOHO_CLIENT_SECRET", true), ("jwtSecret", true), ("APIKey", true), ("STRIPE_API_KEY", true),
        ("aws-access-key", true), ("db.password", true), ("DB_PWD", true), ("SENTRY_DSN", true),
        ("AUTH_HEADER_VALUE", true), ("GOOGLE_APPLICATION_CREDENTIALS_JSON", true), ("PRIVATE_KEY", true),
        ("AZURE_CONNECTION_STRING", true), ("AUTHOR", false), ("AUTHOR_NAME", false), ("ZOHO_CLIENT_ID", false),
        ("JWT_EXPIRE_MINUTES", false), ("TOKEN_URL", false), ("PASSWORD_MIN_LENGTH", false), ("SECRETS_DIR", false),
        ("SECRETS_INJECTOR_CONFIG", false), ("KEYBOARD_LAYOUT", false),
    ])
    func sensitiveNames(name: String, sensitive: Bool) {
        #expect(SecretRules.isSensitive(name: name) == sensitive, "\(name): \(SecretRules.words(name))")
    }

    /// A qualifier written as one word with its secret word, `pass` and `pw`, and the pairs
    /// detect-secrets' keyword list has; English words ending in `pass` and settings stay out.
    @Test(arguments: [
        ("DBPASS", true), ("RABBITMQ_PASS", true), ("SMTP_PASS", true), ("DB_PW", true), ("PGPASSWORD", true),
        ("RABBITMQ_ERLANG_COOKIE", true), ("ME_CONFIG_MONGODB_ADMINPASSWORD", true), ("clientSecret", true),
        ("SLACK_AUTHTOKEN", true), ("APP_KEY", true), ("SUPABASE_SERVICE_KEY", true), ("AZURE_ACCOUNT_KEY", true),
        ("BYPASS_CACHE", false), ("COMPASS_URL", false), ("PGPASSFILE", false), ("DB_PASS_FILE", false),
        ("SESSION_COOKIE_NAME", false), ("PUBLIC_KEY", false), ("KEY_NAME", false),
    ])
    func namesWrittenAsOneWordOrShortened(name: String, sensitive: Bool) {
        #expect(SecretRules.isSensitive(name: name) == sensitive, "\(name): \(SecretRules.words(name))")
    }

    /// Placeholders (`your_…`, `…_here`, `change…`, Strapi's `tobemodified`, a list of
    /// them), a whole CI or Helm substitution, a file path (a Docker secret), 1Password's `op://`, and
    /// a URL without userinfo are no findings; a real value beside such words still is.
    @Test func placeholdersReferencesAndPaths() {
        for value in [
            "your_api_key_here", "your-client-secret", "YOUR_API_KEY", "api_key_here", "changethis", "CHANGE_IT",
            "change-me-too", "tobemodified", "toBeModified1,toBeModified2", "changeme1, changeme2", "{{API_KEY}}",
            "{{ .Values.password }}", "${{ secrets.DB_PASSWORD }}", "/run/secrets/db-password",
            "/app/firebase-service-account.json", "op://vault/item/password", "mongodb://meandb:27017/meanauth",
        ] {
            #expect(SecretRules.rule(name: "DB_PASSWORD", value: value, context: .literal) == nil, "\(value)")
        }
        for value in ["mysecretpassword", "holy_cow_ambassador", "Abc123456*", "password", "postgres", "a,b"] {
            #expect(
                SecretRules.rule(name: "DB_PASSWORD", value: value, context: .literal) == .sensitiveName, "\(value)")
        }
        // A placeholder word in the host does not hide a password in the userinfo.
        #expect(
            SecretRules.rule(name: "DATABASE_URL", value: "postgres://app:s3cret@your-db-host/app", context: .literal)
                == .urlPassword)
        #expect(
            SecretRules.rule(name: "SENTRY_DSN", value: "https://abc123@o1.ingest.sentry.io/42", context: .literal)
                == .sensitiveName)
    }

    /// `${VAR:-default}` and `${VAR:+alt}` hold a literal that ends up in the variable; `${VAR:?msg}`
    /// holds a message.
    @Test func interpolationDefaultsAreValues() {
        #expect(
            SecretRules.rule(name: "DB_PASSWORD", value: "${DB_PASSWORD:-postgres}", context: .interpolated)
                == .sensitiveName)
        #expect(
            SecretRules.rule(name: "DB_PASSWORD", value: "${DB_PASSWORD-postgres}", context: .interpolated)
                == .sensitiveName)
        #expect(SecretRules.rule(name: "DB_PASSWORD", value: "${DB_PASSWORD:-}", context: .interpolated) == nil)
        #expect(SecretRules.rule(name: "DB_PASSWORD", value: "${DB_PASSWORD:?required}", context: .interpolated) == nil)
        #expect(SecretRules.rule(name: "DB_PASSWORD", value: "${A:-${B:-changeme}}", context: .interpolated) == nil)
        #expect(
            SecretRules.rule(
                name: "DATABASE_URL", value: "postgresql://${U:-postgres}:${P:-postgres}@db:5432/${N:-app}",
                context: .interpolated) == .urlPassword)
    }

    /// A hostile file's nesting is read in one pass: 200,000 levels of `${a:-` (they took minutes
    /// when each level was read again). No clock here: the suite's time limit is the bound, and
    /// speed is for benchmarks. The reading runs on a thread of its own, off Swift's cooperative
    /// pool, where its seconds (a debug build) would stall the tests beside it.
    @Test(.timeLimit(.minutes(1))) func nestedDefaultsAreReadInOnePass() async {
        let depth = 200_000
        let value = String(repeating: "${a:-", count: depth) + "x" + String(repeating: "}", count: depth)
        #expect(await onThread { SecretRules.withoutInterpolation(value) } == "x")
    }

    /// A published checksum is random by design: entropy alone makes no finding in a name that says so.
    @Test func checksumsAreNotEntropyFindings() {
        let hex = "3f9a1c7e2b8d4f6a0c5e9b1d7a3f8c2e"
        #expect(SecretRules.rule(name: "RUBY_SOURCE_SHA256SUM", value: hex, context: .interpolated) == nil)
        #expect(SecretRules.rule(name: "GOSU_CHECKSUM", value: hex, context: .interpolated) == nil)
        #expect(SecretRules.rule(name: "BUILD_REF", value: hex, context: .interpolated) == .hexEntropy)
    }

    @Test func wordsSplitAtSeparatorsAndCamelCase() {
        #expect(SecretRules.words("apiKey") == ["api", "key"])
        #expect(SecretRules.words("APIKey") == ["api", "key"])
        #expect(SecretRules.words("ZOHO_CLIENT-secret.value") == ["zoho", "client", "secret", "value"])
        #expect(SecretRules.words("s3BucketName") == ["s3", "bucket", "name"])
    }

    @Test func notFindings() {
        for value in [
            "", "   ", "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:db-AbCdEf",
            "arn:aws:ssm:ap-southeast-1:123456789012:parameter/db",
            "{{resolve:secretsmanager:db:SecretString:password}}",
            "[password]", "<token>", "changeme", "CHANGEME", "xxxxxxxx", "********", "true", "30",
        ] {
            #expect(SecretRules.rule(name: "DB_PASSWORD", value: value, context: .literal) == nil, "\(value)")
        }
        // Interpolation is a reference in Compose, dotenv files and Dockerfiles, a literal in a task definition.
        #expect(SecretRules.rule(name: "DB_PASSWORD", value: "${DB_PASSWORD}", context: .interpolated) == nil)
        #expect(SecretRules.rule(name: "DB_PASSWORD", value: "$DB_PASSWORD", context: .interpolated) == nil)
        #expect(SecretRules.rule(name: "DB_PASSWORD", value: "${DB_PASSWORD}", context: .literal) == .sensitiveName)
        #expect(
            SecretRules.rule(name: "DATABASE_URL", value: "postgres://app:${PW}@db/app", context: .interpolated) == nil)
        #expect(
            SecretRules.rule(name: "DATABASE_URL", value: "postgres://app:<password>@db/app", context: .literal) == nil)
        #expect(SecretRules.rule(name: "SITE", value: "https://user@example.com/", context: .literal) == nil)
    }

    @Test func knownFormatsWhateverTheName() {
        let cases: [(String, Rule)] = [
            ("AKIAIOSFODNN7EXAMPLF", .awsAccessKeyID),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", .privateKey),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", .privateKey),
            ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", .jwt),
            ("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", .githubToken),
            ("glpat-xxxxyyyyzzzz11112222", .gitlabToken),
            ("xoxb-123456789012-abcdefghijkl", .slackToken),
            ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX", .slackToken),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", .stripeKey),
            ("AIzaSyA-1234567890abcdefghijklmnopqrstu", .googleAPIKey),
            ("mysql://root:s3cret@db:3306/app", .urlPassword),
        ]
        for (value, rule) in cases {
            #expect(SecretRules.rule(name: "SOMETHING", value: value, context: .literal) == rule, "\(value)")
        }
    }

    @Test func entropyAsDetectSecretsMeasuresIt() {
        // Random base64 of 40 characters is well above 4.5 bits; a word repeated is not.
        #expect(
            SecretRules.rule(name: "X", value: "q8Zr2LmT7vKx0Pn4Wc9Hb1Js6Fd3Ga5YeQuRoNiM", context: .literal)
                == .base64Entropy)
        #expect(SecretRules.rule(name: "X", value: "abcabcabcabcabcabcabcabcabc", context: .literal) == nil)
        #expect(
            SecretRules.rule(name: "X", value: "3f9a1c7e2b8d4f6a0c5e9b1d7a3f8c2e", context: .literal) == .hexEntropy)
        // Below the minimum length: nothing, whatever the entropy.
        #expect(SecretRules.rule(name: "X", value: "q8Zr2LmT7vKx0Pn4", context: .literal) == nil)
        #expect(abs(SecretRules.shannon("aabb") - 1) < 1e-9)
    }

    @Test func dotenvReadsBackEveryQuotingTheWriterUses() {
        let values = [
            "plain", "with space", "it's", "dollar $HOME", "both \" and ' and $x", "back\\slash", "new\nline",
            "hash # not comment", "ünïcode 日本", "ends with backslash\\", "tab\there",
        ]
        let entries = values.enumerated().map { (name: "V\($0.offset)", value: Array($0.element.utf8)) }
        let file = String(decoding: DotenvQuoting.dotenvFile(entries), as: UTF8.self)
        let parsed = Dotenv.parse(file)
        #expect(parsed.unparsedLines.isEmpty)
        let read = Dictionary(uniqueKeysWithValues: parsed.bindings.map { ($0.name, $0.value ?? "") })
        for (index, value) in values.enumerated() { #expect(read["V\(index)"] == value, "V\(index)") }
    }

    @Test func dotenvLinesAndForms() {
        let parsed = Dotenv.parse("\n# c\nexport A=1\nB = 'two'  # note\nC=\"x\ny\"\nD\nE=bare value # gone\n'F'=f\n")
        #expect(parsed.bindings.map(\.name) == ["A", "B", "C", "D", "E", "F"])
        #expect(parsed.bindings.map(\.line) == [3, 4, 5, 7, 8, 9])
        #expect(parsed.bindings.map(\.value) == ["1", "two", "x\ny", nil, "bare value", "f"])
    }

    @Test func yamlAndJSONLines() throws {
        let yaml = try Located.yaml("a:\n  b:\n    - c: \"one\"\n      d: !Ref X\n")
        let item = try #require(yaml.first?["a"]?["b"]?.elements.first)
        #expect(item["c"]?.literal == "one" && item["c"]?.line == 3)
        #expect(item["d"]?.literal == nil)
        let json = try Located.json(Array("{\n \"a\": [\n  {\"v\": \"x\"},\n  {\"v\": \"y\"}\n ]\n}".utf8))
        #expect(json["a"]?.elements.map { $0["v"]?.line } == [3, 4])
    }

    /// Yams hashes a mapping's keys whole to find duplicates, so an alias in a key costs its full
    /// expansion (the fuzzer's 544-byte file: `*x6:` in a flow sequence, over nine levels of ten
    /// aliases). Such keys are refused on the text, before Yams; anchors and aliases as real files
    /// use them still read.
    @Test func anAliasInAMappingKeyIsRefusedBeforeYamsHashesIt() throws {
        var chain = "services: {}\nx0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...8 {
            chain +=
                "x\(level): &x\(level) [" + Array(repeating: "*x\(level - 1)", count: 10).joined(separator: ", ")
                + "]\n"
        }
        let attacks = [
            "x7: &x7 [*x6, *x6:\n    environment: \n    e, *x6]\n": 9,
            "x7: {*x6: 1}\n": 9,
            "x7:\n  *x6 : 1\n": 10,
            "x7:\n  ? *x6\n  : 1\n": 10,
            "x7: {[*x6, *x6]: 1}\n": 9,
        ]
        for (attack, line) in attacks {
            let text = chain.replacing("x7: &x7 [*x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6]\n", with: attack)
            #expect(text != chain)
            #expect(throws: DocumentError.self) { try Located.yaml(text) }
            #expect(Located.aliasKeyLine(Array(text.utf8)) == line, "\(attack)")
        }
        // As compose files use them: an anchor merged, one anchor inside another, a cron line and a
        // glob whose `*` names no anchor, and keys with `}` or `?` in a file without aliases.
        let honest = """
            x-env: &env {A: "1"}
            x-service: &service {environment: *env, restart: always}
            services:
              api:
                <<: *service
                command: ["sh", "-c", "ls *.txt: && echo ok ? yes"]
              cron:
                schedule: "*/5 * * * *"
            """
        #expect(Located.aliasKeyLine(Array(honest.utf8)) == nil)
        let api = try #require(try Located.yaml(honest).first?["services"]?["api"])
        #expect(api["restart"]?.literal == "always" || api["<<"] != nil)
        #expect(Located.aliasKeyLine(Array("a: \"${X}: y\"\nb: \"why ? not\"\ncron: \"*/5 * * * *\"\n".utf8)) == nil)
        // One pass over the blanks: 400,000 of them before a key (a walk back from every byte would
        // take minutes here).
        let wide = "a: &a 1\nb:\n" + String(repeating: " ", count: 400_000) + "*a: 2\n"
        #expect(Located.aliasKeyLine(Array(wide.utf8)) == 3)
    }

    @Test func databaseURLsSplitOnlyWhenTheyRebuildExactly() throws {
        let url = "postgresql://pp_app:Xq7%23p%40ss@db.example.com:5432/pipeline_pulse?sslmode=require"
        let shape = try #require(DatabaseURL(url))
        #expect(shape.username == "pp_app" && shape.password == "Xq7#p@ss" && shape.dbname == "pipeline_pulse")
        #expect(shape.rebuilds(url, alias: "database"))
        // `!` is left unencoded here, and `| urlencode` would encode it: kept whole.
        let other = "postgresql://pp_app:pa!ss@db.example.com/app"
        #expect(DatabaseURL(other)?.rebuilds(other, alias: "database") == false)
        #expect(DatabaseURL("redis://:pw@cache:6379/0") == nil)
        #expect(DatabaseURL("mysql://root:pw@db/app")?.members.first { $0.key == "port" }?.value == .number("3306"))
    }
}
