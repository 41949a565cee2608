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

        // prctl(2) is variadic: the one call SPEC §7 needs is wrapped in C.
        .target(name: "CProcess"),

        .target(name: "AWSSigning", dependencies: ["CCrypto"]),
        .target(name: "HTTPTransport", dependencies: ["CCurl"]),
        .target(
            name: "AWSCredentials",
            dependencies: ["HTTPTransport", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "SecretsManager",
            dependencies: [
                "AWSSigning", "HTTPTransport", "AWSCredentials",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "InjectorCore",
            dependencies: [
                "SecretsManager", "AWSCredentials", "HTTPTransport", "CProcess",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "secrets-injector",
            dependencies: [
                "InjectorCore", "HTTPTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["startup.order", "exports.map"],
            // The shipped binary's link (docs/BENCHMARKS.md, "memory"): the toolchain's lld (in every
            // swift.org Linux toolchain since 6.0), with packed relative relocations (DT_RELR, glibc
            // ≥ 2.36: 1.3 MB of relocations become 11 KB), no exported symbols (exports.map), and the
            // functions that start-up, refresh and serving run laid out together (scripts/startup-order).
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Sources/secrets-injector/startup.order",
                        "-Xlinker", "--no-warn-symbol-ordering",
                        "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/secrets-injector/exports.map",
                    ], .when(platforms: [.linux], configuration: .release))
            ]
        ),

        // libFuzzer targets (scripts/fuzz builds them with -sanitize=fuzzer,address -DFUZZING); built
        // plainly, it replays inputs. Not part of the shipped product.
        .executableTarget(
            name: "secrets-injector-fuzz",
            dependencies: ["InjectorCore", "AWSCredentials", "HTTPTransport"]
        ),

        // The fleet simulation (`scripts/bench fleet`): the production refresh policy for N tasks in
        // simulated time against Secrets Manager's quotas. Not part of the shipped product.
        .target(
            name: "FleetSimulation",
            dependencies: [
                "InjectorCore", "SecretsManager", "AWSCredentials", "HTTPTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/fleet/FleetSimulation"
        ),
        .executableTarget(
            name: "fleet-simulation",
            dependencies: [
                "FleetSimulation", "InjectorCore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/fleet/fleet-simulation"
        ),

        .testTarget(name: "FleetSimulationTests", dependencies: ["FleetSimulation", "InjectorCore"]),
        .target(name: "TestSupport", dependencies: ["HTTPTransport", "AWSCredentials"], path: "Tests/TestSupport"),
        .testTarget(
            name: "AWSSigningTests", dependencies: ["AWSSigning", "TestSupport"], exclude: ["botocore_sigv4.py"]),
        .testTarget(
            name: "HTTPTransportTests", dependencies: ["HTTPTransport", "TestSupport"], exclude: ["http_peer.py"]),
        .testTarget(name: "AWSCredentialsTests", dependencies: ["AWSCredentials", "HTTPTransport", "TestSupport"]),
        .testTarget(
            name: "SecretsManagerTests",
            dependencies: ["SecretsManager", "AWSCredentials", "HTTPTransport", "AWSSigning", "TestSupport"]
        ),
        .testTarget(
            name: "InjectorCoreTests",
            dependencies: [
                "InjectorCore", "SecretsManager", "AWSCredentials", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Fixtures"]),
        // Runs the built binary against moto_server and a fake ECS credential endpoint.
        .testTarget(name: "BlackBoxTests", dependencies: ["TestSupport"], exclude: ["Fixtures"]),
    ]
)
