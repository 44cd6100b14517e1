import Foundation

extension StafettConfig {
    /// The settings in `self` (a configuration read for SIGHUP) that differ from `running` but only
    /// take effect at start: the listening socket and its limits, the spool and state directories,
    /// the organisation, the journal secret, the metrics endpoint, the outbox timers, the
    /// checkpoint interval and the access groups. A reload keeps the running values of these; each entry names the key,
    /// the value that stays and the one that waits for a restart, so the operator is not misled.
    public func changesNeedingRestart(comparedTo running: StafettConfig) -> [String] {
        StafettConfig.startOnly.compactMap { $0.change(running, self) }
    }

    /// `self` with the start-only settings of `running` kept (see `changesNeedingRestart`), so the
    /// running daemon's configuration says what it really does after a reload.
    public func keepingStartOnlySettings(of running: StafettConfig) -> StafettConfig {
        var c = self
        for setting in StafettConfig.startOnly { setting.keep(running, &c) }
        return c
    }

    /// One setting bound at start: how to tell and show a change, and how to keep the running value.
    private struct StartOnlySetting {
        let change: (_ running: StafettConfig, _ loaded: StafettConfig) -> String?
        let keep: (_ running: StafettConfig, _ into: inout StafettConfig) -> Void

        init<T: Equatable>(_ key: String, _ path: WritableKeyPath<StafettConfig, T>, _ show: @escaping (T) -> String) {
            change = { running, loaded in
                let old = running[keyPath: path], new = loaded[keyPath: path]
                return old == new ? nil : "\(key): still \(show(old)); \(show(new)) takes effect after a restart"
            }
            keep = { running, config in config[keyPath: path] = running[keyPath: path] }
        }
    }

    /// The one list both functions above read, so a setting cannot be reported and not kept.
    /// (Built per call: it is read once per reload.)
    private static var startOnly: [StartOnlySetting] {
        let text: (String) -> String = { $0 }
        let address: (HostPort) -> String = { $0.description }
        let duration: (Duration) -> String = { ConfigValue.render($0) }
        let size: (Int) -> String = { ConfigValue.render(size: $0) }
        let cap: (Int?) -> String = { $0.map(String.init) ?? "sized from the peers" }
        return [
            StartOnlySetting("[node] organisation", \.node.organisation) { $0.digits },
            StartOnlySetting("[node] listen", \.node.listen, address),
            StartOnlySetting("[node] journal-secret", \.node.journalSecret, text),
            StartOnlySetting("[paths] spool", \.paths.spool, text),
            StartOnlySetting("[paths] state", \.paths.state, text),
            StartOnlySetting("[limits] max-body", \.limits.maxBody, size),
            StartOnlySetting("[limits] max-header", \.limits.maxHeader, size),
            StartOnlySetting("[limits] max-connections", \.limits.maxConnections, cap),
            StartOnlySetting("[limits] max-handshakes", \.limits.maxHandshakes, cap),
            StartOnlySetting("[limits] max-connections-per-peer", \.limits.maxConnectionsPerPeer, cap),
            StartOnlySetting("[limits] read-timeout", \.limits.readTimeout, duration),
            StartOnlySetting("[limits] handshake-timeout", \.limits.handshakeTimeout, duration),
            StartOnlySetting("[limits] idle-timeout", \.limits.idleTimeout, duration),
            StartOnlySetting("[limits] quiet-period", \.limits.quietPeriod, duration),
            StartOnlySetting("[limits] scan-interval", \.limits.scanInterval, duration),
            StartOnlySetting("[metrics] enabled", \.metrics.enabled) { $0 ? "yes" : "no" },
            StartOnlySetting("[metrics] listen", \.metrics.listen, address),
            StartOnlySetting("[journal] checkpoint-interval", \.journal.checkpointInterval, duration),
            // Groups are given to directories when they are created, at start.
            StartOnlySetting("[access] intake-group", \.access.intakeGroup, text),
            StartOnlySetting("[access] inbox-group", \.access.inboxGroup, text),
            StartOnlySetting("[access] operators-group", \.access.operatorsGroup, text),
        ]
    }
}
