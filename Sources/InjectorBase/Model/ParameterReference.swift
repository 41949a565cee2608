/// A Parameter Store reference in the forms ECS's `valueFrom` takes them:
/// - `arn:<partition>:ssm:<region>:<account>:parameter/<name>`: any region and account (a
///   parameter shared from another account is read by its ARN);
/// - `parameter/<name>`: the ARN's resource part, in the task's region and account;
/// - `/<name>`: a name with a leading slash (a hierarchy).
///
/// Each may end in one selector: `:<version>` (digits) or `:<label>`. A bare name without a
/// leading slash (`db-pass`) is not one of these: ECS would read it from Parameter Store, we read
/// it from Secrets Manager, whose names our configuration has always taken bare (docs/outputs.md, "Parameter
/// Store").
///
/// An ARN drops a name's leading slash (`/prod/db` is `…:parameter/prod/db`), so its name is the
/// resource with a slash put back when it has a hierarchy, as Parameter Store names must begin
/// with `/` when they hold one. A one-level name with a leading slash (`/db`) and one without
/// (`db`) share the ARN `…:parameter/db`; Parameter Store, given the ARN, knows which one it meant.
public struct ParameterReference: Sendable, Hashable, CustomStringConvertible {
    /// The parameter's name: `/pipeline-pulse/prod/db-pass` or `db-pass`.
    public var name: String
    /// The ARN, when the reference was one.
    public var arn: String?
    /// The ARN's region, when the reference was one.
    public var region: String?
    /// `3` (a version) or `live` (a label).
    public var selector: String?

    /// What `GetParameters` is asked for: the ARN (Parameter Store takes ARNs, and needs them for a
    /// parameter shared from another account) or the name, with the selector.
    public var requestName: String { (arn ?? name) + (selector.map { ":\($0)" } ?? "") }

    public var isVersionSelector: Bool { selector.map { $0.allSatisfy(\.isASCIIDigit) } ?? false }

    public var description: String { requestName }

    /// nil when `text` is not in a Parameter Store form (a Secrets Manager name or ARN); else the
    /// reference, or why it is not a valid one.
    public static func parse(_ text: String) -> Result<ParameterReference, ParameterReferenceError>? {
        var resource: Substring
        var arn: String?
        var region: String?
        if ARN.service(of: text) == "ssm" {
            guard let parsed = ARN(text), parsed.partition.hasPrefix("aws"), !parsed.region.isEmpty,
                ARN.isAccountID(parsed.account), parsed.resource.hasPrefix("parameter/")
            else {
                return .failure(
                    ParameterReferenceError(
                        text, "is not a Parameter Store ARN (arn:aws:ssm:<region>:<account>:parameter/<name>)"))
            }
            resource = Substring(parsed.resource.dropFirst("parameter/".count))
            region = parsed.region
        } else if text.hasPrefix("parameter/") {
            resource = text.dropFirst("parameter/".count)
        } else if text.hasPrefix("/") {
            resource = text.dropFirst()
        } else {
            return nil
        }
        var selector: String?
        let pieces = resource.split(separator: ":", omittingEmptySubsequences: false)
        guard pieces.count <= 2 else {
            return .failure(ParameterReferenceError(text, "has more than one selector (:<version> or :<label>)"))
        }
        if pieces.count == 2 {
            guard isLabel(pieces[1]) || pieces[1].allSatisfy(\.isASCIIDigit), !pieces[1].isEmpty else {
                return .failure(
                    ParameterReferenceError(
                        text, "has the selector \"\(pieces[1])\": a version (digits) or a label (A–Z a–z 0–9 . - _)"))
            }
            selector = String(pieces[1])
        }
        resource = pieces[0]
        let hasHierarchy = text.hasPrefix("/") || resource.contains("/")
        let name = (hasHierarchy ? "/" : "") + resource
        guard !resource.isEmpty, name.utf8.count <= 1011, !resource.hasPrefix("/"), !resource.hasSuffix("/"),
            !resource.contains("//"), resource.unicodeScalars.allSatisfy(isNameScalar)
        else {
            return .failure(
                ParameterReferenceError(text, "is not a parameter name (A–Z a–z 0–9 _ . - and / between levels)"))
        }
        if region != nil { arn = String(text.dropLast(selector.map { $0.count + 1 } ?? 0)) }
        return .success(ParameterReference(name: name, arn: arn, region: region, selector: selector))
    }

    private static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII
            && (("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
                || "_.-/".unicodeScalars.contains(scalar))
    }

    private static func isLabel(_ text: Substring) -> Bool {
        guard let first = text.first, !first.isASCIIDigit else { return false }
        return text.unicodeScalars.allSatisfy { isNameScalar($0) && $0 != "/" }
    }
}

/// Why a Parameter Store reference cannot be read, in one line.
public struct ParameterReferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var problem: String

    init(_ text: String, _ problem: String) {
        self.text = text
        self.problem = problem
    }

    public var description: String { "\"\(text)\" \(problem)" }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
