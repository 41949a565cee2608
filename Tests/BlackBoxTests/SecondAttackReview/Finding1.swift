import Foundation
import TestSupport
import Testing

extension SecondAttackReviewTests {
    /// Whoever may `PutSecretValue` on the database secret controls `host` and `port`: the template
    /// `migrate` writes must not let them run a command when the app's sh sources the file, nor
    /// add a variable for python-dotenv.
    @Test(
        "1. every interpolation migrate writes is filtered; a host sh would run is refused and the last generation kept; check warns",
        .enabled(if: BlackBox.hasPeers, "moto[server] and boto3 are not installed"))
    func migratedTemplatesNeverRunASecret() async throws {
        let fixture = try await MigrateFixture.start()
        defer { fixture.stop() }
        let url = "postgresql://shop:Sh0p-Pa55word@db.example.com:5432/shop"
        try fixture.taskDefinition("before.json", environment: [("DATABASE_URL", url)])
        let migrated = try await fixture.tool(
            ["migrate", "--task-definition", "before.json", "--prefix", "shop/prod/", "--apply"],
            environment: fixture.operator_)
        try #require(migrated.status == 0, "\(migrated.stderr)")
        let out = "\(fixture.folder)/migration"

        // Every {{ }} in every template migrate wrote carries a filter.
        let config = try fixture.json("\(out)/injector.json") as! [String: Any]
        let templates = (config["templates"] as? [[String: String]]) ?? []
        #expect(!templates.isEmpty)
        for template in templates {
            let text = template["template"] ?? ""
            let expressions = text.components(separatedBy: "{{").dropFirst().map {
                $0.components(separatedBy: "}}")[0]
            }
            #expect(!expressions.isEmpty)
            for expression in expressions { #expect(expression.contains("|"), "{{\(expression)}} has no filter") }
        }

        // The app's own command, as the new task definition wraps it, with the files of `init`.
        let output = "\(fixture.folder)/run-secrets"
        let first = try await fixture.initialize(config: "\(out)/injector.json", output: output)
        try #require(first.status == 0, "\(first.stderr)")
        let definition = try fixture.json("\(out)/task-definition.json") as! [String: Any]
        let app = (definition["containerDefinitions"] as! [[String: Any]]).first { $0["name"] as? String == "app" }!
        var command = app["command"] as! [String]
        try #require(command.first == "/bin/sh", "\(command)")
        command[2] = command[2].replacingOccurrences(of: "/run/secrets/", with: "\(output)/")
        let honest = try await run(command[0], Array(command.dropFirst()), environment: ["PATH": "/usr/bin:/bin"])
        #expect(honest.stdout.contains("DATABASE_URL=\(url)\n"), "the app gets its URL back byte for byte")
        let generation = try String(contentsOfFile: "\(output)/database.env", encoding: .utf8)

        // The attacker puts a host that sh would run, then one that forges a second dotenv line.
        let pwned = "\(fixture.folder)/PWNED"
        let current =
            try JSONSerialization.jsonObject(
                with: Data(try await fixture.secretValue("shop/prod/database").utf8)) as! [String: Any]
        for host in ["db.example.com$(touch \(pwned))", "db\"\nLD_PRELOAD=\"/tmp/evil.so\"\n#", "db`touch \(pwned)`"] {
            var hostile = current
            hostile["host"] = host
            let value = String(decoding: try JSONSerialization.data(withJSONObject: hostile), as: UTF8.self)
            _ = try await BlackBox.admin(fixture.peers, ["put", "shop/prod/database", value])
            let refused = try await fixture.initialize(config: "\(out)/injector.json", output: output)
            #expect(refused.status == 3, "init must refuse the value: \(refused.status) \(refused.stderr)")
            #expect(
                refused.stderr.contains("database.host") && !refused.stderr.contains("touch"),
                "one line naming the key, never the value: \(refused.stderr)")
            #expect(
                try String(contentsOfFile: "\(output)/database.env", encoding: .utf8) == generation,
                "the last generation is kept")
            let app = try await run(command[0], Array(command.dropFirst()), environment: ["PATH": "/usr/bin:/bin"])
            #expect(!FileManager.default.fileExists(atPath: pwned), "the secret ran a command in the app")
            #expect(!app.stdout.contains("LD_PRELOAD"), "the secret set another variable")
        }

        // check warns about an interpolation without a filter in a dotenv file, and only there.
        try #"""
        {"outputDir": "\#(fixture.folder)/check-out", "secrets": [{"id": "shop/prod/database", "alias": "db"}],
         "templates": [{"file": "app.env", "template": "DB_HOST=\"{{ db.host }}\"\nDB_PORT={{ db.port | urlencode }}\n"},
                       {"file": "db.conf", "template": "host={{ db.host }}\n"}]}
        """#.write(toFile: "\(fixture.folder)/check.json", atomically: true, encoding: .utf8)
        let checked = try await run(
            BlackBox.binary, ["check", "--config", "\(fixture.folder)/check.json"], environment: [:])
        #expect(checked.status == 0, "\(checked.stderr)")
        let warnings = checked.stderr.split(separator: "\n").filter { $0.contains("warning") }
        #expect(warnings.count == 1, "\(checked.stderr)")
        #expect(warnings.first?.contains("templates[0]") == true && warnings.first?.contains("db.host") == true)
    }
}
