import InjectorOutputs
import Testing

/// One path-claim rule for the configuration's files, the socket and discovered names, both ways
/// round: a path collides with a path, a folder of one, or a file above it.
@Suite struct ClaimedPathsTests {
    @Test func aNameCollidesWithAPathAFolderOrAFileAboveIt() {
        var claimed = ClaimedPaths()
        #expect(claimed.claim("db/password", by: "the configuration") == nil)
        #expect(claimed.claim("injector.sock", by: "the socket (server.socketPath)") == nil)
        #expect(claimed.claim("p/a", by: "secret p/a") == nil)
        #expect(claimed.collision("db")?.contains("\"db/password\" of the configuration") == true)
        #expect(claimed.collision("db/password")?.contains("is also the file of the configuration") == true)
        #expect(claimed.collision("db/password/x")?.contains("\"db/password\"") == true)
        #expect(claimed.collision("injector.sock")?.contains("the socket") == true)
        #expect(claimed.collision("p/a/b")?.contains("\"p/a\" of secret p/a") == true)
        #expect(claimed.collision("p/b") == nil)
        #expect(claimed.collision("dbx") == nil)
        #expect(claimed.collision("p") != nil, "p is the folder of p/a")
        // A refused claim takes nothing: the first owner stays.
        #expect(claimed.claim("p/a", by: "secret p/a again") != nil)
        #expect(claimed.collision("p/a")?.contains("of secret p/a") == true)
        #expect(claimed.claim("p/b", by: "secret p/b") == nil)
    }
}
