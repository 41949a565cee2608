public import FoundationEssentials

/// One Parameter Store parameter as `GetParameters` answers it. `Version` grows by one
/// with each `PutParameter`; a `StringList` is its comma-separated text. Never printed with its value.
public struct Parameter: Sendable, Equatable, Decodable, CustomStringConvertible {
    public var name: String
    public var type: String
    public var value: String
    public var version: Int
    /// The `:version` or `:label` the name was asked with, if any.
    public var selector: String?
    public var arn: String?
    public var lastModifiedDate: Date?

    public init(
        name: String, type: String, value: String, version: Int, selector: String? = nil, arn: String? = nil,
        lastModifiedDate: Date? = nil
    ) {
        self.name = name
        self.type = type
        self.value = value
        self.version = version
        self.selector = selector
        self.arn = arn
        self.lastModifiedDate = lastModifiedDate
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name", type = "Type", value = "Value", version = "Version", selector = "Selector", arn = "ARN"
        case lastModifiedDate = "LastModifiedDate"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        type = try container.decode(String.self, forKey: .type)
        value = try container.decode(String.self, forKey: .value)
        version = try container.decode(Int.self, forKey: .version)
        // AWS answers `":3"`; the selector is kept without its colon, as it is asked.
        selector = try container.decodeIfPresent(String.self, forKey: .selector).map {
            $0.hasPrefix(":") ? String($0.dropFirst()) : $0
        }
        arn = try container.decodeIfPresent(String.self, forKey: .arn)
        lastModifiedDate = try container.decodeIfPresent(Date.self, forKey: .lastModifiedDate)
    }

    public var description: String {
        "Parameter(name: \(name), type: \(type), version: \(version), value: <redacted>)"
    }
}

/// What `GetParameters` answers for any number of names: the parameters, and the names it did not.
public struct ParametersResult: Sendable, Equatable {
    public var parameters: [Parameter]
    /// The names (as asked) that Parameter Store did not answer.
    public var invalid: [String]
}

struct GetParametersRequest: Encodable {
    var Names: [String]
    var WithDecryption: Bool
}

struct GetParametersResponse: Decodable {
    var Parameters: [Parameter]?
    var InvalidParameters: [String]?
}

struct GetParametersByPathRequest: Encodable {
    var Path: String
    var Recursive: Bool
    var WithDecryption: Bool
    var NextToken: String?
}

/// `GetParametersByPath`'s answer, names only: a value in it is never decoded.
struct GetParametersByPathResponse: Decodable {
    struct Listed: Decodable {
        var Name: String
    }
    var Parameters: [Listed]?
    var NextToken: String?
}
