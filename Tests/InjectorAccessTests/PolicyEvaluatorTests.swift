import InjectorBase
import Testing

@testable import InjectorAccess

/// The evaluator's rules, as IAM applies them: explicit Deny wins, NotAction and NotResource
/// invert, wildcards, the case rules, principals and conditions.
@Suite struct PolicyEvaluatorTests {
    static let secret = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:app/db-AbCdEf"
    static let read = "secretsmanager:GetSecretValue"

    static func document(_ json: String, _ source: String = "test") throws -> PolicyDocument {
        try PolicyDocument.parse(json, source: source)
    }

    static func identity(_ json: String) throws -> PolicyDecision {
        PolicyEvaluator.identity([try document(json)], action: read, resource: secret)
    }

    @Test func statementIsAnObjectOrAnArrayAndFieldsAStringOrAnArray() throws {
        let single = try Self.document(
            #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}"#)
        let list = try Self.document(
            #"{"Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": ["*"]}]}"#)
        #expect(single.statements.count == 1 && list.statements.count == 1)
        #expect(single.statements[0].actions == list.statements[0].actions)
        #expect(throws: PolicyDocument.Unreadable.self) {
            try Self.document(#"{"Statement": [{"Effect": "Maybe", "Action": "*"}]}"#)
        }
        #expect(throws: PolicyDocument.Unreadable.self) { try Self.document(#"{"Statement": [{"Effect": "Allow"}]}"#) }
    }

    @Test func explicitDenyWins() throws {
        let decision = try Self.identity(
            #"{"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},"#
                + #"{"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:*:*:secret:app/*"}]}"#
        )
        #expect(!decision.allowed)
        #expect(decision.allows.count == 1 && decision.denies.count == 1)
    }

    @Test func aConditionalDenyDoesNotCancelAnUnconditionalAllowButIsKept() throws {
        let decision = try Self.identity(
            #"{"Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},"#
                + #"{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}"#
        )
        #expect(decision.allowed && decision.unconditional)
        #expect(decision.denies.first?.conditions == ["Bool aws:SecureTransport"])
    }

    @Test func aConditionMakesAGrantConditionalAndIsNamedByOperatorAndKey() throws {
        let decision = try Self.identity(
            #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*","#
                + #""Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1", "aws:PrincipalTag/team": "x"}}}}"#)
        #expect(decision.allowed && !decision.unconditional)
        #expect(decision.allows[0].conditions == ["StringEquals aws:SourceVpce", "StringEquals aws:PrincipalTag/team"])
    }

    @Test func notActionAllowsEverythingElse() throws {
        #expect(
            try Self.identity(#"{"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}"#).allowed)
        #expect(
            !(try Self.identity(
                #"{"Statement": {"Effect": "Allow", "NotAction": "secretsmanager:Get*", "Resource": "*"}}"#
            ).allowed))
        // A Deny with NotAction denies everything but what it lists.
        #expect(
            !(try Self.identity(
                #"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}]}"#
            ).allowed))
    }

    @Test func notResourceAllowsEverywhereElse() throws {
        #expect(
            try Self.identity(
                #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "NotResource": "arn:aws:secretsmanager:*:*:secret:other-*"}}"#
            ).allowed)
        #expect(
            !(try Self.identity(
                #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "NotResource": "arn:aws:secretsmanager:*:*:secret:app/*"}}"#
            ).allowed))
    }

    @Test func actionsAreCaseInsensitiveAndResourcesCaseSensitiveWithWildcards() throws {
        for action in [
            "SecretsManager:getsecretvalue", "secretsmanager:Get*", "secretsmanager:?etSecretValue", "*:GetSecretValue",
        ] {
            #expect(
                try Self.identity(#"{"Statement": {"Effect": "Allow", "Action": "\#(action)", "Resource": "*"}}"#)
                    .allowed, "\(action)")
        }
        #expect(
            !(try Self.identity(
                #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:Describe*", "Resource": "*"}}"#
            )
            .allowed))
        #expect(
            try Self.identity(
                #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:app/db-??????"}}"#
            ).allowed)
        #expect(
            !(try Self.identity(
                #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:APP/*"}}"#
            ).allowed))
        #expect(PolicyEvaluator.glob("a*b*c", matches: "aXXbYbZc"))
        #expect(!PolicyEvaluator.glob("a*b?c", matches: "abc"))
    }

    @Test func broadGrantsAreNamed() throws {
        let decision = try Self.identity(
            #"{"Statement": [{"Effect": "Allow", "Action": "SecretsManager:*", "Resource": "*"}, {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:secretsmanager:*"}]}"#
        )
        #expect(decision.allows.map(\.broadness) == [["action SecretsManager:*", "Resource *"], ["action *"]])
        let narrow = try Self.identity(
            #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "\#(Self.secret)"}}"#
        )
        #expect(narrow.allows.map(\.broadness) == [[]])
    }

    @Test func resourcePolicyPrincipals() throws {
        let policy = try Self.document(
            #"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:role/app", "444455556666"]}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"},"#
                + #"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "secretsmanager:*", "Resource": "*"}]}"#
        )
        let app = PolicyEvaluator.resource(
            policy, action: Self.read, resource: Self.secret, principal: "arn:aws:iam::111122223333:role/app",
            account: "111122223333")
        #expect(app.direct.allowed && app.account.allowed)
        // A resource policy's `Resource: *` is the secret itself, not a broad grant.
        #expect(app.direct.allows.map(\.broadness) == [[]])
        let other = PolicyEvaluator.resource(
            policy, action: Self.read, resource: Self.secret, principal: "arn:aws:iam::111122223333:role/other",
            account: "111122223333")
        #expect(!other.direct.allowed && other.account.allowed)
        let foreign = PolicyEvaluator.resource(
            policy, action: Self.read, resource: Self.secret, principal: "arn:aws:iam::444455556666:role/x",
            account: "444455556666")
        #expect(!foreign.direct.allowed && foreign.account.allowed)
        let anyone = try Self.document(
            #"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}"#
        )
        #expect(
            PolicyEvaluator.resource(
                anyone, action: Self.read, resource: Self.secret, principal: "arn:aws:iam::9:role/x", account: "9"
            ).direct.allowed)
    }
}
