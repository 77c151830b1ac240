//! The upload loop: the outbox packed into the next batch, sent in chunks that resume after a
//! cut, within the link's budget; the batches queued for the courier wait in `relay/queue/`.

use super::*;

/// Outbox entries not yet acknowledged, and how many in all.
pub fn backlog(store: &Store, data_dir: &Path) -> Result<u64, crate::store::StoreError> {
    store.outbox_count_after(state(data_dir).acked_outbox)
}

pub(super) fn outgoing(data_dir: &Path) -> PathBuf {
    data_dir.join("relay").join("outgoing.batch")
}

/// The batch to send: the one already built (resumed byte for byte), or a new one from the
/// outbox after what the hub acknowledged. None when there is nothing to send.
pub(super) fn next_batch(
    store: &Store,
    data_dir: &Path,
    key: &SigningKey,
    school: &str,
    budget: &Budget,
) -> anyhow::Result<Option<Vec<u8>>> {
    let path = outgoing(data_dir);
    if let Ok(b) = std::fs::read(&path) {
        if batch::envelope(&b).is_ok() {
            return Ok(Some(b));
        }
        let _ = std::fs::remove_file(&path);
    }
    // Batches exported for a courier go first, exactly as they were carried, so the hub gets
    // the same bytes under each number whichever way they arrive.
    let next = state(data_dir).next_seq;
    for (seq, qpath) in queued(data_dir) {
        if seq < next {
            let _ = std::fs::remove_file(&qpath);
            continue;
        }
        if seq == next
            && let Ok(b) = std::fs::read(&qpath)
            && batch::envelope(&b).is_ok()
        {
            crate::config::write_atomic(&path, &b)?;
            let _ = std::fs::remove_file(&qpath);
            return Ok(Some(b));
        }
        break;
    }
    let mut st = state(data_dir);
    if let Some(n) = st.reserve_outbox.take() {
        let from = st.resend_from.take().unwrap_or(n).min(n);
        let moved = store.outbox_continue_above(from, n)?;
        if moved > 0 {
            tracing::warn!(
                moved,
                above = n,
                "outbox entries the hub never receipted were renumbered above its mark (restored or re-enrolled box); they are sent next"
            );
        }
        st.acked_outbox = n;
        st.renumbered = moved;
        save_state(data_dir, &st)?;
    }
    let mut entries = store.outbox(st.acked_outbox, budget.batch_entries + 1)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let more = entries.len() > budget.batch_entries;
    entries.truncate(budget.batch_entries);
    let last = entries.last().expect("some").seq;
    let backlog = if more {
        store.outbox_count_after(last)?
    } else {
        0
    };
    let first = entries.first().expect("some").seq;
    let leaving: Vec<OutboxEntry> = entries
        .into_iter()
        .filter_map(|e| budget.privacy.apply(e))
        .collect();
    let now = jiff::Timestamp::now().to_string();
    let seq = queued(data_dir)
        .last()
        .map_or(st.next_seq, |(q, _)| (q + 1).max(st.next_seq));
    let bytes = batch::build_range(key, school, seq, (first, last), &leaving, backlog, &now);
    std::fs::create_dir_all(path.parent().expect("relay folder"))?;
    crate::config::write_atomic(&path, &bytes)?;
    Ok(Some(bytes))
}

pub(super) fn queue_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("relay").join("queue")
}

/// Batches exported for a courier and not yet acknowledged, by number.
pub(super) fn queued(data_dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(queue_dir(data_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let seq = name.strip_suffix(".batch")?.parse().ok()?;
            Some((seq, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// The hub's answer about one batch.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UploadStatus {
    pub offset: u64,
    pub stored: bool,
    #[serde(default)]
    pub receipt: Option<serde_json::Value>,
    /// Bytes this upload itself sent (0 when the hub already held the batch, e.g. from a USB
    /// stick): the link speed is measured from these only.
    #[serde(skip)]
    pub sent: u64,
}

/// The chunk size the link currently takes (see [`upload`]).
static CHUNK: AtomicUsize = AtomicUsize::new(64 * 1024);

/// Chunks the hub acknowledged (the loop backs off less while a flaky link still moves data).
static LANDED: AtomicUsize = AtomicUsize::new(0);

const MIN_CHUNK: usize = 8 * 1024;

/// The hub's offset for the batch being sent when last asked (see [`upload`]).
static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sends one batch, resuming from what the hub holds; returns the hub's receipt once stored.
async fn upload(
    c: &reqwest::Client,
    e: &Enrolment,
    bytes: &[u8],
    seq: u64,
    budget: &Budget,
) -> anyhow::Result<UploadStatus> {
    let url = format!("{}/relay/v1/batches/{}/{seq}", e.hub, e.school);
    let auth = format!("Bearer {}", e.secret);
    let total = bytes.len() as u64;
    let st: UploadStatus = checked(c.get(&url).header("authorization", &auth).send().await?)
        .await?
        .json()
        .await?;
    if st.stored {
        return Ok(st);
    }
    // The hub holds more than when last asked (the part of a chunk that arrived before a
    // cut): the link moves data, so the relay loop retries soon rather than backing off.
    if st.offset > 0 && HELD.swap(st.offset, Ordering::Relaxed) < st.offset {
        LANDED.fetch_add(1, Ordering::Relaxed);
    }
    let mut offset = st.offset.min(total);
    let mut sent_here = 0u64;
    // Chunk size grows while chunks land, up to about two seconds of the budget, so a good
    // link is used well. A cut does not cost the chunk: the hub keeps the part of it that
    // arrived and the next round resumes after it (district::routes::batch_append), so
    // there is nothing to gain from shrinking the chunk after a cut except more headers.
    let most = (budget.rate * 2).clamp(MIN_CHUNK as u64, 1 << 20) as usize;
    loop {
        let chunk = CHUNK.load(Ordering::Relaxed).clamp(MIN_CHUNK, most);
        let end = (offset as usize + chunk).min(bytes.len());
        let started = std::time::Instant::now();
        let sent = c
            .patch(&url)
            .header("authorization", &auth)
            .header("upload-offset", offset.to_string())
            .header("upload-length", total.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(bytes[offset as usize..end].to_vec())
            .send()
            .await;
        let r = sent?;
        if r.status() == reqwest::StatusCode::CONFLICT {
            // The hub holds a different amount (a chunk was lost on the way): continue from its.
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            match v["error"]["details"]["offset"].as_u64() {
                Some(o) => {
                    offset = o;
                    continue;
                }
                None => anyhow::bail!(
                    "{}",
                    v["error"]["message"]
                        .as_str()
                        .unwrap_or("the hub refused the batch")
                ),
            }
        }
        let mut st: UploadStatus = checked(r).await?.json().await?;
        CHUNK.store((chunk * 2).min(most), Ordering::Relaxed);
        LANDED.fetch_add(1, Ordering::Relaxed);
        sent_here += (end - offset as usize) as u64;
        st.sent = sent_here;
        // Keep to the budget: a chunk of n bytes takes at least n / rate seconds.
        let min = Duration::from_secs_f64((end - offset as usize) as f64 / budget.rate as f64);
        if let Some(wait) = min.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        if st.stored {
            return Ok(st);
        }
        offset = st.offset;
        if offset >= total {
            anyhow::bail!("the hub has the whole batch but did not store it");
        }
    }
}

pub(super) async fn checked(r: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status();
    let v: serde_json::Value = r.json().await.unwrap_or_default();
    anyhow::bail!(
        "hub answered {status}: {}",
        v["error"]["message"].as_str().unwrap_or("no reason given")
    )
}

/// One round: send every waiting batch the budget allows now. Returns how many were stored.
pub async fn send_pending(store: &Store, budget: &Budget) -> anyhow::Result<u64> {
    let dir = store.dir().to_path_buf();
    if crate::pki::identity::check(&dir) == crate::pki::identity::Check::Clone {
        anyhow::bail!(
            "this box's data was provisioned on other hardware (a copied disk?); it does not relay until the district enrols it again (tram relay enroll with a new token)"
        );
    }
    let e = match enrolment(&dir) {
        Some(e) => e,
        None => match pending(&dir) {
            // Provisioning named a hub that was not reachable then: enrol now.
            Some(p) => {
                let e = enrol(&dir, &p.hub, &p.token, p.pin_sha256.as_deref()).await?;
                let _ = std::fs::remove_file(pending_path(&dir));
                tracing::info!(hub = %e.hub, school = %e.school, "enrolled with the district hub");
                e
            }
            None => return Ok(0),
        },
    };
    let key = device_key(&dir)?;
    let c = client(e.pin_sha256.as_deref())?;
    ensure_held(&c, &e, &dir).await?;
    compare_held(store, &dir, &budget.privacy)?;
    let mut sent = 0;
    loop {
        let Some(bytes) = next_batch(store, &dir, &key, &e.school, budget)? else {
            return Ok(sent);
        };
        if !budget.allows(bytes.len() as u64, jiff::Timestamp::now()) {
            return Ok(sent);
        }
        let (env, _) = batch::envelope(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let t = std::time::Instant::now();
        let done = upload(&c, &e, &bytes, env.seq, budget).await?;
        // The hub's receipt is authoritative: if it holds a different batch under this number
        // (this box was restored from an older backup and numbered again), continue from what
        // the hub has, never from what this box believes it sent.
        let hub_last = done
            .receipt
            .as_ref()
            .and_then(|r| r["last"].as_u64())
            .unwrap_or(env.last);
        if hub_last != env.last {
            tracing::warn!(
                seq = env.seq,
                hub_last,
                mine = env.last,
                "the hub stored a different batch under this number; continuing from the hub's"
            );
        }
        let mut st = state(&dir);
        st.acked_outbox = hub_last;
        st.next_seq = env.seq + 1;
        st.batches_sent += 1;
        st.bytes_sent += bytes.len() as u64;
        st.raw_bytes += env.raw_len;
        st.last_success = Some(jiff::Timestamp::now().to_string());
        st.last_error = None;
        // Only what crossed the link counts: a batch the hub already had (it came on a USB
        // stick), or the last few bytes of one it mostly had, says nothing about the link.
        if done.sent >= 16 * 1024 {
            st.link_bps = Some(done.sent as f64 / t.elapsed().as_secs_f64().max(0.001));
        }
        save_state(&dir, &st)?;
        let _ = std::fs::remove_file(outgoing(&dir));
        sent += 1;
    }
}

/// The relay loop inside `tram serve`: sends whenever the outbox holds something and the hub is
/// enrolled; after a failure it waits with exponential backoff and jitter (2 s doubling to
/// 10 min).
/// How often the hub is asked for new downlink files (`TRAM_DOWNLINK_EVERY` seconds in tests).
static DOWNLINK_EVERY: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(
        std::env::var("TRAM_DOWNLINK_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
});

pub async fn run(store: Arc<Store>, budget: Budget) {
    // The time-stamps of signed học bạ travel the same link, on their own schedule.
    tokio::spawn(super::stamp::run(store.clone()));
    let dir = store.dir().to_path_buf();
    let mut failures = 0u32;
    let mut last_downlink: Option<std::time::Instant> = None;
    loop {
        let landed = LANDED.load(Ordering::Relaxed);
        let wait = match send_pending(&store, &budget).await {
            Ok(_) => {
                failures = 0;
                // The link is up: signatures waiting for a time-stamp can get one now.
                crate::gradebook::hocba::STAMP_WAKE.notify_one();
                // Then what the district sends down (update bundles), at most once a minute.
                if last_downlink.is_none_or(|t: std::time::Instant| t.elapsed() >= *DOWNLINK_EVERY)
                    && let Some(e) = enrolment(&dir)
                {
                    last_downlink = Some(std::time::Instant::now());
                    let r = match client(e.pin_sha256.as_deref()) {
                        Ok(c) => downlink::fetch(&store, &c, &e, &budget).await,
                        Err(err) => Err(err),
                    };
                    if let Err(err) = r {
                        tracing::warn!(error = %err, "fetching from the district failed; will retry");
                        last_downlink = None;
                    }
                }
                Duration::from_secs(5)
            }
            Err(err) => {
                // A link that drops but still carries data is retried soon; one that carries
                // nothing is left alone longer and longer.
                failures = if LANDED.load(Ordering::Relaxed) != landed {
                    1
                } else {
                    failures + 1
                };
                tracing::warn!(error = %err, failures, "relay to the district hub failed; will retry");
                let mut st = state(&dir);
                st.last_error = Some(err.to_string());
                st.last_error_at = Some(jiff::Timestamp::now().to_string());
                let _ = save_state(&dir, &st);
                let base = 2u64.saturating_pow(failures.min(9)).min(600);
                Duration::from_millis(base * 1000 / 2 + rand::random::<u64>() % (base * 500 + 1))
            }
        };
        tokio::time::sleep(wait).await;
    }
}
