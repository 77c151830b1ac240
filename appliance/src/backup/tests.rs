use super::*;
use crate::app::schema::{SCHEMA_VERSION, schema};
use crate::store::Actor;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Store,
    key: BackupKey,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let store = Store::open(&root.join("data"), &schema()).unwrap();
    let key = BackupKey::load_or_create(store.dir()).unwrap();
    write_event(&store, "first");
    store
        .blobs
        .put(&b"Sach giao khoa Toan 6 "[..].repeat(5000)[..])
        .unwrap();
    store.blobs.put(&random_bytes(300_000)[..]).unwrap();
    Fixture {
        _dir: dir,
        root,
        store,
        key,
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

fn write_event(store: &Store, what: &str) {
    store
        .write(&Actor::system(Timestamp::now()), |tx| {
            tx.event("test.event", what, None);
            Ok::<_, StoreError>(())
        })
        .unwrap();
}

fn opts() -> Options {
    Options {
        kind: Kind::Manual,
        retention: Retention::default(),
        create_target: true,
        verify: true,
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn backup_restore_round_trip_and_second_run_writes_nothing_new() {
    let f = fixture();
    let target = f.root.join("usb");
    let r1 = run(
        &f.store,
        &f.key,
        &target,
        &opts(),
        at("2026-11-20T18:30:00Z"),
    )
    .unwrap();
    assert!(r1.database_changed);
    assert_eq!(r1.blobs, 2);
    assert_eq!(
        r1.new_objects, 5,
        "database, device files, settings and two blobs"
    );
    let v = r1.verified.as_ref().unwrap();
    assert_eq!(v.audit_events, 1);

    let r2 = run(
        &f.store,
        &f.key,
        &target,
        &opts(),
        at("2026-11-21T18:30:00Z"),
    )
    .unwrap();
    assert!(!r2.database_changed);
    assert_eq!(r2.new_objects, 0);
    assert_eq!(r2.new_bytes, 0);

    // A change: only the database and the new file are written.
    write_event(&f.store, "second");
    f.store.blobs.put(&b"bai giang moi"[..]).unwrap();
    let r3 = run(
        &f.store,
        &f.key,
        &target,
        &opts(),
        at("2026-11-22T18:30:00Z"),
    )
    .unwrap();
    assert!(r3.database_changed);
    assert_eq!(r3.new_objects, 2);

    let rep = verify(
        &target,
        Some(&f.key),
        Which::All,
        &f.root.join("scratch"),
        None,
        &schema(),
    )
    .unwrap();
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!(rep.backups, 3);
    assert_eq!(rep.restored.len(), 3);

    // Restore the newest into a fresh folder: the store opens, the chain and the files are back.
    let dest = f.root.join("new-box");
    let c = restore(&target, &f.key, &dest, None, None, &schema()).unwrap();
    assert_eq!(c.audit_events, 2);
    let back = Store::open(&dest, &schema()).unwrap();
    assert!(back.verify_audit().unwrap().is_intact());
    assert_eq!(back.blobs.list().unwrap(), f.store.blobs.list().unwrap());
    assert!(
        BackupKey::load(&dest).unwrap().is_some(),
        "the key comes back with the box"
    );
    // An older backup by id.
    let dest1 = f.root.join("as-of-r1");
    let c1 = restore(&target, &f.key, &dest1, Some(&r1.id), None, &schema()).unwrap();
    assert_eq!(c1.audit_events, 1);
    assert_eq!(
        Store::open(&dest1, &schema())
            .unwrap()
            .blobs
            .list()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn any_changed_byte_fails_verify_even_without_the_key() {
    let f = fixture();
    let target = f.root.join("t");
    run(&f.store, &f.key, &target, &opts(), Timestamp::now()).unwrap();
    let mut files = Vec::new();
    for sub in ["objects", "backups"] {
        for e in walk(&target.join(sub)) {
            files.push(e);
        }
    }
    files.push(target.join("target.json"));
    assert!(files.len() >= 6);
    for p in files {
        let orig = fs::read(&p).unwrap();
        for pos in [0, orig.len() / 2, orig.len() - 1] {
            let mut b = orig.clone();
            b[pos] ^= 0x01;
            fs::write(&p, &b).unwrap();
            let keyless = verify(
                &target,
                None,
                Which::Newest,
                &f.root.join("s"),
                None,
                &schema(),
            );
            assert!(
                keyless.map(|r| !r.problems.is_empty()).unwrap_or(true),
                "keyless verify missed a flipped byte at {pos} in {}",
                p.display()
            );
            let keyed = verify(
                &target,
                Some(&f.key),
                Which::Newest,
                &f.root.join("s"),
                None,
                &schema(),
            );
            assert!(
                keyed.map(|r| !r.problems.is_empty()).unwrap_or(true),
                "verify missed a flipped byte at {pos} in {}",
                p.display()
            );
        }
        // Truncation too.
        fs::write(&p, &orig[..orig.len() - 1]).unwrap();
        assert!(
            verify(
                &target,
                None,
                Which::Newest,
                &f.root.join("s"),
                None,
                &schema()
            )
            .map(|r| !r.problems.is_empty())
            .unwrap_or(true)
        );
        fs::write(&p, &orig).unwrap();
    }
    let ok = verify(
        &target,
        Some(&f.key),
        Which::Newest,
        &f.root.join("s"),
        None,
        &schema(),
    )
    .unwrap();
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(p).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn wrong_key_damaged_backup_and_non_empty_destination_are_refused_without_changes() {
    let f = fixture();
    let target = f.root.join("t");
    run(&f.store, &f.key, &target, &opts(), Timestamp::now()).unwrap();
    let other = BackupKey::generate();
    let dest = f.root.join("dest");
    assert!(matches!(
        restore(&target, &other, &dest, None, None, &schema()),
        Err(BackupError::WrongKey | BackupError::OtherKey { .. })
    ));
    assert!(!dest.exists());
    // Another key cannot write into this target either.
    assert!(matches!(
        run(&f.store, &other, &target, &opts(), Timestamp::now()),
        Err(BackupError::WrongKey | BackupError::OtherKey { .. })
    ));
    // A non-empty destination is left alone.
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("notes.txt"), "keep me").unwrap();
    assert!(matches!(
        restore(&target, &f.key, &dest, None, None, &schema()),
        Err(BackupError::NotEmpty(_))
    ));
    assert_eq!(
        fs::read_to_string(dest.join("notes.txt")).unwrap(),
        "keep me"
    );
    // A damaged database object: the restore fails and leaves no half-restored folder behind.
    // (A damaged file object is restored around: `tests/backup.rs`.)
    let db = list(&target, Some(&f.key))
        .unwrap()
        .pop()
        .unwrap()
        .database
        .object;
    let obj = target.join("objects").join(&db[..2]).join(&db[2..]);
    let mut b = fs::read(&obj).unwrap();
    let n = b.len();
    b[n / 2] ^= 0xff;
    fs::write(&obj, &b).unwrap();
    let dest2 = f.root.join("dest2");
    assert!(matches!(
        restore(&target, &f.key, &dest2, None, None, &schema()),
        Err(BackupError::Corrupt(_))
    ));
    assert!(!dest2.exists());
    let leftovers: Vec<_> = fs::read_dir(&f.root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_backup_from_a_newer_schema_is_refused() {
    let f = fixture();
    let target = f.root.join("t");
    run(&f.store, &f.key, &target, &opts(), Timestamp::now()).unwrap();
    // Rewrite the manifest as a newer build would (valid checksum and MAC).
    let mp = walk(&target.join("backups")).pop().unwrap();
    let bytes = fs::read(&mp).unwrap();
    let json = unseal(&bytes, Some(&f.key)).unwrap();
    let mut m: Manifest = serde_json::from_slice(json).unwrap();
    m.schema_version = SCHEMA_VERSION + 1;
    fs::write(&mp, seal(&serde_json::to_vec(&m).unwrap(), &f.key)).unwrap();
    let dest = f.root.join("dest");
    let e = restore(&target, &f.key, &dest, None, None, &schema()).unwrap_err();
    assert!(matches!(e, BackupError::NewerSchema { .. }), "{e}");
    assert!(e.to_string().contains("update Trạm first"));
    assert!(!dest.exists());
}

#[test]
fn retention_prunes_old_backups_but_never_a_file_a_kept_backup_needs() {
    let f = fixture();
    let target = f.root.join("t");
    let o = Options {
        retention: Retention {
            daily: 2,
            weekly: 0,
            monthly: 0,
            pre_update: 1,
        },
        verify: false,
        ..opts()
    };
    let days = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"];
    for (i, d) in days.iter().enumerate() {
        if i == 1 {
            // A file that only the second backup holds: it must go when that backup goes.
            f.store.blobs.put(&b"tam thoi"[..]).unwrap();
        }
        if i == 2 {
            let id = blake3::hash(b"tam thoi").to_hex().to_string();
            fs::remove_file(f.store.blobs.path_of(&id).unwrap()).unwrap();
        }
        write_event(&f.store, d);
        run(&f.store, &f.key, &target, &o, at(&format!("{d}T18:30:00Z"))).unwrap();
    }
    let kept = list(&target, Some(&f.key)).unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept[0].id.starts_with("20261103") && kept[1].id.starts_with("20261104"));
    // The first blobs, shared by all backups, are still there; every kept backup verifies.
    let rep = verify(
        &target,
        Some(&f.key),
        Which::All,
        &f.root.join("s"),
        None,
        &schema(),
    )
    .unwrap();
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!(rep.restored.len(), 2);
    let objects = walk(&target.join("objects")).len();
    let referenced: BTreeSet<String> = kept
        .iter()
        .flat_map(|m| m.objects().map(|o| o.object.clone()))
        .collect();
    assert_eq!(objects, referenced.len(), "unreferenced objects are swept");
}

#[test]
fn an_interrupted_run_leaves_earlier_backups_intact_and_the_next_completes() {
    let f = fixture();
    let target = f.root.join("t");
    run(
        &f.store,
        &f.key,
        &target,
        &opts(),
        at("2026-11-20T18:30:00Z"),
    )
    .unwrap();
    // Simulate a run killed after writing objects but before its manifest: stray temp files
    // and an unindexed object.
    fs::write(target.join("tmp").join("half-written"), b"partial").unwrap();
    f.store.blobs.put(&random_bytes(50_000)[..]).unwrap();
    let tgt = Target {
        root: target.clone(),
        _lock: None,
    };
    let id = f.store.blobs.list().unwrap().into_iter().find(|id| {
        !list(&target, Some(&f.key)).unwrap()[0]
            .blobs
            .iter()
            .any(|o| {
                o.object
                    == f.key
                        .object_name("blob", &hex::decode(id).unwrap().try_into().unwrap())
            })
    });
    let id = id.unwrap();
    let name = f
        .key
        .object_name("blob", &hex::decode(&id).unwrap().try_into().unwrap());
    tgt.write_object(
        &f.key,
        &name,
        File::open(f.store.blobs.path_of(&id).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(list(&target, Some(&f.key)).unwrap().len(), 1);
    let r = run(
        &f.store,
        &f.key,
        &target,
        &opts(),
        at("2026-11-21T18:30:00Z"),
    )
    .unwrap();
    assert!(r.verified.is_some());
    assert!(!target.join("tmp").join("half-written").exists());
    let rep = verify(
        &target,
        Some(&f.key),
        Which::All,
        &f.root.join("s"),
        None,
        &schema(),
    )
    .unwrap();
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!(rep.backups, 2);
}

#[test]
fn a_damaged_file_in_the_data_directory_is_reported_not_backed_up() {
    let f = fixture();
    let id = f.store.blobs.list().unwrap()[0].clone();
    let p = f.store.blobs.path_of(&id).unwrap();
    let mut b = fs::read(&p).unwrap();
    b[0] ^= 1;
    fs::write(&p, &b).unwrap();
    let e = run(
        &f.store,
        &f.key,
        &f.root.join("t"),
        &opts(),
        Timestamp::now(),
    )
    .unwrap_err();
    assert!(matches!(e, BackupError::Source(_)), "{e}");
    assert!(list(&f.root.join("t"), Some(&f.key)).unwrap().is_empty());
}

#[test]
fn the_key_file_is_a_standard_age_identity_and_bad_keys_are_named() {
    let k = BackupKey::generate();
    let text = k.file_text();
    assert!(text.contains("AGE-SECRET-KEY-1"));
    assert!(text.contains(&k.recipient()));
    let back = BackupKey::parse(&text).unwrap();
    assert_eq!(back.recipient(), k.recipient());
    assert!(matches!(
        BackupKey::parse("hello"),
        Err(BackupError::Key(_))
    ));
    assert!(matches!(
        BackupKey::parse("# only a comment\n"),
        Err(BackupError::Key(_))
    ));
}

#[test]
fn a_disk_that_fills_up_mid_write_is_reported_as_full() {
    // /dev/full answers every write with ENOSPC, like a USB disk that fills during a backup.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let e = ctx(
        f.write_all(&[0u8; 4096]).and_then(|_| f.sync_all()),
        Path::new("/media/usb"),
        "writing",
    )
    .unwrap_err();
    assert!(matches!(e, BackupError::DiskFull(_)), "{e}");
    assert!(e.to_string().contains("earlier backups are intact"));
}

#[test]
fn a_target_written_before_chains_still_verifies_and_restores() {
    let f = fixture();
    let target = f.root.join("t");
    run(&f.store, &f.key, &target, &opts(), Timestamp::now()).unwrap();
    // Make it look as the previous version wrote it: one descriptor, and manifests with no
    // predecessor, settings or index.
    fs::remove_file(target.join("target.json.bak")).unwrap();
    let mp = walk(&target.join("backups")).pop().unwrap();
    let bytes = fs::read(&mp).unwrap();
    let mut m: serde_json::Value =
        serde_json::from_slice(unseal(&bytes, Some(&f.key)).unwrap()).unwrap();
    for field in ["previous", "settings", "index"] {
        m.as_object_mut().unwrap().remove(field);
    }
    fs::write(&mp, seal(&serde_json::to_vec(&m).unwrap(), &f.key)).unwrap();
    let id = m["id"].as_str().unwrap().to_string();

    let keyless = verify(
        &target,
        None,
        Which::Newest,
        &f.root.join("s"),
        None,
        &schema(),
    )
    .unwrap();
    assert!(keyless.problems.is_empty(), "{:?}", keyless.problems);
    let rep = verify(
        &target,
        Some(&f.key),
        Which::All,
        &f.root.join("s"),
        None,
        &schema(),
    )
    .unwrap();
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
    assert_eq!(rep.restored.len(), 1);
    assert!(
        rep.notes
            .iter()
            .any(|n| n.contains(&format!("chain of backups starts at {id}"))),
        "{:?}",
        rep.notes
    );
    let c = restore(&target, &f.key, &f.root.join("dest"), None, None, &schema()).unwrap();
    assert_eq!(c.redo, vec![settings::Redo::Settings]);
    // The next backup continues the chain from it.
    run(&f.store, &f.key, &target, &opts(), Timestamp::now()).unwrap();
    assert!(target.join("target.json.bak").exists());
    let rep = verify(
        &target,
        Some(&f.key),
        Which::All,
        &f.root.join("s"),
        None,
        &schema(),
    )
    .unwrap();
    assert!(rep.problems.is_empty(), "{:?}", rep.problems);
}

#[test]
fn restore_takes_the_newest_complete_backup_and_names_the_incomplete_newer_one() {
    let f = fixture();
    let target = f.root.join("t");
    let keep = Options {
        kind: Kind::PreUpdate,
        ..opts()
    };
    let first = run(&f.store, &f.key, &target, &keep, Timestamp::now()).unwrap();
    write_event(&f.store, "second");
    let second = run(&f.store, &f.key, &target, &keep, Timestamp::now()).unwrap();
    assert!(second.database_changed);
    // Only the newer backup's database is lost.
    let m = Target::open_read(&target)
        .unwrap()
        .readable_manifests(Some(&f.key))
        .into_iter()
        .find(|m| m.id == second.id)
        .unwrap();
    fs::remove_file(
        target
            .join("objects")
            .join(&m.database.object[..2])
            .join(&m.database.object[2..]),
    )
    .unwrap();
    let c = restore(&target, &f.key, &f.root.join("dest"), None, None, &schema()).unwrap();
    assert_eq!(c.id, first.id);
    assert!(
        c.notes.iter().any(|n| n.contains(&format!(
            "backup {} is incomplete and was skipped",
            second.id
        ))),
        "{:?}",
        c.notes
    );
}

/// "Sao lưu ngay" at 10:00 the morning after the 01:30 nightly: both are verified and on the
/// target afterwards. Before, the manual backup was the newest of that day, week and month, so
/// retention deleted the verified nightly one.
#[test]
fn a_manual_backup_the_same_day_never_prunes_the_nightly_one() {
    let f = fixture();
    let target = f.root.join("t");
    let nightly = Options {
        kind: Kind::Nightly,
        ..opts()
    };
    // 01:30 and 10:00 on 21 November, Vietnam time.
    let night = run(
        &f.store,
        &f.key,
        &target,
        &nightly,
        at("2026-11-20T18:30:00Z"),
    )
    .unwrap();
    assert!(night.verified.is_some());
    write_event(&f.store, "after the night");
    let manual = run(
        &f.store,
        &f.key,
        &target,
        &opts(),
        at("2026-11-21T03:00:00Z"),
    )
    .unwrap();
    assert!(manual.verified.is_some());
    assert_eq!(manual.pruned_backups, 0);
    let kept: Vec<String> = list(&target, Some(&f.key))
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(kept, [night.id.clone(), manual.id.clone()]);
    // A second manual backup that day supersedes the first manual one, never the nightly.
    write_event(&f.store, "later that morning");
    let again = run(
        &f.store,
        &f.key,
        &target,
        &opts(),
        at("2026-11-21T04:00:00Z"),
    )
    .unwrap();
    let kept: Vec<String> = list(&target, Some(&f.key))
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(kept, [night.id, again.id]);
}
