import Foundation

/// ISO 3166-1 alpha-2 country codes for citizenship.
///
/// Accepted: the 249 officially assigned codes, plus two user-assigned codes that Swedish
/// registers use: `XX` for unknown citizenship or stateless (as the case model documents) and
/// `XK` for Kosovo (used by the EU, Migrationsverket's statistics and Kosovo's own passports).
/// Other user-assigned codes (`XS`, `XA`–`XZ`, `QM`–`QZ`, `AA`, `ZZ`) are refused, because a
/// receiver cannot know what they mean. Input is case-insensitive and normalised to uppercase;
/// a few common country names in Swedish and English (one word each) are accepted too, since
/// intake staff type them.
public enum CountryCodes {
    /// The officially assigned alpha-2 codes (ISO 3166-1, as maintained by the ISO 3166/MA).
    public static let officiallyAssigned: Set<String> = Set("""
        AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
        BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
        CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
        DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
        GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
        ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
        LA LB LC LI LK LR LS LT LU LV LY \
        MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
        NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
        RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
        TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
        VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
        """.split(separator: " ").map(String.init))

    /// `XX` (unknown or stateless) and `XK` (Kosovo).
    public static let userAssignedAccepted: Set<String> = ["XX", "XK"]

    /// Country names intake staff write instead of codes, folded (see `IntakeField.fold`).
    static let names: [String: String] = [
        "afghanistan": "AF", "syrien": "SY", "syria": "SY", "irak": "IQ", "iraq": "IQ", "iran": "IR",
        "somalia": "SO", "eritrea": "ER", "etiopien": "ET", "ethiopia": "ET", "marocko": "MA", "morocco": "MA",
        "algeriet": "DZ", "algeria": "DZ", "libyen": "LY", "libya": "LY", "albanien": "AL", "albania": "AL",
        "kosovo": "XK", "palestina": "PS", "palestine": "PS", "sudan": "SD", "jemen": "YE", "yemen": "YE",
        "pakistan": "PK", "bangladesh": "BD", "gambia": "GM", "nigeria": "NG", "ukraina": "UA", "ukraine": "UA",
        "ryssland": "RU", "russia": "RU", "sverige": "SE", "sweden": "SE", "uzbekistan": "UZ", "libanon": "LB",
        "lebanon": "LB", "egypten": "EG", "egypt": "EG", "tunisien": "TN", "tunisia": "TN", "turkiet": "TR",
        "turkey": "TR", "georgien": "GE", "georgia": "GE", "vietnam": "VN", "guinea": "GN", "mali": "ML",
        "statslos": "XX", "stateless": "XX", "okand": "XX", "okant": "XX", "unknown": "XX",
    ]

    /// The normalised code for a code or a known name, or nil.
    public static func normalise(_ text: String) -> String? {
        let upper = text.asciiCased(lower: false)
        if upper.utf8.count == 2, officiallyAssigned.contains(upper) || userAssignedAccepted.contains(upper) {
            return upper
        }
        return names[IntakeField.fold(text)]
    }

    /// Every accepted two-letter code, one bit per pair of letters.
    private static let accepted = LetterCodeBits(officiallyAssigned.union(userAssignedAccepted), letters: 2)

    /// `normalise` over bytes: a known two-letter code is answered from a bitmap, without a String
    /// until it is kept; anything else goes to the String rule.
    static func normalise(_ u: UTF8Bytes) -> String? {
        if u.count == 2, accepted.contains(u) {
            return String(unsafeUninitializedCapacity: 2) { out in
                out[0] = u[0] & 0xDF
                out[1] = u[1] & 0xDF
                return 2
            }
        }
        return normalise(u.string)
    }
}

/// A set of two- or three-letter ASCII codes as a bitmap, case-insensitive: a code costs a few
/// shifts to look up where a `Set<String>` costs a String and a hash.
struct LetterCodeBits: Sendable {
    private var bits: [UInt64]
    private let letters: Int

    /// The codes in `codes` that are `letters` ASCII letters long; others are left out.
    init(_ codes: Set<String>, letters: Int) {
        self.letters = letters
        var size = 1
        for _ in 0..<letters { size *= 26 }
        bits = Array(repeating: 0, count: (size + 63) / 64)
        for code in codes {
            var c = code
            c.withUTF8 { u in
                if let k = index(u) { bits[k >> 6] |= 1 << UInt64(k & 63) }
            }
        }
    }

    /// The bit of a code of `letters` ASCII letters, in either case; nil for anything else.
    private func index(_ u: UTF8Bytes) -> Int? {
        guard u.count == letters else { return nil }
        var k = 0
        for b in u {
            let lower = b | 0x20
            guard lower >= 0x61 && lower <= 0x7A else { return nil }
            k = k * 26 + Int(lower - 0x61)
        }
        return k
    }

    /// True when `u` is one of the codes, in any case.
    func contains(_ u: UTF8Bytes) -> Bool {
        guard let k = index(u) else { return false }
        return bits[k >> 6] & (1 << UInt64(k & 63)) != 0
    }
}
