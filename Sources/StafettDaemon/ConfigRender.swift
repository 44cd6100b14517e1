import Foundation
import StafettModel

extension StafettConfig {
    /// The configuration as `stafett.conf` text that `parse(text:)` reads back to an equal value.
    /// Every key is written, defaults included, so the file documents what is in force.
    public func render() -> String {
        var out = "# stafett.conf, written by Stafett. See Config/stafett.conf for what each key means.\n"
        func section(_ name: String, _ sub: String? = nil) {
            out += sub.map { "\n[\(name) \(Self.quoted($0, always: true))]\n" } ?? "\n[\(name)]\n"
        }
        func line(_ key: String, _ value: String) { out += "\(key) = \(Self.quoted(value))\n" }

        section("node")
        line("organisation", node.organisation.formatted)
        line("name", node.name)
        line("listen", node.listen.description)
        line("tls-key", node.tlsKey)
        line("tls-cert", node.tlsCert)
        line("tls-ca", node.tlsCA)
        if let crl = node.tlsCRL { line("tls-crl", crl) }
        line("allow-tls12", node.allowTLS12 ? "yes" : "no")
        line("signing-key", node.signingKey)
        line("signing-cert", node.signingCert)
        line("journal-secret", node.journalSecret)

        section("paths")
        line("spool", paths.spool)
        line("state", paths.state)

        section("limits")
        line("max-body", ConfigValue.render(size: limits.maxBody))
        line("max-header", ConfigValue.render(size: limits.maxHeader))
        line("read-timeout", ConfigValue.render(limits.readTimeout))
        line("handshake-timeout", ConfigValue.render(limits.handshakeTimeout))
        line("idle-timeout", ConfigValue.render(limits.idleTimeout))
        if let v = limits.maxConnections { line("max-connections", String(v)) }
        if let v = limits.maxHandshakes { line("max-handshakes", String(v)) }
        if let v = limits.maxConnectionsPerPeer { line("max-connections-per-peer", String(v)) }
        line("max-intake-file", ConfigValue.render(size: limits.maxIntakeFile))
        line("quiet-period", ConfigValue.render(limits.quietPeriod))
        line("scan-interval", ConfigValue.render(limits.scanInterval))
        line("max-batch", String(limits.maxBatch))

        section("delivery")
        line("connections-per-peer", String(delivery.connectionsPerPeer))
        line("initial-backoff", ConfigValue.render(delivery.initialBackoff))
        line("max-backoff", ConfigValue.render(delivery.maxBackoff))
        line("jitter", String(delivery.jitter))
        line("max-lifetime", ConfigValue.render(delivery.maxLifetime))
        line("batch", String(delivery.batch))

        for p in peers {
            section("peer", p.name)
            line("organisation", p.organisation.formatted)
            line("address", p.address.description)
            if let ca = p.ca { line("ca", ca) }
            for pin in p.pins { line("pin", pin) }
            for cert in p.signingCerts { line("signing-cert", cert) }
        }

        if let d = routing.defaultPeer {
            section("routing")
            line("default", d)
        }
        for type in EventType.allCases {
            guard let targets = routing.fanOut[type], !targets.isEmpty else { continue }
            section("route", type.rawValue)
            for t in targets { line("also", t) }
        }

        section("metrics")
        line("enabled", metrics.enabled ? "yes" : "no")
        line("listen", metrics.listen.description)

        section("journal")
        line("checkpoint-interval", ConfigValue.render(journal.checkpointInterval))

        section("access")
        line("intake-group", access.intakeGroup)
        line("inbox-group", access.inboxGroup)
        line("operators-group", access.operatorsGroup)

        section("retention")
        line("accepted", ConfigValue.render(retention.accepted))
        line("failed", ConfigValue.render(retention.failed))
        line("archive", ConfigValue.render(retention.archive))
        return out
    }

    /// Quotes a value when the lexer would otherwise change it (blanks at the ends, comment
    /// characters, quotes, backslashes, control characters, commas in list values).
    static func quoted(_ value: String, always: Bool = false) -> String {
        let needs = always || value.isEmpty || value.first == " " || value.last == " "
            || value.contains(where: { "#;\"\\\t\n,".contains($0) })
        guard needs else { return value }
        var s = "\""
        for c in value {
            switch c {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\t": s += "\\t"
            default: s.append(c)
            }
        }
        return s + "\""
    }
}
