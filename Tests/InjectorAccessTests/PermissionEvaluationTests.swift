import Foundation
import InjectorBase
import InjectorSources
import SecretsManager
import Testing

@testable import InjectorAccess

/// Who can read a secret, and each finding, on accounts built here.
@Suite struct PermissionEvaluationTests {
    static let account = "111122223333"
    static let secret = "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:app/db-AbCdEf"
    static let key = "arn:aws:kms:ap-southeast-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    static let app = "arn:aws:iam::111122223333:role/app"
    static let readExactly =
        #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "\#(secret)"}}"#

    static func entity(
        _ kind: AccountAuthorizationDetails.Entity.Kind, _ name: String, inline: [String] = [], attached: [String] = [],
        groups: [String] = [], boundary: String? = nil
    ) -> AccountAuthorizationDetails.Entity {
        AccountAuthorizationDetails.Entity(
            kind: kind, name: name, arn: "arn:aws:iam::\(account):\(kind.rawValue)/\(name)",
            inlinePolicies: inline.enumerated().map { ("p\($0.offset)", $0.element) }, attachedPolicyARNs: attached,
            groups: groups, permissionsBoundary: boundary)
    }

    static func details(
        users: [AccountAuthorizationDetails.Entity] = [], groups: [AccountAuthorizationDetails.Entity] = [],
        roles: [AccountAuthorizationDetails.Entity], managed: [String: String] = [:]
    ) -> IAMAccount {
        var details = AccountAuthorizationDetails()
        details.users = users
        details.groups = groups
        details.roles = roles
        details.managedPolicies = managed
        return IAMAccount(details)
    }

    static func review(
        _ account: IAMAccount, resourcePolicy: String? = nil, keyPolicy: String? = nil, expected: Set<String> = [app]
    ) throws -> SecretPermissions {
        let key: SecretPolicies.Key =
            try keyPolicy.map {
                .customerManaged(arn: Self.key, policy: try PolicyDocument.parse($0, source: "key policy"))
            }
            ?? .awsManaged(nil)
        return PermissionReview.review(
            SecretPolicies(
                id: "app/db", arn: secret, key: key,
                resourcePolicy: try resourcePolicy.map { try PolicyDocument.parse($0, source: "resource policy") }),
            account: account, expected: expected)
    }

    @Test func aCleanAccountHasNoFinding() throws {
        let review = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "other")]))
        #expect(review.readers.map(\.principal) == [Self.app])
        #expect(review.readers[0].expected && review.readers[0].conditions.isEmpty)
        #expect(review.findings == [])
        #expect(!PermissionReport.render([review], format: .text).contains("finding:"))
    }

    @Test func anUnexpectedReaderIsAFindingAndGroupsReachTheirUsers() throws {
        let review = try Self.review(
            Self.details(
                users: [Self.entity(.user, "bob", groups: ["readers"])],
                groups: [Self.entity(.group, "readers", attached: ["arn:aws:iam::111122223333:policy/read"])],
                roles: [Self.entity(.role, "app", inline: [Self.readExactly])],
                managed: ["arn:aws:iam::111122223333:policy/read": Self.readExactly]))
        #expect(review.readers.map(\.principal) == [Self.app, "arn:aws:iam::111122223333:user/bob"])
        #expect(review.findings == ["arn:aws:iam::111122223333:user/bob can read it and is not an expected principal"])
        #expect(review.readers[1].through.first?.hasPrefix("user bob via group readers: managed policy") == true)
    }

    @Test func aConditionalReaderNamesTheCondition() throws {
        let conditional =
            #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}}"#
        let review = try Self.review(
            Self.details(roles: [Self.entity(.role, "app"), Self.entity(.role, "ci", inline: [conditional])]))
        #expect(
            review.findings.contains(
                "arn:aws:iam::111122223333:role/ci can read it and is not an expected principal (conditional: StringEquals aws:SourceVpce)"
            ))
    }

    @Test func aDenyStopsTheReadAndABoundaryIsNoted() throws {
        let deny = #"{"Statement": {"Effect": "Deny", "Action": "secretsmanager:*", "Resource": "*"}}"#
        let review = try Self.review(
            Self.details(roles: [
                Self.entity(.role, "app", inline: [Self.readExactly], boundary: "arn:aws:iam::111122223333:policy/cap"),
                Self.entity(.role, "ci", inline: [Self.readExactly, deny]),
            ]))
        #expect(review.readers.map(\.principal) == [Self.app])
        #expect(review.notes.contains { $0.contains("permissions boundary (arn:aws:iam::111122223333:policy/cap)") })
    }

    @Test func broadGrantsAreFindings() throws {
        let all = #"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#
        let service =
            #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "\#(Self.secret)"}}"#
        let review = try Self.review(
            Self.details(roles: [
                Self.entity(.role, "app", inline: [service]), Self.entity(.role, "admin", inline: [all]),
            ]),
            expected: [Self.app, "arn:aws:iam::111122223333:role/admin"])
        let broad = review.findings.filter { $0.hasPrefix("a broad grant reaches it: ") }
        #expect(broad.count == 2)
        #expect(
            broad.contains {
                $0.contains("role app: inline policy p0, statement 1 allows") && $0.contains("action secretsmanager:*")
            })
        #expect(broad.contains { $0.contains("action *, Resource *") })
    }

    @Test func aResourcePolicyGrantsInTheAccountByItself() throws {
        let policy =
            #"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/ci"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}"#
        let review = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "ci")]),
            resourcePolicy: policy)
        #expect(review.readers.map(\.principal) == [Self.app, "arn:aws:iam::111122223333:role/ci"])
        #expect(review.readers[1].through == ["resource policy, statement 1"])
        // Naming the account's root only hands the decision to IAM: nobody new reads.
        let root =
            #"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "secretsmanager:*", "Resource": "*"}}"#
        let delegated = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "ci")]),
            resourcePolicy: root)
        #expect(delegated.readers.map(\.principal) == [Self.app])
        #expect(delegated.findings == [])
    }

    @Test func anotherAccountNeedsTheResourcePolicyAndACustomerManagedKey() throws {
        let policy =
            #"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:role/partner"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}"#
        let roles = [Self.entity(.role, "app", inline: [Self.readExactly])]
        // The AWS managed key serves no other account: admitted, but it cannot read.
        let managed = try Self.review(Self.details(roles: roles), resourcePolicy: policy)
        #expect(managed.readers.map(\.principal) == [Self.app])
        #expect(
            managed.findings
                == [
                    "the resource policy admits another account (444455556666): arn:aws:iam::444455556666:role/partner in statement 1"
                ])
        // A customer managed key whose policy admits the partner too: it can read.
        let keyPolicy =
            #"{"Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},"#
            + #"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}, "Action": "kms:Decrypt", "Resource": "*"}]}"#
        let appWithKey = Self.entity(
            .role, "app",
            inline: [
                Self.readExactly,
                #"{"Statement": {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "\#(Self.key)"}}"#,
            ])
        let customer = try Self.review(Self.details(roles: [appWithKey]), resourcePolicy: policy, keyPolicy: keyPolicy)
        #expect(customer.readers.map(\.principal) == [Self.app, "arn:aws:iam::444455556666:role/partner"])
        #expect(
            customer.findings.contains(
                "arn:aws:iam::444455556666:role/partner can read it and is not an expected principal"))
        #expect(customer.notes.contains { $0.contains("444455556666:role/partner is in another account") })
    }

    @Test func anyoneInTheResourcePolicyIsAFinding() throws {
        let policy =
            #"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}"#
        let review = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly])]), resourcePolicy: policy)
        #expect(review.findings.contains("the resource policy admits anyone (*) in statement 1"))
        #expect(review.findings.contains("* can read it and is not an expected principal"))
        // Every role of the account now reads through it (same account: the union).
        let more = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "ci")]),
            resourcePolicy: policy)
        #expect(more.readers.map(\.principal).contains("arn:aws:iam::111122223333:role/ci"))
    }

    @Test func aCustomerManagedKeyGatesTheReadThroughItsPolicyOrTheRootAndIAM() throws {
        let rootOnly =
            #"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}}"#
        let decrypt = #"{"Statement": {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}}"#
        // Root delegation and no kms:Decrypt in IAM: it cannot read.
        let without = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly])]), keyPolicy: rootOnly)
        #expect(without.readers.isEmpty)
        // Root delegation and kms:Decrypt in IAM: it can.
        let with = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly, decrypt])]), keyPolicy: rootOnly)
        #expect(with.readers.map(\.principal) == [Self.app])
        #expect(with.readers[0].through.count == 3)
        // The key policy names the role: no IAM grant needed for the key.
        let named =
            #"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "\#(Self.app)"}, "Action": "kms:Decrypt", "Resource": "*"}}"#
        let direct = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly])]), keyPolicy: named)
        #expect(direct.readers.map(\.principal) == [Self.app])
        // Without the root statement an IAM grant on the key does nothing.
        let noRoot = try Self.review(
            Self.details(roles: [
                Self.entity(.role, "app", inline: [Self.readExactly]),
                Self.entity(.role, "ci", inline: [Self.readExactly, decrypt]),
            ]),
            keyPolicy: named)
        #expect(noRoot.readers.map(\.principal) == [Self.app])
    }

    @Test func aKeyWiderThanTheSecretIsAFinding() throws {
        let keyPolicy =
            #"{"Statement": [{"Effect": "Allow", "Principal": {"AWS": ["\#(Self.app)", "arn:aws:iam::111122223333:role/ci", "777788889999"]}, "Action": "kms:Decrypt", "Resource": "*"},"#
            + #"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"}}}]}"#
        let review = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "ci")]),
            keyPolicy: keyPolicy)
        #expect(
            review.findings.contains {
                $0.hasPrefix("the KMS key's policy lets arn:aws:iam::111122223333:role/ci decrypt")
            })
        #expect(
            review.findings.contains(
                "the KMS key's policy lets 777788889999 decrypt in statement 1, which the secret's own grants do not admit"
            ))
        #expect(
            review.findings.contains(
                "the KMS key's policy lets anyone (*) decrypt in statement 2 (conditional: StringEquals kms:CallerAccount)"
            ))
        #expect(!review.findings.contains { $0.contains("role/app decrypt") })
    }

    @Test func theReportsSayWhatIsOutOfScopeAndNeverAValue() throws {
        let review = try Self.review(Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly])]))
        for format in Reviewer.Format.allCases {
            let text = PermissionReport.render([review], format: format)
            #expect(text.contains("iam:SimulatePrincipalPolicy") && text.contains("permissions boundaries"))
        }
        #expect(PermissionReport.render([review], format: .markdown).hasPrefix("| secret | KMS key |"))
        #expect(PermissionReport.render([review], format: .json).hasPrefix(#"{"secrets":[{"secretId":"app/db""#))
    }

    @Test func expectedPrincipalsComeFromFlagsOrTheTaskDefinition() throws {
        #expect(throws: CommandExit.self) {
            try PermissionReviewCommand(expectedPrincipals: [], taskDefinition: nil, format: "text").expectedSet()
        }
        let path = "/tmp/permission-review-\(UInt32.random(in: 0...UInt32.max)).json"
        try Data(#"{"taskDefinition": {"family": "x", "taskRoleArn": "arn:aws:iam::111122223333:role/app"}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(
            try PermissionReviewCommand(
                expectedPrincipals: ["arn:aws:iam::1:user/u"], taskDefinition: path, format: "text"
            )
            .expectedSet() == [Self.app, "arn:aws:iam::1:user/u"])
    }

    /// An attacker's review: forms of a grant a reader could hide behind.
    @Test func aPolicyVariableInResourceIsAConditionalReaderNotAMiss() throws {
        let byUserName =
            #"{"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "arn:aws:secretsmanager:ap-southeast-1:111122223333:secret:app/${aws:username}-*"}}"#
        let review = try Self.review(
            Self.details(
                users: [Self.entity(.user, "db", inline: [byUserName])],
                roles: [Self.entity(.role, "app", inline: [Self.readExactly])]))
        let user = try #require(review.readers.first { $0.principal.hasSuffix(":user/db") })
        #expect(user.conditions.contains { $0.contains("policy variable") && $0.contains("${aws:username}") })
        #expect(review.findings.contains { $0.contains(":user/db can read it") })
    }

    @Test func aResourcePolicyNamingARoleSessionAdmitsTheRoleForThatSession() throws {
        let policy =
            #"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:sts::111122223333:assumed-role/stranger/s1"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}"#
        let review = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "stranger")]
            ),
            resourcePolicy: policy)
        let stranger = try #require(review.readers.first { $0.principal.hasSuffix(":role/stranger") })
        #expect(stranger.conditions == ["only its session s1"])
        #expect(review.findings.contains { $0.hasPrefix("arn:aws:iam::111122223333:role/stranger can read it") })
    }

    @Test func allowWithNotPrincipalAdmitsEveryoneElseAndAnAccountInNotPrincipalExcludesOnlyItsRoot() throws {
        let allow =
            #"{"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}"#
        let review = try Self.review(
            Self.details(roles: [Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "stranger")]
            ),
            resourcePolicy: allow)
        #expect(review.readers.contains { $0.principal.hasSuffix(":role/stranger") })
        #expect(review.findings.contains { $0.contains("Allow with NotPrincipal") })
        // Deny with NotPrincipal naming the account: its roles are denied too (only the root is spared).
        let deny =
            #"{"Statement": [{"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:role/app"]}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}"#
        let denied = try Self.review(
            Self.details(roles: [
                Self.entity(.role, "app", inline: [Self.readExactly]),
                Self.entity(
                    .role, "admin", inline: [#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}"#]),
            ]),
            resourcePolicy: deny)
        #expect(denied.readers.map(\.principal) == [Self.app])
    }

    @Test func anUnreadableIdentityPolicyIsAFindingAndAKeyOnlyAGrantCouldOpenIsNoted() throws {
        let review = try Self.review(
            Self.details(roles: [
                Self.entity(.role, "app", inline: [Self.readExactly]), Self.entity(.role, "odd", inline: ["{"]),
            ]))
        #expect(review.findings.contains { $0.contains("its grants are not evaluated") }, "\(review.findings)")
        // The key's policy names only the app: another reader of the secret needs a grant to decrypt.
        let keyPolicy =
            #"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "\#(Self.app)"}, "Action": "kms:Decrypt", "Resource": "*"}}"#
        let gated = try Self.review(
            Self.details(roles: [
                Self.entity(.role, "app", inline: [Self.readExactly]),
                Self.entity(.role, "ci", inline: [Self.readExactly]),
            ]),
            keyPolicy: keyPolicy)
        #expect(gated.readers.map(\.principal) == [Self.app])
        #expect(gated.notes.contains { $0.contains(":role/ci may call") && $0.contains("KMS grant") })
    }
}
