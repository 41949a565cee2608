// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "secrets-injector",
    platforms: [.macOS(.v15)],
    targets: [
        // C libraries, wrapped only where Swift cannot call them directly (variadic setopt, macros).
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),

        .target(name: "AWSSigning", dependencies: ["CCrypto"]),

        .testTarget(name: "AWSSigningTests", dependencies: ["AWSSigning"]),
    ]
)
