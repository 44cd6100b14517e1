import Foundation
import StafettCrypto
import StafettSignature
import StafettXML

/// XML-DSig verification of a received document, by certificate and by bare key, with the
/// signed-content digest a receipt quotes.
///
/// The key below exists for fuzzing only and protects nothing: the seeds in
/// `Fuzz/corpus/xmldsig` are signed with it (`stafett-fuzz make-seeds`), so mutations start from
/// documents that verify and reach the digest and signature checks, not only the profile parser.
enum SignatureHarness {
    static let keyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnDbJr7xR3MW46lRa
        3v4ANjdhsfmVqAcxJu4nNEGbRwyhRANCAATf7w6s2kVVxIM5nocSAlfBzb6CVTfh
        pFmj/5GnE/4rEG8pBuPWtTOxgW1dLl2kmlAgVSDVIvlIKROqijH2vf6x
        -----END PRIVATE KEY-----
        """
    /// Self-signed for `keyPEM`, valid until 2126.
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIB0jCCAXmgAwIBAgIUM9pEV7LvN6YgwBgVPcY/TrCa2IkwCgYIKoZIzj0EAwIw
        PjELMAkGA1UEBhMCU0UxGDAWBgNVBAoMD1N0YWZldHQgZnV6emluZzEVMBMGA1UE
        AwwMZnV6ei5pbnZhbGlkMCAXDTI2MTIwNjIxMTc0MVoYDzIxMjYxMTEyMjExNzQx
        WjA+MQswCQYDVQQGEwJTRTEYMBYGA1UECgwPU3RhZmV0dCBmdXp6aW5nMRUwEwYD
        VQQDDAxmdXp6LmludmFsaWQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATf7w6s
        2kVVxIM5nocSAlfBzb6CVTfhpFmj/5GnE/4rEG8pBuPWtTOxgW1dLl2kmlAgVSDV
        IvlIKROqijH2vf6xo1MwUTAdBgNVHQ4EFgQUCHy3PF5G5e4Qf/qpCcVGgfkcV5Uw
        HwYDVR0jBBgwFoAUCHy3PF5G5e4Qf/qpCcVGgfkcV5UwDwYDVR0TAQH/BAUwAwEB
        /zAKBggqhkjOPQQDAgNHADBEAiA4rWOm71h7moygo1x62knD0yxrVEHVD4k2nefT
        rHyo4gIgYK24qLXzeJC7OUWf+jUQOBV+8nMvRqWRBtZmSRYQmVg=
        -----END CERTIFICATE-----
        """

    /// The fixed key and its certificate; a harness that cannot load them would fuzz nothing.
    static let trust: (key: Key, certificate: Certificate) = {
        do {
            return (try Key.privateKey(pem: Data(keyPEM.utf8)), try Certificate.first(pem: Data(certificatePEM.utf8)))
        } catch {
            fatalError("the fuzzing key or certificate does not load: \(error)")
        }
    }()

    /// Signs `xml` with the fuzzing key (for seeds), with or without the certificate in KeyInfo.
    static func sign(_ xml: Data, withCertificate: Bool) throws -> Data {
        let signer = try XMLSignature.Signer(key: trust.key, certificate: withCertificate ? trust.certificate : nil)
        return try signer.sign(xml: xml)
    }

    static let xmldsig = FuzzTarget(name: "xmldsig", summary: "XML-DSig verification (XMLSignature.verify by certificate and by key)") { bytes in
        let (key, certificate) = trust
        guard let doc = try? XMLDocument.parse(Data(bytes)) else { return }
        _ = try? XMLSignature.verify(doc, trustingAnyOf: [certificate])
        _ = try? XMLSignature.verify(doc, key: key)
        _ = try? XMLSignature.signedContentDigest(doc)
    }
}

/// Seeds that need the fuzzing key, for `stafett-fuzz make-seeds`.
public enum SignedSeeds {
    /// `xml` signed with the fuzzing key, with or without its certificate in KeyInfo.
    public static func sign(_ xml: Data, withCertificate: Bool) throws -> Data {
        try SignatureHarness.sign(xml, withCertificate: withCertificate)
    }

    /// The fuzzing key, which also seals the checkpoints of the journal-record seeds.
    public static var key: Key { SignatureHarness.trust.key }
}
