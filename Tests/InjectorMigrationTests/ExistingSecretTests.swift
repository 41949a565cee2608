import Testing

@testable import InjectorMigration

@Suite struct ExistingSecretTests {
    /// Who an `Allow` statement admits outside the secret's own account.
    @Test func foreignPrincipalsAreEveryoneOutsideTheAccount() {
        func foreign(_ principal: String, effect: String = "Allow") -> [String] {
            ExistingSecret.foreignPrincipals(
                #"{"Statement": [{"Effect": "\#(effect)", \#(principal), "Action": "*", "Resource": "*"}]}"#,
                account: "123456789012")
        }
        #expect(foreign(#""Principal": {"AWS": "arn:aws:iam::123456789012:role/app"}"#) == [])
        #expect(foreign(#""Principal": {"AWS": ["123456789012", "arn:aws:iam::123456789012:root"]}"#) == [])
        #expect(
            foreign(#""Principal": {"AWS": "arn:aws:iam::999999999999:root"}"#) == ["arn:aws:iam::999999999999:root"])
        #expect(foreign(#""Principal": {"AWS": "999999999999"}"#) == ["999999999999"])
        #expect(foreign(#""Principal": "*""#) == ["*"])
        #expect(foreign(#""Principal": {"AWS": "*"}"#) == ["*"])
        #expect(foreign(#""Principal": {"Service": "lambda.amazonaws.com"}"#) == ["Service lambda.amazonaws.com"])
        #expect(
            foreign(#""NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}"#) == ["everyone but a NotPrincipal"])
        #expect(foreign(#""Principal": "*""#, effect: "Deny") == [])
        #expect(ExistingSecret.foreignPrincipals("not json", account: "123456789012") == ["(an unreadable policy)"])
    }

    @Test func keysMatchByIdAliasOrARN() {
        let arn = "arn:aws:kms:ap-southeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        #expect(ExistingSecret.sameKey(arn, "1234abcd-12ab-34cd-56ef-1234567890ab"))
        #expect(ExistingSecret.sameKey(arn, arn))
        #expect(ExistingSecret.sameKey("arn:aws:kms:ap-southeast-1:123456789012:alias/shop", "alias/shop"))
        #expect(!ExistingSecret.sameKey(arn, "alias/shop"))
        #expect(!ExistingSecret.sameKey(arn, nil))
    }
}
