import Foundation
import StafettTestSupport
import XCTest

/// A self-signed certificate and its key made by the openssl CLI (not by our code).
func opensslSelfSigned(in dir: TempDir, name: String, rsa: Bool,
                       subject: String = "/C=SE/O=Trelleborgs kommun/organizationIdentifier=NTRSE-2120001165/CN=node1")
    throws -> (keyPath: String, certPath: String) {
    let key = dir.path("\(name)-key.pem"), cert = dir.path("\(name)-cert.pem")
    let alg = rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    let r = try runTool("/usr/bin/openssl", ["req", "-x509"] + alg + ["-nodes", "-keyout", key, "-out", cert,
                                                                "-days", "2", "-subj", subject])
    XCTAssertEqual(r.status, 0, r.output)
    return (key, cert)
}

/// A small case message in the shape of case-1.xsd, with characters that C14N must handle.
let sampleCase = """
<?xml version="1.0" encoding="UTF-8"?>
<CaseMessage xmlns="urn:stafett:case:1" xmlns:x="urn:example:unused" version="1">
  <Header>
    <MessageId>0f6c3a1e-6d1b-4c55-9d0e-2b6f1f0c9a11</MessageId>
    <CreatedAt>2015-10-14T09:12:00Z</CreatedAt>
    <Sender>2120001165</Sender>
    <Recipient>2021005489</Recipient>
    <EventType>Registered</EventType>
  </Header>
  <Child>
    <GivenName>Ahmad</GivenName>
    <FamilyName>Rahimi</FamilyName>
    <Note attr="a &amp; b">Kom med tåget från Malmö &lt;ensam&gt; — 15 år?</Note>
  </Child>
</CaseMessage>
"""
