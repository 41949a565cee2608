import AWSSigning
import FoundationEssentials
import Testing

@Suite struct CryptoTests {
    @Test func sha256KnownAnswers() throws {
        // FIPS 180-2 appendix B.1 and the empty string.
        #expect(
            try SHA256.hexHash(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try SHA256.hexHash([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func hmacSHA256MatchesRFC4231() throws {
        // RFC 4231 test cases 2 and 6 (a key longer than the block size).
        let case2 = try HMACSHA256.authenticationCode(key: Array("Jefe".utf8), string: "what do ya want for nothing?")
        #expect(hex(case2) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let case6 = try HMACSHA256.authenticationCode(
            key: [UInt8](repeating: 0xaa, count: 131),
            string: "Test Using Larger Than Block-Size Key - Hash Key First")
        #expect(hex(case6) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func amzDateRendersUTC() {
        #expect(AMZDate(Date(timeIntervalSince1970: 1_440_938_160)).dateTime == "20150830T123600Z")
        #expect(AMZDate(Date(timeIntervalSince1970: 951_782_400)).dateTime == "20000229T000000Z")
        #expect(AMZDate(Date(timeIntervalSince1970: 0)).date == "19700101")
        #expect(AMZDate(Date(timeIntervalSince1970: 4_102_444_799.9)).dateTime == "20991231T235959Z")
    }

    @Test func percentEncodingKeepsOnlyUnreserved() {
        #expect(percentEncode("a-b_c.d~e") == "a-b_c.d~e")
        #expect(percentEncode("a b/c+d=e&f") == "a%20b%2Fc%2Bd%3De%26f")
        #expect(percentEncode("ሴ") == "%E1%88%B4")
    }
}
