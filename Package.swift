// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "secrets-injector",
    platforms: [.macOS(.v15)],
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

        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "AWSSigningTests", dependencies: ["AWSSigning", "TestSupport"], exclude: ["botocore_sigv4.py"]),
        .testTarget(name: "HTTPTransportTests", dependencies: ["HTTPTransport", "TestSupport"], exclude: ["http_peer.py"]),
    ]
)
