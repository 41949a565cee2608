// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "secrets-injector",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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

        .target(name: "TestSupport", dependencies: ["HTTPTransport", "AWSCredentials"], path: "Tests/TestSupport"),
        .testTarget(name: "AWSSigningTests", dependencies: ["AWSSigning", "TestSupport"], exclude: ["botocore_sigv4.py"]),
        .testTarget(name: "HTTPTransportTests", dependencies: ["HTTPTransport", "TestSupport"], exclude: ["http_peer.py"]),
        .testTarget(name: "AWSCredentialsTests", dependencies: ["AWSCredentials", "HTTPTransport", "TestSupport"]),
        .testTarget(
            name: "SecretsManagerTests",
            dependencies: ["SecretsManager", "AWSCredentials", "HTTPTransport", "AWSSigning", "TestSupport"]
        ),
    ]
)
