//! Logging: journald on the device (when started by systemd), stderr in development.
//! Code logs with `tracing`; on the device tracing's `log` bridge feeds systemd-journal-logger.

pub fn init(force_journald: bool) {
    let under_systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    if (force_journald || under_systemd)
        && let Ok(j) = systemd_journal_logger::JournalLog::new()
        && log::set_boxed_logger(Box::new(j.with_syslog_identifier("tram".into()))).is_ok()
    {
        log::set_max_level(log::LevelFilter::Info);
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
