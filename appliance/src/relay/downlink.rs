//! The downlink, school side: what the district hub publishes for every school — update bundles
//! and shared library items — is fetched within the relay's bandwidth budget, resuming a cut
//! download from the bytes already on disk, and checked (the file's BLAKE3) before use. A bundle
//! must also carry a signature from this box's own release key before it goes to the update
//! spool for tram-update.service; a library item joins the school's library (marked as from the
//! district, under an id made from its hash, so it is added once); the district's decision on an
//! item this school shared up is kept on the item (`library::vetting::record_district`).

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Budget, Enrolment, checked};

#[derive(Debug, Clone, Deserialize)]
struct Item {
    id: String,
    kind: String,
    name: String,
    version: String,
    arch: String,
    len: u64,
    #[serde(default)]
    meta: Option<serde_json::Value>,
}

/// What became of each published file (DATA_DIR/updates/downlink.json).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seen {
    /// id → what happened ("spooled 0.2.0", "refused: …", "not for this box (aarch64)").
    pub items: std::collections::BTreeMap<String, String>,
}

fn seen_path(d: &Path) -> PathBuf {
    d.join("updates").join("downlink.json")
}

pub fn seen(d: &Path) -> Seen {
    std::fs::read(seen_path(d))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn note(d: &Path, id: &str, what: String) -> std::io::Result<()> {
    let mut s = seen(d);
    tracing::info!(id, %what, "downlink");
    s.items.insert(id.to_string(), what);
    crate::config::write_atomic(&seen_path(d), &serde_json::to_vec_pretty(&s)?)
}

fn release_key() -> PathBuf {
    std::env::var_os("TRAM_RELEASE_KEY")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::config::DEFAULT_RELEASE_KEY.into())
}

/// One round: fetch and check everything new the hub offers. Returns how many were spooled.
pub async fn fetch(
    store: &std::sync::Arc<crate::store::Store>,
    c: &reqwest::Client,
    e: &Enrolment,
    budget: &Budget,
) -> anyhow::Result<usize> {
    let dir = store.dir();
    let auth = format!("Bearer {}", e.secret);
    let list: serde_json::Value = checked(
        c.get(format!("{}/relay/v1/downlink/{}", e.hub, e.school))
            .header("authorization", &auth)
            .send()
            .await?,
    )
    .await?
    .json()
    .await?;
    let items: Vec<Item> = serde_json::from_value(list["items"].clone()).unwrap_or_default();
    let done = seen(dir);
    let mut spooled = 0;
    for it in items {
        if done.items.contains_key(&it.id)
            || !["update", "library", "key-reset", "library-review"].contains(&it.kind.as_str())
        {
            continue;
        }
        if it.kind == "library-review" {
            let what = match it.meta.as_ref() {
                Some(m) if m["school"].as_str() != Some(e.school.as_str()) => {
                    "not for this school".to_string()
                }
                Some(m) => {
                    let (store, m) = (store.clone(), m.clone());
                    match tokio::task::spawn_blocking(move || apply_district_review(&store, &m))
                        .await?
                    {
                        Ok(what) => what,
                        Err(err) => {
                            // Not noted: the next round tries again.
                            tracing::warn!(error = %err, "district decision not stored yet");
                            continue;
                        }
                    }
                }
                None => "refused: a district decision without its content".to_string(),
            };
            note(dir, &it.id, what)?;
            continue;
        }
        if it.kind == "key-reset" {
            let what = match it.meta.as_ref() {
                Some(m) if m["school"].as_str() != Some(e.school.as_str()) => {
                    "not for this school".to_string()
                }
                Some(m) => {
                    let (store, m) = (store.clone(), m.clone());
                    tokio::task::spawn_blocking(move || apply_key_reset(&store, &m)).await?
                }
                None => "refused: a key reset without its order".to_string(),
            };
            note(dir, &it.id, what)?;
            continue;
        }
        if it.kind == "update" && it.arch != std::env::consts::ARCH {
            note(dir, &it.id, format!("not for this box ({})", it.arch))?;
            continue;
        }
        if !crate::store::blob::is_blob_id(&it.id) {
            continue;
        }
        if !budget.allows(it.len, jiff::Timestamp::now()) {
            continue;
        }
        let incoming = dir.join("updates").join("incoming");
        std::fs::create_dir_all(&incoming)?;
        let part = incoming.join(format!("{}.part", it.id));
        download(
            c,
            &auth,
            &format!("{}/relay/v1/downlink/{}/{}", e.hub, e.school, it.id),
            &part,
            it.len,
            budget,
        )
        .await?;
        let bytes_ok = {
            let mut h = blake3::Hasher::new();
            h.update_reader(std::fs::File::open(&part)?)?;
            h.finalize().to_hex().as_str() == it.id
        };
        if !bytes_ok {
            // Damaged in transit: start again next round.
            std::fs::remove_file(&part)?;
            anyhow::bail!(
                "the downloaded {} did not match its hash; fetching it again",
                it.name
            );
        }
        if it.kind == "library" {
            // Hashing and storing a video is seconds of blocking work: off the async threads.
            let added = {
                let (store, it, part) = (store.clone(), it.clone(), part.clone());
                tokio::task::spawn_blocking(move || add_to_library(&store, &it, &part)).await?
            };
            let what = match added {
                Ok(title) => {
                    spooled += 1;
                    format!("added to the library: {title}")
                }
                Err(err) => format!("refused {}: {err}", it.name),
            };
            let _ = std::fs::remove_file(&part);
            note(dir, &it.id, what)?;
            continue;
        }
        let staging = incoming.join(format!(".check-{}", it.id));
        let verdict = crate::pki::bundle::load_public_key(&release_key())
            .and_then(|k| crate::pki::bundle::verify(&part, &k, &staging));
        let _ = std::fs::remove_dir_all(&staging);
        match verdict {
            Ok(v) => {
                let spool = dir.join("updates").join("spool");
                std::fs::create_dir_all(&spool)?;
                std::fs::rename(
                    &part,
                    spool.join(format!(
                        "tram-{}-{}.bundle",
                        v.manifest.version, v.manifest.arch
                    )),
                )?;
                note(dir, &it.id, format!("spooled {}", v.manifest.version))?;
                spooled += 1;
            }
            Err(err) => {
                std::fs::remove_file(&part)?;
                tracing::warn!(name = %it.name, error = %err, "update from the district refused");
                note(
                    dir,
                    &it.id,
                    format!("refused {} {}: {err}", it.name, it.version),
                )?;
            }
        }
    }
    Ok(spooled)
}

/// A key reset ordered by the district: applied only to the school's sole BGH member in office
/// (where another BGH member exists, that person resets it), recorded as the district's.
fn apply_key_reset(store: &crate::store::Store, order: &serde_json::Value) -> String {
    let account = order["account"].as_str().unwrap_or_default().to_string();
    let reason = order["reason"].as_str().unwrap_or_default().to_string();
    let actor = crate::store::Actor {
        id: "district".into(),
        now: jiff::Timestamp::now(),
    };
    let r = store.write(&actor, |tx| -> anyhow::Result<String> {
        let accounts = tx.scan(&crate::auth::ACCOUNTS, "")?;
        let in_office: Vec<String> = accounts
            .iter()
            .filter(|(_, a)| a.is_bgh() && !a.disabled)
            .map(|(id, _)| id.clone())
            .collect();
        if !in_office.contains(&account) {
            anyhow::bail!("refused: {account} is not a BGH member of this school");
        }
        if in_office.len() > 1 {
            anyhow::bail!(
                "refused: this school has {} BGH members; another of them resets the key",
                in_office.len()
            );
        }
        match crate::lessons::sign::reset(tx, &account)? {
            Some(_) => {
                tx.event(
                    "lessons.key.reset.district",
                    &format!("lessons.keys.v1/{account}"),
                    Some(serde_json::json!({ "reason": reason })),
                );
                Ok(format!(
                    "signing key of {account} reset by the district: {reason}"
                ))
            }
            None => anyhow::bail!("refused: {account} has no signing key"),
        }
    });
    match r {
        Ok(m) => {
            tracing::warn!("{m}");
            m
        }
        Err(m) => m.to_string(),
    }
}

/// The district's decision on an item this school shared with it: kept on the item (its page
/// and the lists say it) and audited, recorded as the district's doing.
/// Err: the store failed (tried again next round).
fn apply_district_review(
    store: &crate::store::Store,
    m: &serde_json::Value,
) -> Result<String, crate::store::StoreError> {
    use crate::library::vetting::{DistrictReview, record_district};
    let (Some(item), Some(digest), Some(approved), Some(at)) = (
        m["item"].as_str(),
        m["digest"].as_str(),
        m["approved"].as_bool(),
        m["at"].as_str(),
    ) else {
        return Ok("refused: a district decision without its item, digest or time".into());
    };
    let decision = DistrictReview {
        approved,
        reason: m["reason"].as_str().map(str::to_string),
        at: at.to_string(),
        digest: digest.to_string(),
    };
    let actor = crate::store::Actor {
        id: "district".into(),
        now: jiff::Timestamp::now(),
    };
    store.write(&actor, |tx| record_district(tx, item, decision))
}

/// GET with Range from what `part` already holds, appending (fsynced per chunk), no faster
/// than the budget.
async fn download(
    c: &reqwest::Client,
    auth: &str,
    url: &str,
    part: &Path,
    len: u64,
    budget: &Budget,
) -> anyhow::Result<()> {
    let have = std::fs::metadata(part).map_or(0, |m| m.len());
    if have >= len {
        return Ok(());
    }
    let r = checked(
        c.get(url)
            .header("authorization", auth)
            .header("range", format!("bytes={have}-"))
            .send()
            .await?,
    )
    .await?;
    let from = if r.status() == reqwest::StatusCode::PARTIAL_CONTENT {
        have
    } else {
        0
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(from > 0)
        .write(true)
        .truncate(from == 0)
        .open(part)?;
    let started = std::time::Instant::now();
    let mut got = 0u64;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        f.write_all(&chunk)?;
        f.sync_data()?;
        got += chunk.len() as u64;
        // Stay inside the budget: sleep off any lead over rate × elapsed.
        let ahead = got as f64 / budget.rate.max(1) as f64 - started.elapsed().as_secs_f64();
        if ahead > 0.0 {
            tokio::time::sleep(std::time::Duration::from_secs_f64(ahead)).await;
        }
    }
    Ok(())
}

/// A shared item from the district joins the school's library (checked like an upload: its name
/// and its bytes must agree on the type).
fn add_to_library(store: &crate::store::Store, it: &Item, part: &Path) -> Result<String, String> {
    use crate::library::{self, FileRef, ItemKind, Visibility};
    let meta: super::wire::SharedItem = it
        .meta
        .clone()
        .and_then(|m| serde_json::from_value(m).ok())
        .ok_or("no catalogue entry came with it")?;
    let name = library::upload::check_name(&meta.file_name).map_err(|e| e.to_string())?;
    let mime = library::upload::check_file(&name, part).map_err(|e| e.to_string())?;
    let (blob, size) = store
        .blobs
        .put(std::fs::File::open(part).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now();
    let id = format!("li-d{}", &it.id[..16]);
    let mut item = library::Item::new(
        id.clone(),
        meta.kind,
        &meta.title,
        "district",
        &now.to_string(),
    );
    item.subject = meta.subject;
    item.grade = meta.grade;
    item.description = meta.description;
    item.from_district = true;
    item.visibility = Visibility::School;
    item.collections = vec!["Kho học liệu dùng chung".into()];
    item.file = Some(FileRef {
        blob,
        size,
        mime: mime.to_string(),
        name,
    });
    if item.kind == ItemKind::Book {
        item.kind = ItemKind::Ebook;
    }
    store
        .write(&crate::store::Actor::system(now), |tx| {
            if tx.get(&library::ITEMS, &id)?.is_none() {
                library::store_new(tx, &item)?;
            }
            Ok::<_, crate::store::StoreError>(())
        })
        .map_err(|e| e.to_string())?;
    Ok(meta.title)
}
