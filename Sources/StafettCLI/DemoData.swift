/// Fictional intake files for `stafett demo`: names, numbers and places are made up; the
/// personnummer and samordningsnummer pass the Luhn check but belong to nobody.
enum DemoData {
    /// An Excel export: UTF-8 with BOM, `;`, Swedish headers, a quoted field with a line break.
    static let csv = "\u{FEFF}Ärendenummer;Förnamn;Efternamn;Födelsedatum;Uppskattat födelsedatum;Kön;Medborgarskap;Språk;Dossiernummer;Händelse;Händelsetid;Plats;Placering;Placeringens namn;Anteckning\r\n"
        + "TBG-2015-2301;Ahmad;Rahimi;2001-03-17;ja;pojke;AF;prs;;registrerad;2015-10-23 06:40;Trelleborgs hamn, Transitcentralen;HVB;Ankomstboendet Öresund;\r\n"
        + "TBG-2015-2302;Zahra;Hosseini;2002-11-04;nej;flicka;AF;prs;;registrerad;2015-10-23 06:55;Trelleborgs hamn, Transitcentralen;jourhem;Familjen Åström;\"Reser med sin kusin;\r\nvill bo nära honom.\"\r\n"
        + "TBG-2015-2303;Yonas;Tesfay;2003-08-09;ja;pojke;ER;ti;15-204817;asylansökan inlämnad;2015-10-24 10:00;Migrationsverket Malmö;;;\r\n"
        + "TBG-2015-2304;Mohammed;Abdi;2000-05-01;ja;pojke;SO;so;15-204933;avviken;2015-10-26 22:15;HVB Ekbacken, Skåne;HVB;Ekbacken;Lämnade boendet efter middagen.\r\n"
        + "TBG-2015-2305;Sara;Haile;2004-01-20;ja;flicka;ER;ti;;placerad;2015-10-27 14:00;Trelleborg;familjehem;Familjen Müller;\r\n"

    /// A JSON array, English keys.
    static let json = """
        [
          {"intake_id": "TBG-2015-2306", "first_name": "Omid", "last_name": "Karimi", "date_of_birth": "2001-09-30",
           "dob_estimated": true, "sex": "male", "citizenship": ["AF"], "languages": ["prs", "fa"],
           "event": "TransferSent", "event_time": "2015-11-02T09:30:00+01:00", "place": "Trelleborg",
           "responsible_organisation": "212000-1165", "note": "Flyttas till anvisad kommun."},
          {"intake_id": "TBG-2015-2307", "dossier_number": "15-205101", "first_name": "Amina", "last_name": "Yusuf",
           "date_of_birth": "2003-02-14", "sex": "female", "citizenship": ["SO"], "languages": ["so"],
           "event": "Registered", "event_time": "2015-11-02T11:05:00+01:00", "place": "Trelleborgs hamn"}
        ]
        """

    /// A broken list: a mistyped personnummer and an unknown event, to show `failed/`.
    static let broken = "Förnamn;Efternamn;Händelse;Händelsetid;Ärendenummer;Personnummer\r\n"
        + "Ali;Nouri;registrerad;2015-10-23 08:15;TBG-2015-2399;20010101-1235\r\n"
        + "Hamid;Sultani;ombokad;2015-10-23 08:20;TBG-2015-2398;\r\n"

    /// Messages the good files produce (one per record; the demo has no fan-out).
    static let expectedMessages = 7
}
