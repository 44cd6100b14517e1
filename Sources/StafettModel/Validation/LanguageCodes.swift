import Foundation

/// Language codes for the languages a child speaks.
///
/// Accepted: every ISO 639-1 two-letter code (183; the withdrawn `bh` is not), and a chosen set
/// of ISO 639-3 three-letter codes: the three-letter forms of the big languages, and the
/// languages and varieties spoken by children arriving in Sweden (Dari `prs`, Hazaragi `haz`,
/// Pashto `pus`/`pbt`, Persian `fas`/`pes`, the Arabic varieties, Sorani `ckb`, Kurmanji `kmr`,
/// Somali, Tigrinya, Tigre, Amharic, Oromo, Uzbek, Urdu, Bengali, Balochi, Dinka, Nuer, Fur,
/// Berber languages, Syriac/Assyrian, Romani, the West African languages, Swedish Sign
/// Language `swl`, ...). Codes are case-insensitive and stored lowercase, as given (`ar` and
/// `ara` both stay what they are). Common language names in Swedish and English are accepted
/// and stored as their code (`dari` → `prs`, `arabiska` → `ar`).
public enum LanguageCodes {
    /// ISO 639-1.
    public static let iso639_1: Set<String> = Set("""
        aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy \
        da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv \
        ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv \
        ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv \
        mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os \
        pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw \
        ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
        """.split(separator: " ").map(String.init))

    /// The ISO 639-3 codes accepted (see the type's documentation for the choice).
    public static let iso639_3: Set<String> = Set("""
        prs haz pus pbt pst fas pes tgk uzb uzs tuk bal bcc \
        ara arb apc ajp acm arz ary arq aeb ayl afb apd shu \
        kur ckb kmr sdh \
        som tir tig amh orm gaz ssy bej aar \
        urd ben hin pan pnb snd nep tam sin mya tha vie khm tgl fil zho cmn yue mon \
        rus ukr bel kat hye aze tur kaz kir \
        sqi aln srp bos hrv hbs mkd bul ron rom rmn rmy ell heb syr aii \
        kab tzm rif shi zgh ber \
        swa swh lin kin run lug wol ful fuf hau yor ibo mnk man sus din nus fvr \
        eng fra deu spa por ita nld swe fin nor nob nno dan isl pol ces slk hun est lav lit \
        swl sgn
        """.split(separator: " ").map(String.init))

    /// Language names intake staff write instead of codes, folded (see `IntakeField.fold`).
    static let names: [String: String] = [
        "dari": "prs", "hazaragi": "haz", "pashto": "ps", "pashtu": "ps", "pushto": "ps", "persiska": "fa",
        "persian": "fa", "farsi": "fa", "arabiska": "ar", "arabic": "ar", "somaliska": "so", "somali": "so",
        "tigrinja": "ti", "tigrinya": "ti", "amhariska": "am", "amharic": "am", "kurdiska": "ku", "kurdish": "ku",
        "sorani": "ckb", "kurmanji": "kmr", "uzbekiska": "uz", "uzbek": "uz", "urdu": "ur", "bengali": "bn",
        "bangla": "bn", "engelska": "en", "english": "en", "franska": "fr", "french": "fr", "svenska": "sv",
        "swedish": "sv", "ryska": "ru", "russian": "ru", "ukrainska": "uk", "ukrainian": "uk",
        "albanska": "sq", "albanian": "sq", "turkiska": "tr", "turkish": "tr", "oromo": "om", "oromiffa": "om",
        "tyska": "de", "german": "de", "spanska": "es", "spanish": "es", "tigre": "tig", "mandinka": "mnk",
        "wolof": "wo", "fula": "ff", "swahili": "sw",
    ]

    /// The normalised code for a code or a known name, or nil.
    public static func normalise(_ text: String) -> String? {
        let lower = text.asciiCased(lower: true)
        switch lower.utf8.count {
        case 2 where iso639_1.contains(lower): return lower
        case 3 where iso639_3.contains(lower): return lower
        default: return names[IntakeField.fold(text)]
        }
    }

    private static let twoLetter = LetterCodeBits(iso639_1, letters: 2)
    private static let threeLetter = LetterCodeBits(iso639_3, letters: 3)

    /// `normalise` over bytes: a known code is answered from a bitmap, without a String until it
    /// is kept; anything else goes to the String rule.
    static func normalise(_ u: UTF8Bytes) -> String? {
        if (u.count == 2 && twoLetter.contains(u)) || (u.count == 3 && threeLetter.contains(u)) {
            return String(unsafeUninitializedCapacity: u.count) { out in
                for (k, b) in u.enumerated() { out[k] = b | 0x20 }
                return u.count
            }
        }
        return normalise(u.string)
    }
}
