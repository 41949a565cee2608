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

    @Test func controlsSeparatorsAndBidiAreEscaped() {
        #expect("a\u{1B}[2Kb\nc".escapingControls() == "a\\u001b[2Kb\\u000ac")
        #expect("1.2.3.4\u{2028}finding: fake".escapingControls() == "1.2.3.4\\u2028finding: fake")
        #expect("abc\u{202E}gpj.exe".escapingControls() == "abc\\u202egpj.exe")
        #expect("tab\there".escapingControls(c0: false) == "tab\there")
        #expect("plain ü".escapingControls() == "plain ü")
    }

    @Test func aMarkdownCellNeverEndsEarly() {
        #expect("a| **yes** |b".markdownTableCell == "a\\| **yes** \\|b")
        // A backslash before a pipe cannot escape the escape.
        #expect("a\\| **yes**".markdownTableCell == "a\\\\\\| **yes**")
    }
}
