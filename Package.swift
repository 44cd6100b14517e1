// swift-tools-version: 6.0
// Stafett: signed case messages between municipalities and agencies, over mutual TLS.
import PackageDescription

let package = Package(
    name: "Stafett",
    products: [
        .executable(name: "stafett", targets: ["stafett"]),
        .executable(name: "stafettd", targets: ["stafettd"]),
        .executable(name: "stafett-bench", targets: ["stafett-bench"]),
    ],
    targets: [
        // C libraries, the shims for what Swift cannot call directly, and the journal's checksum.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0",
                       providers: [.apt(["libxml2-dev"])]),
        .target(name: "CShims", dependencies: ["COpenSSL"]),
        .target(name: "CCRC32C"),

        // Along the data flow of DESIGN.md.
        .target(name: "StafettModel"),
        .target(name: "StafettXML", dependencies: ["StafettModel", "CLibXML2"]),
        .target(name: "StafettCrypto", dependencies: ["StafettModel", "COpenSSL", "CShims", "CCRC32C"]),
        // XML-DSig: the one libxml2 user besides StafettXML, so that StafettCrypto is OpenSSL only.
        .target(name: "StafettSignature", dependencies: ["StafettXML", "StafettCrypto", "CLibXML2"]),
        .target(name: "StafettJournal", dependencies: ["StafettModel", "StafettCrypto"]),
        // What the journal holds, read back for operators: follow-up and case history.
        .target(name: "StafettReports", dependencies: ["StafettModel", "StafettCrypto", "StafettJournal"]),
        .target(name: "StafettTransport", dependencies: ["StafettModel", "StafettCrypto", "COpenSSL", "CShims"]),
        .target(name: "StafettDaemon",
                dependencies: ["StafettModel", "StafettXML", "StafettCrypto", "StafettSignature", "StafettJournal",
                               "StafettReports", "StafettTransport", "CShims"]),

        // The operator commands (validate, translate, sign, journal, followup, queue, demo).
        .target(name: "StafettCLI", dependencies: ["StafettModel", "StafettXML", "StafettCrypto", "StafettSignature",
                                                   "StafettJournal", "StafettReports", "StafettDaemon"]),

        // Thin executables.
        .executableTarget(name: "stafett", dependencies: ["StafettDaemon", "StafettCLI"]),
        .executableTarget(name: "stafettd", dependencies: ["StafettDaemon"]),
        .executableTarget(name: "stafett-bench",
                          dependencies: ["StafettModel", "StafettXML", "StafettCrypto", "StafettSignature", "StafettJournal",
                                         "StafettReports", "StafettTransport", "StafettDaemon", "StafettCLI"]),

        // Helpers the tests of several modules share (a scratch directory, running a tool).
        .target(name: "StafettTestSupport", path: "Tests/StafettTestSupport"),

        // Fuzzing (docs/fuzzing.md): one harness per parser of outside bytes, and the executable that
        // replays inputs through them or, built by scripts/fuzz.sh with -DSTAFETT_LIBFUZZER, runs libFuzzer.
        .target(name: "StafettFuzzTargets",
                dependencies: ["StafettModel", "StafettXML", "StafettCrypto", "StafettSignature", "StafettJournal",
                               "StafettReports", "StafettTransport", "StafettDaemon"]),
        .target(name: "CLibFuzzer"),
        .executableTarget(name: "stafett-fuzz", dependencies: ["StafettFuzzTargets", "StafettJournal", "CLibFuzzer"]),

        .testTarget(name: "StafettModelTests", dependencies: ["StafettModel"]),
        .testTarget(name: "StafettXMLTests", dependencies: ["StafettModel", "StafettXML", "CLibXML2"]),
        .testTarget(name: "StafettCryptoTests", dependencies: ["StafettModel", "StafettCrypto", "COpenSSL", "StafettTestSupport"]),
        .testTarget(name: "StafettSignatureTests",
                    dependencies: ["StafettModel", "StafettXML", "StafettCrypto", "StafettSignature", "CLibXML2",
                                   "StafettTestSupport"]),
        .testTarget(name: "StafettJournalTests", dependencies: ["StafettModel", "StafettCrypto", "StafettJournal", "StafettTestSupport"]),
        .testTarget(name: "StafettReportsTests", dependencies: ["StafettReports", "StafettJournal", "StafettCrypto"]),
        .testTarget(name: "StafettTransportTests", dependencies: ["StafettModel", "StafettCrypto", "StafettTransport"]),
        .testTarget(name: "StafettDaemonTests",
                    dependencies: ["StafettModel", "StafettXML", "StafettCrypto", "StafettSignature", "StafettJournal",
                                   "StafettReports", "StafettTransport", "StafettDaemon", "CShims", "StafettTestSupport"]),
        .testTarget(name: "StafettCLITests",
                    dependencies: ["StafettModel", "StafettXML", "StafettCrypto", "StafettSignature", "StafettJournal", "StafettReports",
                                   "StafettDaemon", "StafettCLI", "StafettTestSupport"]),
        .testTarget(name: "StafettFuzzTests",
                    dependencies: ["StafettXML", "StafettCrypto", "StafettSignature", "StafettFuzzTargets"]),
    ],
    swiftLanguageModes: [.v6]
)
