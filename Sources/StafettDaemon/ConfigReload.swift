import Foundation

extension StafettConfig {
    /// The settings in `self` (a configuration read for SIGHUP) that differ from `running` but only
    /// take effect at start: the listening socket and its limits, the spool and state directories,
    /// the organisation, the journal secret, the metrics endpoint, the outbox timers and the
    /// checkpoint interval. A reload keeps the running values of these; each entry names the key,
    /// the value that stays and the one that waits for a restart, so the operator is not misled.
    public func changesNeedingRestart(comparedTo running: StafettConfig) -> [String] {
        var out: [String] = []
        func note<T: Equatable>(_ key: String, _ old: T, _ new: T, _ show: (T) -> String) {
            guard old != new else { return }
            out.append("\(key): still \(show(old)); \(show(new)) takes effect after a restart")
        }
        let text: (String) -> String = { $0 }
        let duration: (Duration) -> String = { ConfigValue.render($0) }
        let size: (Int) -> String = { ConfigValue.render(size: $0) }
        note("[node] organisation", running.node.organisation.digits, node.organisation.digits, text)
        note("[node] listen", running.node.listen.description, node.listen.description, text)
        note("[node] journal-secret", running.node.journalSecret, node.journalSecret, text)
        note("[paths] spool", running.paths.spool, paths.spool, text)
        note("[paths] state", running.paths.state, paths.state, text)
        note("[limits] max-body", running.limits.maxBody, limits.maxBody, size)
        note("[limits] max-header", running.limits.maxHeader, limits.maxHeader, size)
        note("[limits] max-connections", running.limits.maxConnections, limits.maxConnections) { "\($0)" }
        note("[limits] read-timeout", running.limits.readTimeout, limits.readTimeout, duration)
        note("[limits] handshake-timeout", running.limits.handshakeTimeout, limits.handshakeTimeout, duration)
        note("[limits] idle-timeout", running.limits.idleTimeout, limits.idleTimeout, duration)
        note("[limits] quiet-period", running.limits.quietPeriod, limits.quietPeriod, duration)
        note("[limits] scan-interval", running.limits.scanInterval, limits.scanInterval, duration)
        note("[metrics] enabled", running.metrics.enabled, metrics.enabled) { $0 ? "yes" : "no" }
        note("[metrics] listen", running.metrics.listen.description, metrics.listen.description, text)
        note("[journal] checkpoint-interval", running.journal.checkpointInterval, journal.checkpointInterval, duration)
        return out
    }

    /// `self` with the start-only settings of `running` kept (see `changesNeedingRestart`), so the
    /// running daemon's configuration says what it really does after a reload.
    public func keepingStartOnlySettings(of running: StafettConfig) -> StafettConfig {
        var c = self
        c.node.organisation = running.node.organisation
        c.node.listen = running.node.listen
        c.node.journalSecret = running.node.journalSecret
        c.paths = running.paths
        c.limits.maxBody = running.limits.maxBody
        c.limits.maxHeader = running.limits.maxHeader
        c.limits.maxConnections = running.limits.maxConnections
        c.limits.readTimeout = running.limits.readTimeout
        c.limits.handshakeTimeout = running.limits.handshakeTimeout
        c.limits.idleTimeout = running.limits.idleTimeout
        c.limits.quietPeriod = running.limits.quietPeriod
        c.limits.scanInterval = running.limits.scanInterval
        c.metrics = running.metrics
        c.journal = running.journal
        return c
    }
}
