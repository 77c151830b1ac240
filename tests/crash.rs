//! Power-cut safety: SIGKILL the real server in the middle of a burst of writes, restart it,
//! and find every acknowledged write (and an intact audit chain). Repeated several times here;
//! the 50-round fault run is `bench/fault.sh`. At the end a backup of the survivor is restored
//! onto a new data directory and must hold every acknowledged write too.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Server;
use serde_json::{Value, json};

fn burst_then_kill(s: &mut Server, round: usize, acked: &Arc<Mutex<Vec<String>>>) {
    let base = s.base();
    let clients: Vec<_> = (0..4).map(|_| s.login("admin")).collect();
    let classes: Value = clients[0]
        .get(format!("{base}/api/v1/classes"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let class_id = common::first_class_this_year(&classes)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut handles = vec![];
    for (w, c) in clients.into_iter().enumerate() {
        let (base, class_id, acked) = (base.clone(), class_id.clone(), acked.clone());
        handles.push(std::thread::spawn(move || {
            for i in 0..10_000 {
                // Province digits carry the round; "214": a boy born in 2014, as the record says.
                let ma = format!("0{round:02}214{w:01}{i:05}");
                let r = c
                    .post(format!("{base}/api/v1/students"))
                    .json(
                        &json!({"full_name": format!("Học Sinh {w} {i}"), "dob": "2014-05-01",
                                  "gender": "Nam", "ma_dinh_danh": ma, "class_id": class_id}),
                    )
                    .send();
                match r {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push(ma),
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    Err(_) => return, // the server died under us: this write was never acknowledged
                }
            }
        }));
    }
    // let the burst run for a varying while, then pull the plug
    std::thread::sleep(Duration::from_millis(rand::random_range(150..1000)));
    s.kill();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    // bench/fault.sh sets 50.
    let rounds: usize = std::env::var("TRAM_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    for round in 0..rounds {
        let mut s = Server::start(dir.path(), false);
        burst_then_kill(&mut s, round, &acked);
    }
    let s = Server::start(dir.path(), false);
    let c = s.login("admin");
    let all: Value = c
        .get(format!("{}/api/v1/students", s.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let have: std::collections::HashSet<String> = all["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ma_dinh_danh"].as_str().unwrap().to_string())
        .collect();
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() > 50,
        "the burst made progress ({} writes)",
        acked.len()
    );
    let missing: Vec<_> = acked.iter().filter(|m| !have.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    drop(s);
    let out = common::tram(&[
        "audit",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A backup taken after the power cuts restores every acknowledged write on a new box.
    let target = tempfile::tempdir().unwrap();
    let t = target.path().join("b");
    let out = common::tram(&[
        "backup",
        "now",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--to",
        t.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_box = target.path().join("new-box");
    let key = dir.path().join("keys/backup.key");
    let out = common::tram(&[
        "restore",
        "--from",
        t.to_str().unwrap(),
        "--data-dir",
        new_box.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s2 = Server::start(&new_box, false);
    let all: Value = s2
        .login("admin")
        .get(format!("{}/api/v1/students", s2.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let restored: std::collections::HashSet<String> = all["students"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ma_dinh_danh"].as_str().unwrap().to_string())
        .collect();
    let lost = acked.iter().filter(|m| !restored.contains(*m)).count();
    assert_eq!(lost, 0, "acknowledged writes missing from the restored box");
}
