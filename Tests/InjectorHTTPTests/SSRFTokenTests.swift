import Foundation
import InjectorBase
import InjectorConfig
import Logging
import TestSupport
import Testing

@testable import InjectorHTTP

@Suite struct SSRFTokenTests {
    /// `server.ssrfEnvVariables` names where the token comes from, in order.
    @Test func theTokenComesFromTheConfiguredVariables() throws {
        let on = try makeConfig(
            #"{"outputDir": "/out", "secrets": [{"id": "a"}], "server": {"tcp": true, "maxConnections": 50, "ssrfHeaders": ["X-Token"], "ssrfEnvVariables": ["MY_TOKEN"], "pathPrefix": "/secrets/"}}"#
        )
        #expect(
            try SSRFToken.from(
                config: on, environment: ["AWS_TOKEN": "x", "MY_TOKEN": "mine"], logger: Logger(label: "t"))?
                .current() == "mine")
    }

    @Test func theTCPTokenComesFromTheEnvironmentOrAFile() throws {
        let logger = Logger(label: "test")
        func token(_ config: Config, _ environment: [String: String]) throws -> SSRFToken? {
            try SSRFToken.from(config: config, environment: environment, logger: logger)
        }
        let config = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}], "server": {"tcpPort": 2773}}"#)
        #expect(try token(config, ["AWS_TOKEN": "t1", "AWS_SESSION_TOKEN": "t2"])?.current() == "t1")
        #expect(try token(config, ["AWS_CONTAINER_AUTHORIZATION_TOKEN": "t3"])?.current() == "t3")
        #expect(try token(config, ["AWS_TOKEN": " ", "AWS_SESSION_TOKEN": "t2"])?.current() == "t2", "blank is none")
        let file = temporaryDirectory()
        try "from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = try #require(try token(config, ["AWS_TOKEN": "file://\(file)"]))
        #expect(fromFile.current() == "from-file")
        try "rotated\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(fromFile.current() == "from-file", "the event loop reads the cache")
        fromFile.reload()
        #expect(fromFile.current() == "rotated", "read again once it changed")
        try "".write(toFile: file, atomically: true, encoding: .utf8)
        fromFile.reload()
        #expect(fromFile.current() == nil, "an empty file is no token")
        let error = #expect(throws: ConfigurationError.self) { try token(config, [:]) }
        #expect(error?.description.hasPrefix("server.tcpPort: needs an SSRF token") == true)
        let empty = #expect(throws: ConfigurationError.self) { try token(config, ["AWS_TOKEN": "file://\(file)"]) }
        #expect(empty?.description.contains("is empty") == true, "\(String(describing: empty))")
        let noTCP = try makeConfig(#"{"outputDir": "/out", "secrets": [{"id": "a"}]}"#)
        #expect(try token(noTCP, [:]) == nil)
    }
}
