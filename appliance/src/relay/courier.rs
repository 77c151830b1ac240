//! The courier: with no link, the waiting batches are written to removable media
//! (`tram relay export`) encrypted for the hub, which imports them.

use super::*;

/// Courier mode, school side: every batch still waiting (the one being sent, those already
/// exported, and new ones for the rest of the outbox) is written to `to` encrypted for the hub
/// (`{school}-{seq}.tram-batch`, age to the hub's X25519 recipient; the batch inside is signed).
/// The batches stay queued here until the hub acknowledges them, over the link or after the
/// import. Returns the files written.
pub fn export(store: &Store, to: &Path, budget: &Budget) -> anyhow::Result<Vec<PathBuf>> {
    use std::io::Write as _;
    let dir = store.dir();
    let e =
        enrolment(dir).ok_or_else(|| anyhow::anyhow!("this school is not enrolled with a hub"))?;
    let recipient: age::x25519::Recipient = e
        .courier_recipient
        .as_deref()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the hub gave no courier key at enrolment; enrol again with an up-to-date hub"
            )
        })?
        .parse()
        .map_err(|e| anyhow::anyhow!("the hub's courier key is unreadable: {e}"))?;
    let key = device_key(dir)?;
    std::fs::create_dir_all(queue_dir(dir))?;
    std::fs::create_dir_all(to)?;
    // The batch being sent joins the queue first; then the rest of the outbox is packed.
    if let Ok(b) = std::fs::read(outgoing(dir))
        && let Ok((env, _)) = batch::envelope(&b)
    {
        crate::config::write_atomic(&queue_dir(dir).join(format!("{:08}.batch", env.seq)), &b)?;
        let _ = std::fs::remove_file(outgoing(dir));
    }
    let mut acked = queued(dir)
        .last()
        .and_then(|(_, p)| std::fs::read(p).ok())
        .and_then(|b| batch::envelope(&b).ok().map(|(env, _)| env.last))
        .unwrap_or(state(dir).acked_outbox);
    loop {
        let mut entries = store.outbox(acked, budget.batch_entries)?;
        if entries.is_empty() {
            break;
        }
        let (first, last) = (entries[0].seq, entries.last().expect("some").seq);
        let seq = queued(dir)
            .last()
            .map_or(state(dir).next_seq, |(q, _)| q + 1);
        entries = entries
            .into_iter()
            .filter_map(|e| budget.privacy.apply(e))
            .collect();
        let backlog = store.outbox_count_after(last)?;
        let now = jiff::Timestamp::now().to_string();
        let b = batch::build_range(&key, &e.school, seq, (first, last), &entries, backlog, &now);
        crate::config::write_atomic(&queue_dir(dir).join(format!("{seq:08}.batch")), &b)?;
        acked = last;
    }
    let mut written = Vec::new();
    for (seq, p) in queued(dir) {
        let b = std::fs::read(&p)?;
        let out = to.join(format!("{}-{seq:08}.tram-batch", e.school));
        let f = std::fs::File::create(&out)?;
        let mut w =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .expect("one recipient")
                .wrap_output(f)?;
        w.write_all(&b)?;
        w.finish()?.sync_all()?;
        written.push(out);
    }
    Ok(written)
}

/// What `tram relay export` prints.
pub fn export_text(store: &Store, to: &Path, budget: &Budget) -> anyhow::Result<String> {
    let files = export(store, to, budget)?;
    let mut out = String::new();
    for f in &files {
        out += &format!("{}\n", f.display());
    }
    out += &format!(
        "{} batches written for the courier (encrypted for the hub); they stay queued here until the hub acknowledges them\n",
        files.len()
    );
    Ok(out)
}
