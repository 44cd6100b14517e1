import Foundation

/// One fuzz harness: feeds bytes from outside to one parser or checker the way the daemon or a
/// command does. It must return for every input; a crash, hang or runaway allocation is a finding.
public struct FuzzTarget: Sendable {
    /// The name `scripts/fuzz.sh` takes and the corpus directory `Fuzz/corpus/<name>` carries.
    public let name: String
    /// What the harness feeds, for `stafett-fuzz list`.
    public let summary: String
    private let harness: @Sendable (UnsafeRawBufferPointer) -> Void

    init(name: String, summary: String, harness: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.name = name
        self.summary = summary
        self.harness = harness
    }

    /// Runs one input.
    public func run(_ bytes: UnsafeRawBufferPointer) {
        harness(bytes)
    }

    /// Runs one input held in an array.
    public func run(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { harness($0) }
    }
}

/// Every harness, in the order the long runs go through them.
public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        IntakeHarness.csv, IntakeHarness.json,
        CaseXMLHarness.caseXML, ReceiptHarness.receipt, SignatureHarness.xmldsig,
        HTTPHeadHarness.httpHead, ConfigHarness.config, FollowupRulesHarness.rules,
        JournalRecordHarness.record,
    ]

    public static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }
}
