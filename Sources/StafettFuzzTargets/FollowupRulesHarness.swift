import StafettReports

/// Follow-up rules files as `stafett followup --rules FILE` reads them.
enum FollowupRulesHarness {
    static let rules = FuzzTarget(name: "followup-rules", summary: "follow-up rules files (FollowupRules.parse)") { bytes in
        // As `load`: bytes decoded as UTF-8 with replacement.
        _ = try? FollowupRules.parse(String(decoding: bytes, as: UTF8.self), file: "fuzz.rules")
    }
}
