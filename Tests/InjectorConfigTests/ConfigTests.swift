import Foundation
import InjectorAgent
import InjectorBase
import InjectorOutputs
import InjectorSources
import Logging
import TestSupport
import Testing

@testable import InjectorConfig

enum Fixtures {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let badConfigs: [String] =
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("bad-config").path)) ?? [])
        .filter { $0.hasSuffix(".json") }.sorted()
    static let examples: [String] =
        ((try? FileManager.default.contentsOfDirectory(atPath: Repository.root.appendingPathComponent("examples").path))
        ?? [])
        .filter { $0.hasSuffix(".json") && $0 != "dev-secrets.json" }.sorted()
}

@Suite struct ConfigFixtureTests {
    /// One file per bad configuration; its `.expected` holds the exact messages, one per line.
    @Test(arguments: Fixtures.badConfigs)
    func badConfigurationGivesTheExpectedMessages(_ name: String) throws {
        let path = Fixtures.folder.appendingPathComponent("bad-config/\(name)").path
        let expected = try String(
            contentsOfFile: path.replacingOccurrences(of: ".json", with: ".expected"), encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigLoader.load(configFile: path, environment: [:])
        }
        let messages = (error?.issues.map(\.description) ?? []).map {
            $0.replacingOccurrences(of: "--config \(path)", with: "--config FIXTURE")
        }
        #expect(messages.joined(separator: "\n") + "\n" == expected)
    }

    @Test func thereAreFixtures() { #expect(Fixtures.badConfigs.count >= 25) }

    @Test(arguments: Fixtures.examples)
    func examplesAreValid(_ name: String) throws {
        _ = try ConfigLoader.load(
            configFile: Repository.root.appendingPathComponent("examples/\(name)").path, environment: [:])
    }

    @Test func pipelinePulseExampleResolvesAsDocumented() throws {
        let config = try ConfigLoader.load(
            configFile: Repository.root.appendingPathComponent("examples/pipeline-pulse.json").path, environment: [:])
        #expect(config.outputDir == "/run/secrets")
        #expect(config.secrets.map(\.alias) == ["database", "zoho", "currency", "jwt"])
        #expect(
            config.secrets[3].file
                == FileSpec(path: "jwt.json", mode: FileMode(0o440), owner: Ownership(uid: nil, gid: 1000)))
        #expect(config.templates.first?.template.aliases == ["database", "zoho", "currency"])
        #expect(config.env.first?.entries.map(\.name) == ["JWT_SECRET", "JWT_ALGORITHM", "JWT_EXPIRE_MINUTES"])
        #expect(config.server.socketPath == "/run/secrets/injector.sock")
        #expect(
            config.refresh
                == RefreshSettings(
                    intervalSeconds: 300, strategy: .describe, maxStaleSeconds: nil, minRefreshSeconds: 5))
    }
}

@Suite struct ConfigSourceTests {
    let file =
        #"{"outputDir": "/from/file", "region": "eu-west-1", "secrets": [{"id": "a/file"}], "log": {"level": "debug", "format": "text"}}"#

    func load(
        _ environment: [String: String], _ overrides: ConfigOverrides = ConfigOverrides(),
        file: String? = "/config.json"
    ) throws -> Config {
        try ConfigLoader.load(
            configFile: file, overrides: overrides, environment: environment, readFile: { _ in Array(self.file.utf8) })
    }

    @Test func fileAlone() throws {
        let config = try load([:])
        #expect(config.outputDir == "/from/file")
        #expect(config.log == LogSettings(level: "debug", format: .text))
        #expect(config.secrets.count == 1)
    }

    @Test func inlineBeatsFileAndMergesObjects() throws {
        let config = try load(["SECRETS_INJECTOR_CONFIG": #"{"outputDir": "/from/inline", "log": {"level": "error"}}"#])
        #expect(config.outputDir == "/from/inline")
        #expect(config.region == "eu-west-1")
        #expect(config.log == LogSettings(level: "error", format: .text))
    }

    @Test func shorthandsBeatInlineAndFlagsBeatEverything() throws {
        let environment = [
            "SECRETS_INJECTOR_CONFIG": #"{"outputDir": "/from/inline"}"#,
            "SECRETS_INJECTOR_OUTPUT_DIR": "/from/shorthand",
            "SECRETS_INJECTOR_SECRETS": "x/one, x/two", "SECRETS_INJECTOR_NAME_PREFIX": "x/found/",
            "SECRETS_INJECTOR_REFRESH_SECONDS": "2",
            "SECRETS_INJECTOR_SOCKET": "/tmp/s.sock", "SECRETS_INJECTOR_LOG_LEVEL": "trace",
        ]
        let config = try load(environment)
        #expect(config.outputDir == "/from/shorthand")
        #expect(
            config.secrets.map(\.selector) == [
                .id(SecretName("x/one")), .id(SecretName("x/two")), .namePrefix("x/found/"),
            ])
        #expect(config.refresh.intervalSeconds == 2)
        #expect(config.server.socketPath == "/tmp/s.sock")
        #expect(config.log.level == "trace")

        var flags = ConfigOverrides()
        flags.outputDir = "/from/flag"
        flags.secrets = ["y/flag"]
        let flagged = try load(environment, flags)
        #expect(flagged.outputDir == "/from/flag")
        #expect(flagged.secrets.map(\.selector) == [.id(SecretName("y/flag"))])
    }

    @Test func configFileFromTheEnvironmentAndItsErrors() throws {
        let config = try ConfigLoader.load(
            environment: ["SECRETS_INJECTOR_CONFIG_FILE": "/c.json"], readFile: { _ in Array(self.file.utf8) })
        #expect(config.outputDir == "/from/file")
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigLoader.load(environment: [
                "SECRETS_INJECTOR_CONFIG_FILE": "/nonexistent/c.json", "SECRETS_INJECTOR_CONFIG": "{nope",
                "SECRETS_INJECTOR_REFRESH_SECONDS": "soon",
            ])
        }
        #expect(
            error?.issues.map(\.description) == [
                "SECRETS_INJECTOR_CONFIG_FILE /nonexistent/c.json: cannot read /nonexistent/c.json: No such file or directory",
                "SECRETS_INJECTOR_CONFIG: not valid JSON (expected a key at byte 1)",
                "SECRETS_INJECTOR_REFRESH_SECONDS: \"soon\" is not a whole number of seconds",
            ])
    }

    @Test func defaults() throws {
        let config = try ConfigLoader.load(environment: ["SECRETS_INJECTOR_SECRETS": "pipeline-pulse/prod/jwt"])
        #expect(config.outputDir == "/run/secrets")
        #expect(
            config.secrets.first?.file
                == FileSpec(path: "pipeline-pulse/prod/jwt", mode: FileMode(0o440), owner: Ownership()))
        #expect(config.secrets.first?.alias == "jwt")
        #expect(config.secrets.first?.required == true)
        #expect(
            config.server
                == ServerSettings(
                    socketPath: "/run/secrets/injector.sock", socketMode: FileMode(0o660), allowUIDs: nil, tcpPort: nil)
        )
        #expect(
            config.refresh
                == RefreshSettings(intervalSeconds: 300, strategy: .auto, maxStaleSeconds: nil, minRefreshSeconds: 5))
        #expect(config.log == LogSettings(level: "info", format: .json))
        // The Agent's defaults (its config.rs).
        #expect(config.server.maxConnections == 800)
        #expect(
            config.server.api
                == AgentAPI.Settings(
                    ssrfHeaders: ["X-Aws-Parameters-Secrets-Token", "X-Vault-Token"], pathPrefix: "/v1/"))
        #expect(
            config.server.ssrfEnvVariables == ["AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"])
    }

    @Test func agentStyleServerSettings() throws {
        let on = try makeConfig(
            #"{"outputDir": "/out", "secrets": [{"id": "a"}], "server": {"tcp": true, "maxConnections": 50, "ssrfHeaders": ["X-Token"], "ssrfEnvVariables": ["MY_TOKEN"], "pathPrefix": "/secrets/"}}"#
        )
        #expect(on.server.tcpPort == 2773, "tcp alone: the Agent's port")
        #expect(on.server.maxConnections == 50)
        #expect(on.server.api == AgentAPI.Settings(ssrfHeaders: ["X-Token"], pathPrefix: "/secrets/"))
        let port = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}], "server": {"tcpPort": 9000}}"#)
        #expect(port.server.tcpPort == 9000)
        let off = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}], "server": {"tcp": false}}"#)
        #expect(off.server.tcpPort == nil)
    }

    @Test func arnsGiveTheirNameWithoutTheRandomSuffix() throws {
        let arn = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/jwt-AbCdEf"
        let config = try ConfigLoader.load(environment: ["SECRETS_INJECTOR_SECRETS": arn])
        #expect(config.secrets.first?.file?.path == "pipeline-pulse/prod/jwt")
        #expect(config.secrets.first?.alias == "jwt")
        #expect(SecretName("arn:aws:secretsmanager:us-east-1:123456789012:secret:my-app").name == "my-app")
        #expect(SecretName("pipeline-pulse/prod/my-db.v2").defaultAlias == "my_db_v2")
    }
}

@Suite struct ValueFromTests {
    static let arn = "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret:pipeline-pulse/prod/jwt-AbCdEf"

    @Test(
        arguments: [
            ("pipeline-pulse/prod/jwt", "pipeline-pulse/prod/jwt", nil, nil, nil),
            ("pipeline-pulse/prod/jwt:secret", "pipeline-pulse/prod/jwt", "secret", nil, nil),
            ("pipeline-pulse/prod/jwt:secret::", "pipeline-pulse/prod/jwt", "secret", nil, nil),
            ("pipeline-pulse/prod/jwt::AWSPREVIOUS:", "pipeline-pulse/prod/jwt", nil, "AWSPREVIOUS", nil),
            (
                "pipeline-pulse/prod/jwt:secret:AWSCURRENT:v-123", "pipeline-pulse/prod/jwt", "secret", "AWSCURRENT",
                "v-123"
            ),
            ("pipeline-pulse/prod/jwt:::v-123", "pipeline-pulse/prod/jwt", nil, nil, "v-123"),
            (arn, arn, nil, nil, nil),
            (arn + ":secret", arn, "secret", nil, nil),
            (arn + ":secret::", arn, "secret", nil, nil),
            (arn + "::AWSPENDING:", arn, nil, "AWSPENDING", nil),
            (arn + ":secret:AWSCURRENT:v-9", arn, "secret", "AWSCURRENT", "v-9"),
        ] as [(String, String, String?, String?, String?)])
    func parses(_ text: String, _ id: String, _ key: String?, _ stage: String?, _ version: String?) throws {
        let parsed = try ValueFrom(parsing: text)
        #expect(parsed == ValueFrom(secret: SecretName(id), jsonKey: key, versionStage: stage, versionID: version))
    }

    @Test(arguments: [
        "", "a:b:c:d:e", "arn:aws:secretsmanager:ap-southeast-1:123456789012:secret", Self.arn + ":a:b:c:d",
        "has space:key",
    ])
    func rejects(_ text: String) {
        #expect(throws: ConfigIssue.self) { try ValueFrom(parsing: text) }
    }
}

/// docs/config.schema.json and the decoder must allow the same keys.
@Suite struct SchemaTests {
    /// `review`: only the secrets inside a database URL count as database credentials.
    @Test func theAliasesADatabaseURLIsBuiltFrom() throws {
        let config = try makeConfig(
            #"{"secrets": [{"id": "db"}, {"id": "zoho"}, {"id": "replica"}], "templates": [{"file": "app.env", "template": "DATABASE_URL=postgresql://{{ db.username }}:{{ db.password }}@{{ db.host }}\nZOHO={{ zoho.id }}\n"}, {"file": "r.env", "template": "R=mysql://{{ replica.user }}@h/x"}]}"#
        )
        #expect(config.databaseURLAliases == ["db", "replica"])
    }

    @Test func schemaKeysMatchTheDecoder() throws {
        let schema = try JSONValue.parse(
            Array(try Data(contentsOf: Repository.root.appendingPathComponent("docs/config.schema.json"))))
        func keys(_ path: [String]) -> [String] {
            var node: JSONValue? = schema
            for key in path { node = node?[key] }
            return node?["properties"]?.keys ?? []
        }
        #expect(Set(keys([])) == Set(Config.topLevelKeys))
        #expect(Set(keys(["properties", "secrets", "items"])) == Set(Config.secretKeys))
        #expect(Set(keys(["properties", "defaults"])) == ["mode", "uid", "gid"])
        #expect(Set(keys(["properties", "templates", "items"])) == ["file", "template", "mode", "uid", "gid"])
        #expect(Set(keys(["$defs", "envFile"])) == ["file", "mode", "uid", "gid", "entries"])
        #expect(
            Set(keys(["properties", "refresh"])) == [
                "intervalSeconds", "strategy", "maxStaleSeconds", "minRefreshSeconds",
            ])
        #expect(
            Set(keys(["properties", "server"])) == [
                "socketPath", "socketMode", "allowUids", "tcp", "tcpPort", "maxConnections", "ssrfHeaders",
                "ssrfEnvVariables", "pathPrefix", "audit",
            ])
        #expect(Set(keys(["properties", "log"])) == ["level", "format"])
        #expect(
            Set(keys(["properties", "exec"])) == [
                "stopTimeoutSeconds", "restart", "restartSignal", "settleSeconds", "splaySeconds", "user",
                "dropEnvironment",
            ])
    }
}

/// `exec`: its defaults, its values, and every wrong value reported with its path.
@Suite struct ExecConfigTests {
    @Test func defaultsWhenAbsent() throws {
        let exec = try makeConfig(#"{"secrets": [{"id": "db"}]}"#).exec
        #expect(exec.stopTimeoutSeconds == 25)
        #expect(exec.restart == .restart)
        #expect(exec.restartSignal == "TERM")
        #expect(exec.settleSeconds == 2)
        #expect(exec.splaySeconds == 0)
        #expect(exec.user == nil)
        #expect(exec.dropEnvironment.isEmpty)
    }

    @Test func everyValue() throws {
        let exec = try makeConfig(
            #"{"secrets": [{"id": "db"}], "exec": {"stopTimeoutSeconds": 5, "restart": "signal:SIGHUP", "restartSignal": "int", "settleSeconds": 0, "splaySeconds": 30, "user": "1000:2000", "dropEnvironment": ["DB_PASSWORD", "_X"]}}"#
        ).exec
        #expect(exec.stopTimeoutSeconds == 5)
        #expect(exec.restart == .signal("HUP"))
        #expect(exec.restartSignal == "INT")
        #expect(exec.settleSeconds == 0)
        #expect(exec.splaySeconds == 30)
        #expect(exec.user?.uid == 1000 && exec.user?.gid == 2000)
        #expect(exec.dropEnvironment == ["DB_PASSWORD", "_X"])
        #expect(try makeConfig(#"{"secrets": [{"id": "db"}], "exec": {"restart": "none"}}"#).exec.restart == .none)
    }

    @Test func wrongValuesWithTheirPaths() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try makeConfig(
                #"{"secrets": [{"id": "db"}], "exec": {"stopTimeoutSeconds": 0, "restart": "reload", "restartSignal": "KILL", "settleSeconds": -1, "splaySeconds": "x", "user": "app", "dropEnvironment": ["OK", "1BAD"], "pristine": true}}"#
            )
        }
        let paths = Set(error?.issues.map(\.path) ?? [])
        #expect(
            paths == [
                "exec.stopTimeoutSeconds", "exec.restart", "exec.restartSignal", "exec.settleSeconds",
                "exec.splaySeconds", "exec.user", "exec.dropEnvironment[1]", "exec.pristine",
            ])
        let restart = #expect(throws: ConfigurationError.self) {
            try makeConfig(#"{"secrets": [{"id": "db"}], "exec": {"restart": "signal:KILL", "user": "1:"}}"#)
        }
        #expect(Set(restart?.issues.map(\.path) ?? []) == ["exec.restart", "exec.user"])
    }
}
