import Foundation
import StafettModel

extension StafettConfig {
    /// Checks what single values cannot: routes name configured peers, peers are distinct, the metrics
    /// endpoint is on loopback, back-off bounds are ordered, paths are absolute; with `checkFiles`,
    /// also that every key, certificate and secret file exists and is readable (a permission problem named as one),
    /// and that private keys and the journal secret are not open to others (run this at start and reload).
    public func validate(checkFiles: Bool) throws(ConfigErrors) {
        var errors: [ConfigError] = []
        let names = peers.map(\.name)
        func at(_ path: String) -> ConfigLocation { origins[path] }

        var seenNames = Set<String>()
        var seenOrgs: [OrganisationNumber: String] = [:]
        var seenPins: [String: String] = [:]
        for p in peers {
            // The name is a directory under queue/ and archive/: no '/', no leading '.' (".", "..",
            // hidden), and not the archive's own "expired" and "receipts".
            if p.name.isEmpty || p.name.hasPrefix(".") || p.name == "expired" || p.name == "receipts"
                || !p.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
                errors.append(ConfigError(at("peer.\(p.name).organisation"), "peer name \"\(p.name)\" is not a simple name",
                                          hint: "use letters, digits, '-', '_' or '.', not starting with '.' and not \"expired\" or \"receipts\", like migrationsverket"))
            }
            if !seenNames.insert(p.name).inserted {
                errors.append(ConfigError(at("peer.\(p.name).organisation"), "peer \"\(p.name)\" is defined twice",
                                          hint: "merge the two [peer \"\(p.name)\"] sections"))
            }
            if let other = seenOrgs[p.organisation] {
                errors.append(ConfigError(at("peer.\(p.name).organisation"),
                                          "peers \"\(other)\" and \"\(p.name)\" have the same organisationsnummer \(p.organisation)",
                                          hint: "one organisation is one peer; list extra certificates under one [peer] section"))
            }
            seenOrgs[p.organisation] = p.name
            if p.signingCerts.isEmpty {
                errors.append(ConfigError(at("peer.\(p.name).organisation"), "peer \"\(p.name)\" has no signing-cert",
                                          hint: "add 'signing-cert = path' with the certificate that verifies its messages"))
            }
            for pin in p.pins where ConfigValue.sha256Pin(pin) != pin {
                errors.append(ConfigError(at("peer.\(p.name).pin"), "peer \"\(p.name)\" has a malformed pin",
                                          hint: "a pin is 64 lower-case hex digits"))
            }
            // One certificate is one identity: under two peers, which one it proves would be chosen by
            // the order of a dictionary, and could change from one start to the next.
            for pin in Set(p.pins) {
                if let other = seenPins[pin], other != p.name {
                    errors.append(ConfigError(at("peer.\(p.name).pin"), "peers \"\(other)\" and \"\(p.name)\" pin the same certificate \(pin.prefix(16))…",
                                              hint: "a certificate identifies one organisation: remove the pin from the peer it does not belong to"))
                }
                seenPins[pin] = p.name
            }
        }
        if let d = routing.defaultPeer, !names.contains(d) {
            errors.append(ConfigError(at("routing.default"), "default route names unknown peer \"\(d)\"",
                                      hint: Suggest.hint(for: d, in: names.isEmpty ? ["(no peers configured)"] : names)))
        }
        for (type, targets) in routing.fanOut.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            for t in targets where !names.contains(t) {
                errors.append(ConfigError(at("route.\(type.rawValue).also"), "[route \"\(type.rawValue)\"] names unknown peer \"\(t)\"",
                                          hint: Suggest.hint(for: t, in: names.isEmpty ? ["(no peers configured)"] : names)))
            }
        }
        if metrics.enabled, !metrics.listen.isLoopback {
            errors.append(ConfigError(at("metrics.listen"), "metrics must listen on loopback, not \(metrics.listen)",
                                      hint: "use 127.0.0.1:\(metrics.listen.port); put a proxy in front if others need it"))
        }
        if delivery.initialBackoff > delivery.maxBackoff {
            errors.append(ConfigError(at("delivery.initial-backoff"), "initial-backoff is longer than max-backoff",
                                      hint: "make max-backoff at least \(ConfigValue.render(delivery.initialBackoff))"))
        }
        if node.name.isEmpty {
            errors.append(ConfigError(at("node.name"), "node name is empty", hint: "set 'name = ' to the organisation's name"))
        }
        for (key, dir) in [("paths.spool", paths.spool), ("paths.state", paths.state)] where !dir.hasPrefix("/") {
            errors.append(ConfigError(at(key), "'\(dir)' is not an absolute path", hint: "write the full path, like /var/spool/stafett"))
        }

        if checkFiles {
            var files: [(String, String, String)] = [
                ("node.tls-key", node.tlsKey, "TLS key"), ("node.tls-cert", node.tlsCert, "TLS certificate"),
                ("node.tls-ca", node.tlsCA, "CA bundle"), ("node.signing-key", node.signingKey, "signing key"),
                ("node.signing-cert", node.signingCert, "signing certificate"),
                ("node.journal-secret", node.journalSecret, "journal secret"),
            ]
            if let crl = node.tlsCRL { files.append(("node.tls-crl", crl, "revocation list")) }
            for p in peers {
                if let ca = p.ca { files.append(("peer.\(p.name).ca", ca, "CA bundle of peer \"\(p.name)\"")) }
                for cert in p.signingCerts {
                    files.append(("peer.\(p.name).signing-cert", cert, "signing certificate of peer \"\(p.name)\""))
                }
            }
            for (key, file, what) in files {
                if let problem = ServiceUser.readProblem(file) {
                    errors.append(ConfigError(at(key), problem.about(what), hint: problem.hint))
                }
            }
            // Private keys and the journal secret as sshd treats its keys: open to nobody else.
            for (key, file, what) in [("node.tls-key", node.tlsKey, "TLS key"), ("node.signing-key", node.signingKey, "signing key"),
                                      ("node.journal-secret", node.journalSecret, "journal secret")] {
                if let exposure = ServiceUser.exposure(ofPrivateFile: file) {
                    errors.append(ConfigError(at(key), "\(what) '\(file)' \(exposure): a private key must be readable by the service user only",
                                              hint: "chmod 600 '\(file)' (owned by the service user), or chmod 640 with the service's own group "
                                                + "(chown root:stafett)"))
                }
            }
        }
        if !errors.isEmpty { throw ConfigErrors(errors) }
    }
}
