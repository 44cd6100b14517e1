import CLibXML2
import Foundation
import StafettModel

/// Case messages as XML in `urn:stafett:case:1` (Schemas/case-1.xsd).
///
/// `encode` writes the text directly (no DOM): deterministic, UTF-8, XML declaration, two-space
/// indentation, no signature. Times are written in UTC with milliseconds (see `XMLDateTime`):
/// a message whose dates are whole milliseconds survives encode → parse → decode unchanged.
/// Characters XML 1.0 cannot carry are dropped (intake should refuse them first, see
/// `XMLText.firstDisallowedScalar`).
public enum CaseXML {
    /// The case message namespace.
    public static let namespace = "urn:stafett:case:1"
    static let ns: StaticString = "urn:stafett:case:1"

    /// The UTF-8 XML of `m`, without signature. Everything between the XML declaration line and
    /// the final line feed is already the document's exclusive C14N (see `encodeCanonical`).
    public static func encode(_ m: CaseMessage) -> Data {
        encodeCanonical(m).document
    }

    /// The XML declaration line `encode` starts with.
    static let declaration: StaticString = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

    /// The UTF-8 XML of `m` (as `encode`) and the byte range in it that is exactly the exclusive
    /// XML canonicalization 1.0 of the parsed document: the root element, from `<CaseMessage` to
    /// `</CaseMessage>`. Text is escaped as C14N escapes it and no element is self-closed, so a
    /// signer can digest and splice these bytes without parsing or canonicalizing them again.
    public static func encodeCanonical(_ m: CaseMessage) -> (document: Data, canonicalRange: Range<Int>) {
        encodeCanonical(m, events: nil)
    }

    /// `encodeCanonical`, validated against case-1.xsd as it is written: libxml2's schema
    /// validator gets the elements and the decoded text from the writer, so the document is not
    /// parsed again (the sealing path's cost is then the validation alone). The writer makes the
    /// bytes and the events in the same calls; a receiver still parses and validates the bytes.
    ///
    /// Throws `.schemaInvalid` like `SchemaValidator.validate(bytes:)`, with its line numbers:
    /// an invalid document is validated again from its bytes to say where.
    public static func encodeCanonicalValidated(_ m: CaseMessage) throws(XMLError) -> (document: Data, canonicalRange: Range<Int>) {
        let validator = SchemaValidator.caseMessage
        let (encoded, verdict) = validator.validateEvents(namespace: ns) { events in encodeCanonical(m, events: events) }
        switch verdict {
        case .valid:
            return encoded
        case .unavailable:
            try validator.validate(bytes: encoded.document)
            return encoded
        case let .invalid(eventErrors):
            try validator.validate(bytes: encoded.document)
            // Valid as bytes but not as events: the writer and its events disagree; refuse, and say so.
            throw .schemaInvalid(schema: validator.name, errors: ["the encoder's events were refused although its bytes are valid"] + eventErrors)
        }
    }

    private static func encodeCanonical(_ m: CaseMessage, events: SchemaEvents?) -> (document: Data, canonicalRange: Range<Int>) {
        var w = XMLWriter(capacity: 1536 + (m.event.note?.utf8.count ?? 0))
        w.raw(declaration)
        let start = w.bytes.count
        w.events = events
        w.root("CaseMessage", namespace: ns)

        let h = m.header
        w.open("Header", indent: 2)
        w.leaf("MessageId", h.messageId.rawValue, indent: 4)
        w.leaf("CreatedAt", h.createdAt, indent: 4)
        w.leaf("Sender", h.sender.digits, indent: 4)
        w.leaf("Recipient", h.recipient.digits, indent: 4)
        w.leaf("EventType", m.event.type.rawValue, indent: 4)
        if !h.references.isEmpty {
            w.open("References", indent: 4)
            for r in h.references { w.leaf("MessageId", r.rawValue, indent: 6) }
            w.close("References", indent: 4)
        }
        w.close("Header", indent: 2)

        let c = m.child
        w.open("Child", indent: 2)
        // An unknown name is left out (the schema allows either to be absent, not both).
        if !c.givenName.isEmpty { w.leaf("GivenName", c.givenName, indent: 4) }
        if !c.familyName.isEmpty { w.leaf("FamilyName", c.familyName, indent: 4) }
        if let dob = c.dateOfBirth {
            w.leaf("DateOfBirth", attribute: "estimated", c.dateOfBirthEstimated ? "true" : "false", dob, indent: 4)
        }
        if let sex = c.sex { w.leaf("Sex", sex.rawValue, indent: 4) }
        for code in c.citizenship { w.leaf("Citizenship", code, indent: 4) }
        for code in c.languages { w.leaf("Language", code, indent: 4) }
        let ids = c.identifiers
        if !ids.isEmpty {
            w.open("Identifiers", indent: 4)
            if let v = ids.intakeId {
                // Absent means the sender: an issuer equal to it is not written (see `normalised`).
                if let issuer = ids.intakeIdIssuer, issuer != h.sender {
                    w.leaf("IntakeId", attribute: "issuer", issuer.digits, v, indent: 6)
                } else {
                    w.leaf("IntakeId", v, indent: 6)
                }
            }
            if let v = ids.dossierNumber { w.leaf("DossierNumber", v, indent: 6) }
            if let v = ids.personalIdentityNumber {
                w.leaf("PersonalIdentityNumber", attribute: "kind", v.kind.rawValue, v.digits, indent: 6)
            }
            w.close("Identifiers", indent: 4)
        }
        w.close("Child", indent: 2)

        let e = m.event
        w.open("Event", indent: 2)
        w.leaf("Type", e.type.rawValue, indent: 4)
        w.leaf("Time", e.time, indent: 4)
        if let v = e.place { w.leaf("Place", v, indent: 4) }
        if let p = e.placement {
            w.open("Placement", indent: 4)
            w.leaf("Kind", p.kind.rawValue, indent: 6)
            if let v = p.name { w.leaf("Name", v, indent: 6) }
            if let v = p.municipality { w.leaf("Municipality", v.digits, indent: 6) }
            w.close("Placement", indent: 4)
        }
        if let v = e.responsibleOrganisation { w.leaf("ResponsibleOrganisation", v.digits, indent: 4) }
        if let v = e.note { w.leaf("Note", v, indent: 4) }
        w.close("Event", indent: 2)

        w.close("CaseMessage", indent: 0)
        let end = w.bytes.count
        w.raw("\n")
        return (Data(w.bytes), start..<end)
    }

    /// Reads the case message in `doc`, ignoring one trailing `ds:Signature`.
    ///
    /// Does not validate against the schema (call `SchemaValidator.caseMessage.validate` first);
    /// it does check everything the model needs: namespace, element order, Luhn check digits,
    /// real dates, known enumeration values, Header/EventType equal to Event/Type. Errors are
    /// `.content(path:reason:)` naming the element, like `/CaseMessage/Child/DateOfBirth`.
    public static func decode(_ doc: XMLDocument) throws(XMLError) -> CaseMessage {
        let root = try requireRoot(doc, "CaseMessage", in: ns)
        var r = ElementReader(root, path: "/CaseMessage", namespace: ns)
        let headerNode = try r.required("Header")
        let childNode = try r.required("Child")
        let eventNode = try r.required("Event")
        try r.finish(allowSignature: true)

        var hr = r.child(headerNode, "Header")
        let messageId = try hr.messageID("MessageId")
        let createdAt = try hr.dateTime("CreatedAt")
        let sender = try hr.organisation("Sender")
        let recipient = try hr.organisation("Recipient")
        let headerType = try hr.enumeration("EventType", EventType.self)
        var references: [MessageID] = []
        if let refs = hr.optional("References") {
            var rr = hr.child(refs, "References")
            while rr.hasNext("MessageId") { references.append(try rr.messageID("MessageId")) }
            try rr.finish(allowSignature: false)
        }
        try hr.finish(allowSignature: false)
        let header = MessageHeader(messageId: messageId, createdAt: createdAt, sender: sender,
                                   recipient: recipient, references: references)

        let child = try decodeChild(r.child(childNode, "Child"), sender: sender)
        let event = try decodeEvent(r.child(eventNode, "Event"))
        guard event.type == headerType else {
            throw .content(path: "/CaseMessage/Event/Type",
                           reason: "is \(event.type.rawValue) but Header/EventType is \(headerType.rawValue)")
        }
        return CaseMessage(header: header, child: child, event: event)
    }

    /// Parses, validates against case-1.xsd and decodes untrusted bytes.
    public static func read(_ data: Data, limits: XMLLimits = .default) throws(XMLError) -> CaseMessage {
        try decode(try SchemaValidator.caseMessage.parseAndValidate(data, limits: limits))
    }

    /// The child; an intake id issuer equal to `sender` reads as absent (see `ChildIdentifiers.normalised`).
    private static func decodeChild(_ reader: ElementReader, sender: OrganisationNumber) throws(XMLError) -> Child {
        var r = reader
        let given = r.optionalString("GivenName") ?? ""
        let family = r.optionalString("FamilyName") ?? ""
        guard !given.isEmpty || !family.isEmpty else {
            throw .content(path: "Child", reason: "neither GivenName nor FamilyName: at least one name is required")
        }
        var dob: CalendarDate?
        var estimated = false
        if let node = r.optional("DateOfBirth") {
            dob = try r.convert(ElementReader.collapsed(ElementReader.text(node)), "DateOfBirth") { t throws(FieldError) in
                try CalendarDate(iso: t)
            }
            switch XMLDocument.attribute("estimated", of: node).map(ElementReader.collapsed) {
            case nil, "false", "0": estimated = false
            case "true", "1": estimated = true
            case let other?:
                throw .content(path: "/CaseMessage/Child/DateOfBirth/@estimated",
                               reason: "'\(other.prefix(20))' is not a boolean (true or false)")
            }
        }
        let sex = try r.optionalEnumeration("Sex", Sex.self)
        var citizenship: [String] = []
        while let v = r.optionalString("Citizenship") { citizenship.append(v) }
        var languages: [String] = []
        while let v = r.optionalString("Language") { languages.append(v) }
        var ids = ChildIdentifiers()
        if let node = r.optional("Identifiers") {
            var ir = r.child(node, "Identifiers")
            if let node = ir.optional("IntakeId") {
                ids.intakeId = ElementReader.text(node)
                if let issuer = XMLDocument.attribute("issuer", of: node) {
                    ids.intakeIdIssuer = try ir.convert(issuer, "IntakeId/@issuer") { t throws(FieldError) in
                        try OrganisationNumber(t)
                    }
                }
            }
            ids.dossierNumber = ir.optionalString("DossierNumber")
            if let pn = ir.optional("PersonalIdentityNumber") {
                let number = try ir.convert(ElementReader.text(pn), "PersonalIdentityNumber") { t throws(FieldError) in
                    guard t.utf8.count == 12 else {
                        throw FieldError(field: "personnummer", value: "", reason: "must be 12 digits, YYYYMMDDNNNC")
                    }
                    return try PersonalIdentityNumber(t)
                }
                let kind = XMLDocument.attribute("kind", of: pn)
                guard kind == nil || kind == number.kind.rawValue else {
                    throw .content(path: "/CaseMessage/Child/Identifiers/PersonalIdentityNumber/@kind",
                                   reason: "says \(kind!.prefix(20)) but the number is a \(number.kind.rawValue)")
                }
                ids.personalIdentityNumber = number
            }
            try ir.finish(allowSignature: false)
        }
        try r.finish(allowSignature: false)
        return Child(givenName: given, familyName: family, dateOfBirth: dob, dateOfBirthEstimated: estimated,
                     sex: sex, citizenship: citizenship, languages: languages, identifiers: ids.normalised(sender: sender))
    }

    private static func decodeEvent(_ reader: ElementReader) throws(XMLError) -> CaseEvent {
        var r = reader
        let type = try r.enumeration("Type", EventType.self)
        let time = try r.dateTime("Time")
        let place = r.optionalString("Place")
        var placement: Placement?
        if let node = r.optional("Placement") {
            var pr = r.child(node, "Placement")
            let kind = try pr.enumeration("Kind", PlacementKind.self)
            let name = pr.optionalString("Name")
            let municipality = try pr.optionalOrganisation("Municipality")
            try pr.finish(allowSignature: false)
            placement = Placement(kind: kind, name: name, municipality: municipality)
        }
        let responsible = try r.optionalOrganisation("ResponsibleOrganisation")
        let note = r.optionalString("Note")
        try r.finish(allowSignature: false)
        return CaseEvent(type: type, time: time, place: place, placement: placement,
                         responsibleOrganisation: responsible, note: note)
    }
}
