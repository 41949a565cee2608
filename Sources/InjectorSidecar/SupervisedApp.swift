public import InjectorBase
public import InjectorJob
public import InjectorOutputs
public import SecretsManager
public import ServiceLifecycle

/// An app `run` starts and supervises beside its rounds: `exec`'s. It is told the values of every
/// generation, from the first on, and when it returns the sidecar stops.
public protocol SupervisedApp: Service {
    /// The values a generation was rendered from (`results`, the cache with the round's checks laid
    /// over it) and its outputs, once committed; the first generation's before anything is written,
    /// and a problem thrown then ends the start with its exit status. Later problems are logged.
    func valuesCommitted(
        injector: Injector, files: [OutputFile], results: [SecretRequest: Result<SecretValue, AWSCallError>]
    ) throws(InjectorFailure)
}
