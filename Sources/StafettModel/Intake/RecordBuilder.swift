import Foundation

/// A field's value before validation, as the file gave it.
enum RawValue: Sendable {
    case text(String)
    /// A JSON array of strings (citizenship, languages, references).
    case list([String])
    /// A JSON boolean (dob_estimated).
    case bool(Bool)
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

    /// `values` and `names` are indexed by `IntakeField.rawValue`; `names` holds the header or key
    /// as written. `column` says whether names are CSV columns. Returns nil when anything is wrong.
    func build(_ values: [RawValue?], names: [String?], column: Bool, location: IntakeLocation, index: Int,
               sink: inout ErrorSink) -> IntakeRecord? {
        var ok = true
        func fail(_ f: IntakeField, _ reason: String) {
            ok = false
            sink.add(location, field: names[f.rawValue] ?? f.jsonKey, column: column, reason)
        }
        func failRecord(_ reason: String) {
            ok = false
            sink.add(location, reason)
        }
        /// The trimmed text of a field; nil when absent or blank. Lists and booleans are refused
        /// for text fields.
        func text(_ f: IntakeField) -> String? {
            switch values[f.rawValue] {
            case nil: return nil
            case .text(let s):
                let t = s.intakeTrimmed
                return t.isEmpty ? nil : t
            case .list:
                fail(f, "must be text, not a list")
                return nil
            case .bool:
                fail(f, "must be text, not true/false")
                return nil
            }
        }
        func items(_ f: IntakeField) -> [String] {
            switch values[f.rawValue] {
            case nil: return []
            case .text(let s): return FieldRules.split(s)
            case .list(let l): return l.flatMap(FieldRules.split)
            case .bool: fail(f, "must be text or a list of codes, not true/false"); return []
            }
        }
        func rule<T>(_ f: IntakeField, _ body: (String) throws(FieldProblem) -> T) -> T? {
            guard let s = text(f) else { return nil }
            do { return try body(s) } catch { fail(f, error.reason); return nil }
        }

        let given = rule(.givenName, FieldRules.name)
        let family = rule(.familyName, FieldRules.name)
        let dob = rule(.dateOfBirth) { s throws(FieldProblem) in try FieldRules.dateOfBirth(s, today: today) }
        var estimated = false
        if case .bool(let b)? = values[IntakeField.dateOfBirthEstimated.rawValue] {
            estimated = b
        } else if let b = rule(.dateOfBirthEstimated, FieldRules.flag) {
            estimated = b
        }
        let sex = rule(.sex, FieldRules.sex)
        var citizenship: [String] = []
        do { citizenship = try FieldRules.citizenships(items(.citizenship)) } catch { fail(.citizenship, error.reason) }
        var languages: [String] = []
        do { languages = try FieldRules.languages(items(.languages)) } catch { fail(.languages, error.reason) }
        let intakeId = rule(.intakeId) { s throws(FieldProblem) in try FieldRules.identifier(s, what: "intake id") }
        let dossier = rule(.dossierNumber) { s throws(FieldProblem) in try FieldRules.identifier(s, what: "dossier number") }
        let pin = rule(.personalIdentityNumber) { s throws(FieldProblem) in
            try FieldRules.personalIdentityNumber(s, reference: reference)
        }
        let eventType = rule(.event, FieldRules.event)
        let time = rule(.eventTime) { s throws(FieldProblem) in try FieldRules.eventTime(s, reference: reference) }
        let place = rule(.place) { s throws(FieldProblem) in try FieldRules.text(s, max: 200, what: "place") }
        let placementKind = rule(.placement, FieldRules.placement)
        let placementName = rule(.placementName) { s throws(FieldProblem) in
            try FieldRules.text(s, max: 200, what: "placement name")
        }
        let responsible = organisation(.responsibleOrganisation, text: text, fail: fail)
        let recipient = organisation(.recipient, text: text, fail: fail)
        var references: [MessageID] = []
        for item in items(.references) {
            do { references.append(try MessageID(item)) } catch { fail(.references, "\"\(item.prefix(40))\": \(error.reason)") }
        }
        let note = rule(.note) { s throws(FieldProblem) in try FieldRules.text(s, max: 4000, what: "note", lineBreaks: true) }

        // Rules across fields.
        if given == nil && family == nil && values[IntakeField.givenName.rawValue].flatMap(nonBlank) == nil
            && values[IntakeField.familyName.rawValue].flatMap(nonBlank) == nil {
            failRecord("the child has no name: fill in the given name or the family name (\(label(.givenName, names)) or "
                + "\(label(.familyName, names))); write what is known, even one name")
        }
        if values[IntakeField.event.rawValue].flatMap(nonBlank) == nil {
            failRecord("the event is missing: fill in \(label(.event, names)), e.g. registrerad")
        }
        if values[IntakeField.eventTime.rawValue].flatMap(nonBlank) == nil {
            failRecord("the time of the event is missing: fill in \(label(.eventTime, names)), like 2015-10-23 14:05")
        }
        if [IntakeField.intakeId, .dossierNumber, .personalIdentityNumber].allSatisfy({
            values[$0.rawValue].flatMap(nonBlank) == nil
        }) {
            failRecord("the child has no identifier: fill in at least one of \(label(.intakeId, names)), "
                + "\(label(.dossierNumber, names)) or \(label(.personalIdentityNumber, names))")
        }
        if let pin, let dob, !estimated, pin.dateOfBirth != dob {
            fail(.dateOfBirth, "\(dob.iso) does not match the date in the personnummer (\(pin.dateOfBirth.iso)): "
                + "correct one of them, or mark the date of birth as estimated")
        }
        if placementName != nil && placementKind == nil && values[IntakeField.placement.rawValue].flatMap(nonBlank) == nil {
            fail(.placementName, "the kind of placement is missing: fill in \(label(.placement, names)) "
                + "(HVB, jourhem, familjehem or annat) as well")
        }

        guard ok, let eventType, let time else { return nil }
        let child = Child(givenName: given ?? "", familyName: family ?? "", dateOfBirth: dob,
                          dateOfBirthEstimated: estimated, sex: sex, citizenship: citizenship, languages: languages,
                          identifiers: ChildIdentifiers(intakeId: intakeId, dossierNumber: dossier,
                                                        personalIdentityNumber: pin))
        let event = CaseEvent(type: eventType, time: time, place: place,
                              placement: placementKind.map { Placement(kind: $0, name: placementName) },
                              responsibleOrganisation: responsible, note: note)
        return IntakeRecord(file: file, index: index, location: location, child: child, event: event,
                            recipient: recipient, references: references)
    }

    private func organisation(_ f: IntakeField, text: (IntakeField) -> String?,
                              fail: (IntakeField, String) -> Void) -> OrganisationNumber? {
        guard let s = text(f) else { return nil }
        do { return try OrganisationNumber(s) } catch {
            fail(f, "\"\(s.prefix(20))\": \(error.reason)")
            return nil
        }
    }

    /// The value unless it is blank text.
    private func nonBlank(_ v: RawValue) -> RawValue? {
        if case .text(let s) = v, s.intakeTrimmed.isEmpty { return nil }
        if case .list(let l) = v, l.isEmpty { return nil }
        return v
    }

    /// `"Händelse"` when the file has that column, else the canonical names.
    private func label(_ f: IntakeField, _ names: [String?]) -> String {
        if let n = names[f.rawValue] { return "\"\(n)\"" }
        return "\"\(f.swedishHeader)\"/\"\(f.jsonKey)\""
    }
}
