import InjectorBase
import Testing

@Suite struct TextTests {
    @Test func trimsScalarsNotGraphemes() {
        #expect("\n  token\r\n".trimmingCharacters(in: " \t\r\n") == "token")
        #expect("\rvalue\r".trimmingCharacters(in: " \t\r\n") == "value")
        #expect("  ".trimmingCharacters(in: " ") == "")
        #expect("keep inner  spaces".trimmingCharacters(in: " ") == "keep inner  spaces")
        #expect("ü\n".trimmingCharacters(in: "\n") == "ü")
    }
}
