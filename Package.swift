// swift-tools-version: 6.0
// esmarket: market clearing for energy sharing among prosumers in distribution grids.
//
// Layout by concern (see README "Layout"):
//   ESMSolver   sparse linear algebra and the conic interior-point solver; knows nothing of markets
//   ESMGrid     feeder model, radial-tree utilities, built-in feeders
//   ESMMarkets  prosumer model and one file per mechanism
//   ESMJSON     json-c decoding with JSON-path errors, result encoding, case generator
//   esmarket    the C ABI only (libesmarket.so)
//   esmarket-cli  the `esmarket` command-line tool
import PackageDescription

let package = Package(
    name: "esmarket",
    products: [
        .library(name: "esmarket", type: .dynamic, targets: ["esmarket"]),
        .executable(name: "esmarket-cli", targets: ["esmarket-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CJSONC",
            pkgConfig: "json-c",
            providers: [.apt(["libjson-c-dev"])]
        ),
        .target(name: "ESMSolver"),
        .target(name: "ESMGrid", dependencies: ["ESMSolver"]),
        .target(name: "ESMMarkets", dependencies: ["ESMSolver", "ESMGrid"]),
        .target(name: "ESMJSON", dependencies: ["CJSONC", "ESMGrid", "ESMMarkets", "ESMSolver"]),
        .target(
            name: "esmarket",
            dependencies: ["ESMJSON", "ESMMarkets"],
            // The Swift runtime goes into the .so so that a Python or C user needs no toolchain.
            linkerSettings: [.unsafeFlags(["-static-stdlib"])]
        ),
        .executableTarget(
            name: "esmarket-cli",
            dependencies: [
                "esmarket", "ESMJSON", "ESMMarkets", "ESMGrid", "CJSONC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            // Like the .so: the Swift runtime is linked in, so bin/esmarket runs without a toolchain.
            // swift-argument-parser pulls in FoundationEssentials, whose static archive needs these three.
            linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "-l_FoundationCollections", "-Xlinker", "-l_FoundationCShims", "-Xlinker", "-lswiftSynchronization"])]
        ),
        .testTarget(name: "ESMSolverTests", dependencies: ["ESMSolver"]),
        .testTarget(name: "ESMGridTests", dependencies: ["ESMGrid", "ESMSolver", "ESMJSON", "ESMMarkets"]),
        .testTarget(name: "ESMarketTests", dependencies: ["CJSONC", "ESMJSON", "ESMMarkets", "ESMGrid", "ESMSolver"]),
    ],
    swiftLanguageModes: [.v6]
)
