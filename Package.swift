// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "secrets-injector",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "secrets-injector", targets: ["secrets-injector"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, wrapped only where Swift cannot call them directly (variadic setopt, macros).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),

        // prctl(2) is variadic: the calls the hardening and exec need (PR_SET_DUMPABLE,
        // PR_SET_CHILD_SUBREAPER) are wrapped in C, with the other system calls Swift cannot make:
        // openat2, syncfs, close_range for posix_spawn.
        .target(name: "CProcess"),

        // The rooms, bottom up (docs/ARCHITECTURE.md, drawn from this file by scripts/architecture;
        // the allowed imports are checked by LayeringTests). A room imports only rooms below it.
        .target(name: "InjectorBase", dependencies: ["CProcess"], swiftSettings: strict),
        .target(name: "AWSSigning", dependencies: ["CCrypto"], swiftSettings: strict),
        .target(name: "HTTPTransport", dependencies: ["CCurl", "InjectorBase"], swiftSettings: strict),
        .target(
            name: "AWSCredentials",
            dependencies: ["HTTPTransport", "InjectorBase", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "SecretsManager",
            dependencies: [
                "AWSSigning", "HTTPTransport", "AWSCredentials", "InjectorBase",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "InjectorOutputs", dependencies: ["InjectorBase", "CProcess"], swiftSettings: strict),
        .target(
            name: "InjectorSources",
            dependencies: [
                "InjectorBase", "SecretsManager", "AWSCredentials", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "InjectorRefresh", dependencies: ["InjectorBase"], swiftSettings: strict),
        .target(name: "InjectorAgent", dependencies: ["InjectorBase", "SecretsManager"], swiftSettings: strict),
        .target(
            name: "InjectorTelemetry",
            dependencies: ["InjectorBase", "InjectorAgent", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "InjectorConfig",
            dependencies: ["InjectorBase", "InjectorOutputs", "InjectorSources", "InjectorAgent", "SecretsManager"],
            swiftSettings: strict
        ),
        .target(
            name: "InjectorHTTP",
            dependencies: [
                "InjectorBase", "InjectorOutputs", "InjectorAgent", "InjectorTelemetry", "InjectorConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "InjectorJob",
            dependencies: [
                "InjectorBase", "InjectorOutputs", "InjectorSources", "InjectorTelemetry", "InjectorConfig",
                "SecretsManager", "AWSCredentials", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // `exec`: the app that reads only environment variables, started with its secrets and supervised.
        .target(
            name: "InjectorExec",
            dependencies: [
                "InjectorBase", "InjectorConfig", "InjectorJob", "InjectorOutputs", "InjectorSources",
                "InjectorTelemetry", "InjectorSidecar", "HTTPTransport", "SecretsManager",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "InjectorSidecar",
            dependencies: [
                "InjectorBase", "InjectorOutputs", "InjectorSources", "InjectorRefresh", "InjectorAgent",
                "InjectorTelemetry", "InjectorConfig", "InjectorHTTP", "InjectorJob",
                "SecretsManager", "AWSCredentials", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // `scan` and `migrate`: operator tools, not the daemon. Yams imports full Foundation,
        // so they live in their own executable, which `secrets-injector scan|migrate` runs; the
        // shipped daemon stays FoundationEssentials only.
        .target(
            name: "InjectorMigration",
            dependencies: [
                "InjectorBase", "InjectorOutputs", "InjectorSources", "InjectorTelemetry", "InjectorConfig",
                "InjectorJob", "SecretsManager", "AWSSigning", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // `review access` (who read each secret: CloudTrail) and `review permissions` (who can: IAM, the
        // secret's resource policy, its KMS key's policy), in the tools' executable: an auditor's commands.
        .target(
            name: "InjectorAccess",
            dependencies: [
                "InjectorBase", "InjectorConfig", "InjectorJob", "InjectorSources", "SecretsManager",
                "AWSCredentials", "AWSSigning", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The one entry of both executables: parse, run, and every error as one line with its exit code.
        .target(
            name: "InjectorCommandLine",
            dependencies: [
                "InjectorBase", "InjectorConfig", "InjectorJob",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "secrets-injector-tools",
            dependencies: [
                "InjectorCommandLine", "InjectorMigration", "InjectorAccess", "InjectorBase", "SecretsManager",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "secrets-injector",
            dependencies: [
                "InjectorCommandLine", "InjectorBase", "InjectorSources", "InjectorTelemetry", "InjectorConfig",
                "InjectorJob", "InjectorSidecar", "InjectorExec", "SecretsManager",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["startup.order", "exports.map"],
            swiftSettings: strict,
            // The shipped binary's link (docs/BENCHMARKS.md, "memory"): the toolchain's lld (in every
            // swift.org Linux toolchain since 6.0), with packed relative relocations (DT_RELR, glibc
            // ≥ 2.36: 1.3 MB of relocations become 11 KB), no exported symbols (exports.map), and the
            // functions that start-up, refresh and serving run laid out together (scripts/startup-order).
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                        "-Xlinker",
                        "--symbol-ordering-file=\(Context.packageDirectory)/Sources/secrets-injector/startup.order",
                        "-Xlinker", "--no-warn-symbol-ordering",
                        "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/secrets-injector/exports.map",
                    ], .when(platforms: [.linux], configuration: .release))
            ]
        ),

        // libFuzzer targets (scripts/fuzz builds them with -sanitize=fuzzer,address -DFUZZING); built
        // plainly, it replays inputs. Not part of the shipped product.
        .executableTarget(
            name: "secrets-injector-fuzz",
            dependencies: [
                "InjectorBase", "InjectorOutputs", "InjectorAgent", "InjectorConfig", "InjectorHTTP", "InjectorSidecar",
                "InjectorMigration", "AWSCredentials", "HTTPTransport", "SecretsManager",
            ],
            swiftSettings: strict
        ),

        // The fleet simulation (`scripts/bench fleet`): the production refresh policy for N tasks in
        // simulated time against Secrets Manager's quotas. Not part of the shipped product.
        .target(
            name: "FleetSimulation",
            dependencies: [
                "InjectorBase", "InjectorSources", "InjectorRefresh", "SecretsManager", "AWSCredentials",
                "HTTPTransport", .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/fleet/FleetSimulation",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "fleet-simulation",
            dependencies: [
                "FleetSimulation", "InjectorBase", "InjectorSources", "InjectorRefresh",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/fleet/fleet-simulation",
            swiftSettings: strict
        ),

        .testTarget(
            name: "FleetSimulationTests", dependencies: ["FleetSimulation", "InjectorBase", "TestSupport"],
            swiftSettings: strict),
        // Fakes many tests share: a manual clock, a scripted transport, a fake Secrets Manager, log lines.
        .target(
            name: "TestSupport",
            dependencies: [
                "HTTPTransport", "AWSCredentials", "SecretsManager", "InjectorBase", "InjectorSources",
                "InjectorConfig",
                "InjectorAgent", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "AWSSigningTests", dependencies: ["AWSSigning", "TestSupport"], exclude: ["botocore_sigv4.py"],
            swiftSettings: strict),
        .testTarget(
            name: "HTTPTransportTests", dependencies: ["HTTPTransport", "TestSupport"],
            exclude: ["http_peer.py"], swiftSettings: strict),
        .testTarget(
            name: "AWSCredentialsTests", dependencies: ["AWSCredentials", "HTTPTransport", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "SecretsManagerTests",
            dependencies: ["SecretsManager", "AWSCredentials", "HTTPTransport", "AWSSigning", "TestSupport"],
            swiftSettings: strict),
        // One test target per room, named after it.
        .testTarget(name: "InjectorBaseTests", dependencies: ["InjectorBase", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "InjectorOutputsTests", dependencies: ["InjectorOutputs", "InjectorBase", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "InjectorSourcesTests",
            dependencies: ["InjectorSources", "InjectorBase", "SecretsManager", "AWSCredentials", "TestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "InjectorRefreshTests", dependencies: ["InjectorRefresh", "InjectorBase"], swiftSettings: strict),
        .testTarget(
            name: "InjectorAgentTests",
            dependencies: ["InjectorAgent", "InjectorBase", "SecretsManager", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "InjectorTelemetryTests",
            dependencies: ["InjectorTelemetry", "InjectorBase", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "InjectorCommandLineTests",
            dependencies: ["InjectorCommandLine", "InjectorJob", "InjectorConfig", "InjectorBase"],
            swiftSettings: strict),
        .testTarget(
            name: "InjectorConfigTests",
            dependencies: ["InjectorConfig", "InjectorBase", "InjectorOutputs", "InjectorAgent", "TestSupport"],
            exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "InjectorHTTPTests",
            dependencies: [
                "InjectorHTTP", "InjectorAgent", "InjectorTelemetry",
                "InjectorConfig", "InjectorBase", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ], swiftSettings: strict),
        .testTarget(name: "InjectorExecTests", dependencies: ["InjectorExec"], swiftSettings: strict),
        .testTarget(
            name: "InjectorAccessTests",
            dependencies: [
                "InjectorAccess", "InjectorBase", "InjectorSources", "SecretsManager", "HTTPTransport", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: strict),
        .testTarget(
            name: "InjectorJobTests",
            dependencies: [
                "InjectorJob", "InjectorConfig", "InjectorSources", "InjectorOutputs", "InjectorTelemetry",
                "InjectorBase", "SecretsManager", "AWSCredentials", "TestSupport",
            ], swiftSettings: strict),
        .testTarget(
            name: "InjectorSidecarTests",
            dependencies: [
                "InjectorSidecar", "InjectorJob", "InjectorRefresh", "InjectorAgent",
                "InjectorSources", "InjectorConfig", "InjectorTelemetry", "InjectorBase", "SecretsManager",
                "AWSCredentials", "TestSupport",
            ], swiftSettings: strict),
        .testTarget(
            name: "InjectorMigrationTests",
            dependencies: ["InjectorMigration", "InjectorBase", "InjectorConfig", "InjectorOutputs", "TestSupport"],
            swiftSettings: strict),
        // The import rules between the rooms, read from the sources (no module of ours is linked).
        .testTarget(name: "LayeringTests", dependencies: ["TestSupport"], swiftSettings: strict),
        // Runs the built binary against moto_server and a fake ECS credential endpoint.
        .testTarget(name: "BlackBoxTests", dependencies: ["TestSupport"], exclude: ["Fixtures"], swiftSettings: strict),
    ]
)

/// Every target of ours, tests included: a member used from a module this file does not import is an error
/// (SE-0444), so no file compiles by another file's import.
var strict: [SwiftSetting] { [.enableUpcomingFeature("MemberImportVisibility")] }
