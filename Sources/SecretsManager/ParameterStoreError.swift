/// A failed Parameter Store call: what ``ParameterStoreClient`` throws. Its message names Parameter
/// Store, the `ssm:` permission, the parameter's ARN and `AWS_ENDPOINT_URL_SSM`.
public struct ParameterStoreError: ServiceError {
    public static let service = AWSService.parameterStore
    public var underlying: AWSCallError
    public init(holding underlying: AWSCallError) { self.underlying = underlying }
}
