import Foundation

/// A field's value before validation, as the file gave it, pointing into `RawRecord.bytes`.
enum RawValue: Sendable {
    /// Text at these bytes, untrimmed.
    case text(Range<Int>)
    /// A JSON array of strings (citizenship, languages, references): these entries of `RawRecord.strings`.
    case list(Range<Int>)
    /// A JSON boolean (dob_estimated).
    case bool(Bool)
}

/// One record's values before validation, over UTF-8 held once: for CSV the whole file's text, so
/// that a row costs no String until a value is accepted, and one record's storage serves the next.
struct RawRecord: Sendable {
    /// The UTF-8 the values point into.
    var bytes: [UInt8]
    /// By `IntakeField.rawValue`; nil when the field is absent.
    var values = [RawValue?](repeating: nil, count: IntakeField.allCases.count)
    /// The strings of list values, as ranges of `bytes`.
    var strings: [Range<Int>] = []

    init(bytes: [UInt8] = []) { self.bytes = bytes }

    /// Appends the UTF-8 of `s` to `bytes` and returns where it lies.
    mutating func append(_ s: String) -> Range<Int> {
        let start = bytes.count
        bytes.append(contentsOf: s.utf8)
        return start..<bytes.count
    }

    /// Forgets every value, keeping the bytes and the storage.
    mutating func clearValues() {
        for k in values.indices { values[k] = nil }
    }
}

/// Turns raw values into a validated `IntakeRecord`, reporting every bad field.
struct RecordBuilder {
    let file: String
    let reference: Date
    let today: CalendarDate

    init(file: String, reference: Date) {
        self.file = file
        self.reference = reference
        self.today = SwedishTime.localDate(at: reference)
    }

    /// Appends the validated record to `out`, or a placeholder when anything is wrong or `usable`
    /// is false, and reports the problems to `sink`. `names` is indexed by `IntakeField.rawValue`
    /// and holds the header or key as written; `column` says whether names are CSV columns.
    /// `intact` says the record has its columns where the header says (as many values as
    /// columns): only then may errors name its intake id (see `nameable`).
    func build(_ raw: RawRecord, names: [String?], column: Bool, location: IntakeLocation, index: Int, usable: Bool,
               intact: Bool = true, into out: inout [IntakeRecord], sink: inout ErrorSink) {
        raw.bytes.withUnsafeBufferPointer { p in
            build(raw, in: p, names: names, column: column, location: location, index: index, usable: usable,
                  intact: intact, into: &out, sink: &sink)
        }
    }

    /// `build`, with the values of `raw` pointing into `p` rather than into `raw.bytes` (CSV rows,
    /// which point into the file's text while it is read).
    func build(_ raw: RawRecord, in p: UTF8Bytes, names: [String?], column: Bool, location: IntakeLocation, index: Int,
               usable: Bool, intact: Bool = true, into out: inout [IntakeRecord], sink: inout ErrorSink) {
        var check = RecordCheck(p: p, values: raw.values, strings: raw.strings)
        // Appending in place, rather than returning the record, spares the optimizer a copy
        // of every string and array in it.
        let intakeId = build(&check, names: names, location: location, index: index, usable: usable, into: &out)
        // Problems are collected and reported here, in the order found, so that the rules
        // need not capture the sink. Each names the record's intake id when it has a valid one.
        sink.intakeId = intact ? intakeId.flatMap { nameable($0) ? $0 : nil } : nil
        defer { sink.intakeId = nil }
        for (field, reason, sv) in check.problems {
            if let field {
                sink.add(location, field: names[field.rawValue] ?? field.jsonKey, column: column, reason, sv: sv)
            } else {
                sink.add(location, reason, sv: sv)
            }
        }
    }

    /// Keeps indexes of later records stable when one fails; never returned, because the file fails.
    func placeholder(_ index: Int, _ location: IntakeLocation) -> IntakeRecord {
        IntakeRecord(file: file, index: index, location: location, child: Child(givenName: "", familyName: ""),
                     event: CaseEvent(type: .update, time: reference))
    }

    /// Returns the record's intake id, when it has a valid one.
    @discardableResult
    private func build(_ c: inout RecordCheck, names: [String?], location: IntakeLocation, index: Int, usable: Bool,
                       into out: inout [IntakeRecord]) -> String? {
        let given = c.rule(.givenName, FieldRules.name)
        let family = c.rule(.familyName, FieldRules.name)
        let dob = c.rule(.dateOfBirth) { u throws(FieldProblem) in try FieldRules.dateOfBirth(u, today: today) }
        var estimated = false
        if case .bool(let b)? = c.values[IntakeField.dateOfBirthEstimated.rawValue] {
            estimated = b
        } else if let b = c.rule(.dateOfBirthEstimated, FieldRules.flag) {
            estimated = b
        }
        let sex = c.rule(.sex, FieldRules.sex)
        var citizenship: [String] = []
        do { citizenship = try FieldRules.citizenships(c.items(.citizenship)) } catch { c.fail(.citizenship, error.reason, sv: error.swedish) }
        var languages: [String] = []
        do { languages = try FieldRules.languages(c.items(.languages)) } catch { c.fail(.languages, error.reason, sv: error.swedish) }
        let intakeId = c.rule(.intakeId) { u throws(FieldProblem) in try FieldRules.identifier(u, what: "intake id") }
        let issuer = c.organisation(.intakeIdIssuer)
        let dossier = c.rule(.dossierNumber) { u throws(FieldProblem) in try FieldRules.identifier(u, what: "dossier number", max: 32) }
        let pin = c.rule(.personalIdentityNumber) { u throws(FieldProblem) in
            try FieldRules.personalIdentityNumber(u, reference: reference)
        }
        let eventType = c.rule(.event, FieldRules.event)
        let time = c.rule(.eventTime) { u throws(FieldProblem) in try FieldRules.eventTime(u, reference: reference) }
        let place = c.rule(.place) { u throws(FieldProblem) in try FieldRules.text(u, max: 200, what: "place") }
        let placementKind = c.rule(.placement, FieldRules.placement)
        let placementName = c.rule(.placementName) { u throws(FieldProblem) in
            try FieldRules.text(u, max: 200, what: "placement name")
        }
        let responsible = c.organisation(.responsibleOrganisation)
        let recipient = c.organisation(.recipient)
        var references: [MessageID] = []
        for r in c.items(.references) {
            let item = c.p[bytes: r].string
            do { references.append(try MessageID(item)) } catch { c.fail(.references, "\(CellEcho.quoted(item, limit: 40)): \(error.reason)") }
        }
        let note = c.rule(.note) { u throws(FieldProblem) in
            try FieldRules.text(u, max: 4000, what: "note", lineBreaks: true)
        }

        // Rules across fields.
        if given == nil && family == nil && c.isBlank(.givenName) && c.isBlank(.familyName) {
            c.failRecord("the child has no name: fill in the given name or the family name (\(label(.givenName, names)) or "
                + "\(label(.familyName, names))); write what is known, even one name",
                sv: "barnet har inget namn: fyll i förnamn eller efternamn (\(label(.givenName, names)) eller "
                + "\(label(.familyName, names))); skriv det som är känt, även ett namn")
        }
        if c.isBlank(.event) {
            c.failRecord("the event is missing: fill in \(label(.event, names)), e.g. registrerad",
                         sv: "händelsen saknas: fyll i \(label(.event, names)), till exempel registrerad")
        }
        if c.isBlank(.eventTime) {
            c.failRecord("the time of the event is missing: fill in \(label(.eventTime, names)), like 2015-10-23 14:05",
                         sv: "händelsens tidpunkt saknas: fyll i \(label(.eventTime, names)), till exempel 2015-10-23 14:05")
        }
        if c.isBlank(.intakeId) && c.isBlank(.dossierNumber) && c.isBlank(.personalIdentityNumber) {
            c.failRecord("the child has no identifier: fill in at least one of \(label(.intakeId, names)), "
                + "\(label(.dossierNumber, names)) or \(label(.personalIdentityNumber, names))",
                sv: "barnet saknar id-uppgift: fyll i minst en av \(label(.intakeId, names)), "
                + "\(label(.dossierNumber, names)) eller \(label(.personalIdentityNumber, names))")
        }
        if !c.isBlank(.intakeIdIssuer) && c.isBlank(.intakeId) {
            c.fail(.intakeIdIssuer, "says who issued the intake id, but there is no intake id: fill in "
                + "\(label(.intakeId, names)) as well, or leave this empty")
        }
        if let pin, let dob, !estimated, pin.dateOfBirth != dob {
            c.fail(.dateOfBirth, "\(dob.iso) does not match the date in the personnummer (\(pin.dateOfBirth.iso)): "
                + "correct one of them, or mark the date of birth as estimated",
                sv: "\(dob.iso) stämmer inte med datumet i personnumret (\(pin.dateOfBirth.iso)): "
                + "rätta ett av dem, eller markera födelsedatumet som uppskattat")
        }
        // Whatever says when the child was born, it cannot be after what happened to the child.
        if let time, let born = dob ?? pin?.dateOfBirth {
            let day = SwedishTime.localDate(at: time)
            if born > day {
                // From a personnummer only the year is shown: its date is most of the number.
                c.fail(dob != nil ? .dateOfBirth : .personalIdentityNumber,
                       "the date of birth (\(dob != nil ? born.iso : "born \(born.year)")) is after the event (\(day.iso)): check the year of both",
                       sv: "födelsedatumet (\(dob != nil ? born.iso : "född \(born.year)")) är efter händelsen (\(day.iso)): kontrollera året i båda")
            }
        }
        if placementName != nil && placementKind == nil && c.isBlank(.placement) {
            c.fail(.placementName, "the kind of placement is missing: fill in \(label(.placement, names)) "
                + "(HVB, jourhem, familjehem or annat) as well")
        }

        guard usable, c.problems.isEmpty, let eventType, let time else {
            out.append(placeholder(index, location))
            return intakeId
        }
        let child = Child(givenName: given ?? "", familyName: family ?? "", dateOfBirth: dob,
                          dateOfBirthEstimated: estimated, sex: sex, citizenship: citizenship, languages: languages,
                          identifiers: ChildIdentifiers(intakeId: intakeId, intakeIdIssuer: issuer, dossierNumber: dossier,
                                                        personalIdentityNumber: pin))
        let event = CaseEvent(type: eventType, time: time, place: place,
                              placement: placementKind.map { Placement(kind: $0, name: placementName) },
                              responsibleOrganisation: responsible, note: note)
        out.append(IntakeRecord(file: file, index: index, location: location, child: child, event: event,
                                recipient: recipient, references: references))
        return intakeId
    }

    /// Whether an error may name this intake id. Errors go to logs, so the id must not be a name
    /// or a personnummer that a lost or extra separator shifted into the column (`A-3Jörgen`):
    /// it has a digit, no run of five digits or more (a personnummer's date), no run of more
    /// than four letters (a name), and is no valid personnummer.
    private func nameable(_ id: String) -> Bool {
        var digits = 0, letters = 0, sawDigit = false
        for u in id.unicodeScalars {
            if u.properties.numericType != nil {
                digits += 1
                sawDigit = true
                letters = 0
            } else if u.properties.isAlphabetic {
                letters += 1
                digits = 0
            } else {
                digits = 0
                letters = 0
            }
            if digits >= 5 || letters > 4 { return false }
        }
        return sawDigit && (try? PersonalIdentityNumber(id, referenceDate: reference)) == nil
    }

    /// `"Händelse"` when the file has that column, else the canonical names.
    private func label(_ f: IntakeField, _ names: [String?]) -> String {
        if let n = names[f.rawValue] { return "\"\(n)\"" }
        return "\"\(f.swedishHeader)\"/\"\(f.jsonKey)\""
    }
}

/// One record's values during `RecordBuilder.build`, and the problems found so far.
private struct RecordCheck {
    let p: UTF8Bytes
    let values: [RawValue?]
    let strings: [Range<Int>]
    /// The field (nil for the record as a whole) and the reason (in Swedish too, where written), in the order found.
    var problems: [(field: IntakeField?, reason: String, sv: String?)] = []

    mutating func fail(_ f: IntakeField, _ reason: String, sv: String? = nil) { problems.append((f, reason, sv)) }
    mutating func failRecord(_ reason: String, sv: String? = nil) { problems.append((nil, reason, sv)) }

    /// The trimmed text of a field; nil when absent or blank. Lists and booleans are refused
    /// for text fields.
    mutating func text(_ f: IntakeField) -> UTF8Bytes? {
        switch values[f.rawValue] {
        case nil: return nil
        case .text(let r):
            let t = p[bytes: r].intakeTrimmed
            return t.isEmpty ? nil : t
        case .list:
            fail(f, "must be text, not a list")
            return nil
        case .bool:
            fail(f, "must be text, not true/false")
            return nil
        }
    }

    mutating func items(_ f: IntakeField) -> ListItems {
        switch values[f.rawValue] {
        case nil: return .none(p)
        case .text(let r): return ListItems(p, text: r)
        case .list(let r): return ListItems(p, strings: strings[r])
        case .bool: fail(f, "must be text or a list of codes, not true/false"); return .none(p)
        }
    }

    mutating func rule<T>(_ f: IntakeField, _ body: (UTF8Bytes) throws(FieldProblem) -> T) -> T? {
        guard let u = text(f) else { return nil }
        do { return try body(u) } catch { fail(f, error.reason, sv: error.swedish); return nil }
    }

    mutating func organisation(_ f: IntakeField) -> OrganisationNumber? {
        guard let u = text(f) else { return nil }
        let s = u.string
        do { return try OrganisationNumber(s) } catch {
            fail(f, "\(CellEcho.quoted(s, limit: 20)): \(error.reason)")
            return nil
        }
    }

    /// True when the field is absent, blank text or an empty list.
    func isBlank(_ f: IntakeField) -> Bool {
        switch values[f.rawValue] {
        case nil: return true
        case .text(let r): return p[bytes: r].intakeTrimmed.isEmpty
        case .list(let r): return r.isEmpty
        case .bool: return false
        }
    }
}
