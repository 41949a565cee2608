import InjectorBase
import InjectorSources

/// `review permissions`' report in text, JSON or markdown, as `review`'s: one block (or row) per
/// secret, the readers, the notes and the findings, then the count and what is out of scope.
enum PermissionReport {
    static func render(_ reviews: [SecretPermissions], format: Reviewer.Format) -> String {
        switch format {
        case .text: text(reviews)
        case .json:
            JSONValue.fields([
                "secrets": .array(reviews.map(object)), "outOfScope": .string(PermissionReview.outOfScope),
            ]).serialized.escapingControls(c0: false) + "\n"
        case .markdown: markdown(reviews)
        }
    }

    static func reader(_ reader: SecretPermissions.Reader) -> String {
        var text = reader.principal + (reader.expected ? " (expected)" : "")
        if !reader.conditions.isEmpty { text += " (conditional: \(reader.conditions.joined(separator: ", ")))" }
        return text
    }

    static func key(_ review: SecretPermissions) -> String {
        review.kmsKey + (review.customerManagedKey ? " (customer managed)" : " (AWS managed)")
    }

    static func text(_ reviews: [SecretPermissions]) -> String {
        var out = ""
        for review in reviews {
            out += review.id.escapingControls() + "\n"
            out += "  ARN: \(review.arn.escapingControls())\n"
            out += "  KMS key: \(key(review).escapingControls())\n"
            out += "  resource policy: \(review.hasResourcePolicy ? "yes" : "none")\n"
            for reader in review.readers {
                out += "  can read: \(Self.reader(reader).escapingControls())\n"
                for grant in reader.through { out += "    through \(grant.escapingControls())\n" }
            }
            if review.readers.isEmpty { out += "  can read: nobody the documents show\n" }
            for note in review.notes { out += "  note: \(note.escapingControls())\n" }
            for finding in review.findings { out += "  finding: \(finding.escapingControls())\n" }
        }
        return out + summary(reviews) + "\n" + PermissionReview.outOfScope + "\n"
    }

    static func summary(_ reviews: [SecretPermissions]) -> String {
        let count = reviews.map(\.findings.count).reduce(0, +)
        let secrets = reviews.filter { !$0.findings.isEmpty }.count
        let total = "\(reviews.count) secret\(reviews.count == 1 ? "" : "s")"
        return count == 0
            ? "no finding in \(total)" : "\(count) finding\(count == 1 ? "" : "s") in \(secrets) of \(total)"
    }

    static func object(_ review: SecretPermissions) -> JSONValue {
        .fields([
            "secretId": .string(review.id), "arn": .string(review.arn), "kmsKey": .string(review.kmsKey),
            "customerManagedKey": .bool(review.customerManagedKey), "resourcePolicy": .bool(review.hasResourcePolicy),
            "readers": .array(
                review.readers.map {
                    .fields([
                        "principal": .string($0.principal), "expected": .bool($0.expected),
                        "conditions": .array($0.conditions.map(JSONValue.string)),
                        "through": .array($0.through.map(JSONValue.string)),
                    ])
                }),
            "notes": .array(review.notes.map(JSONValue.string)),
            "findings": .array(review.findings.map(JSONValue.string)),
        ])
    }

    static func markdown(_ reviews: [SecretPermissions]) -> String {
        var out = "| secret | KMS key | resource policy | can read | findings |\n|---|---|---|---|---|\n"
        for review in reviews {
            let cells = [
                "`\(review.id)`", key(review), review.hasResourcePolicy ? "yes" : "none",
                review.readers.isEmpty ? "—" : review.readers.map(reader).joined(separator: "<br>"),
                review.findings.isEmpty ? "—" : review.findings.joined(separator: "; "),
            ]
            out +=
                "| " + cells.map { $0.markdownTableCell }.joined(separator: " | ") + " |\n"
        }
        out += "\n" + summary(reviews) + "\n"
        let notes = reviews.flatMap { review in review.notes.map { "- `\(review.id)`: \($0)" } }
        if !notes.isEmpty { out += "\nNotes:\n\n" + notes.map { $0.escapingControls() }.joined(separator: "\n") + "\n" }
        return out + "\n" + PermissionReview.outOfScope + "\n"
    }
}
