//! The department records' schema steps, handed to the store through `app::schema`.

use crate::store::{Migration, MigrationTx, StoreError, migrate::corrupt};

/// Schema 10: what each lesson plan's link to a Phụ lục III line pointed at
/// (`dept.links.v1`, [`super::LinkTarget`]), so a link follows its lesson instead of the line
/// number (review r14 #4b). Earlier versions recorded no PL III version with a link: the one
/// approved when this step runs stands for it (the line as it reads now).
pub const LINK_TARGETS: Migration = Migration {
    to: 10,
    name: "lesson-plan links: the lesson each points at",
    run: link_targets,
};

fn link_targets(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let mut plans = std::collections::HashMap::new();
    for (k, v) in tx.rows(super::PLANS.name)? {
        let p: super::Plan =
            serde_json::from_slice(&v).map_err(|e| corrupt(super::PLANS.name, &k, e))?;
        plans.insert(k, p);
    }
    let mut wanted = Vec::new();
    for (k, v) in tx.rows(crate::lessons::PLANS.name)? {
        let lesson: crate::lessons::Plan =
            serde_json::from_slice(&v).map_err(|e| corrupt(crate::lessons::PLANS.name, &k, e))?;
        let Some(line) = lesson.plan_line else {
            continue;
        };
        let Some((id, n)) = line.split_once('#') else {
            continue;
        };
        if let (Some(version), Ok(n)) = (
            plans.get(id).and_then(|p| p.approved_version),
            n.parse::<usize>(),
        ) {
            wanted.push((k, super::key(id, version), version, n, line.clone()));
        }
    }
    let keys: std::collections::HashSet<&str> = wanted.iter().map(|w| w.1.as_str()).collect();
    let mut versions = std::collections::HashMap::new();
    for (k, v) in tx.rows(super::PLAN_VERSIONS.name)? {
        if keys.contains(k.as_str()) {
            let pv: super::PlanVersion = serde_json::from_slice(&v)
                .map_err(|e| corrupt(super::PLAN_VERSIONS.name, &k, e))?;
            versions.insert(k, pv);
        }
    }
    let mut entries = Vec::new();
    for (lesson, vk, version, n, line) in &wanted {
        if let Some(l) = versions
            .get(vk)
            .and_then(|pv| pv.lines.get(n.checked_sub(1)?))
        {
            let t = super::LinkTarget::of(line, *version, l);
            entries.push((
                lesson.clone(),
                serde_json::to_vec(&t).expect("a link target serialises"),
            ));
        }
    }
    let n = entries.len();
    tx.insert(super::LINKS.name, entries)?;
    Ok(format!(
        "{n} lesson-plan links given the lesson they point at"
    ))
}

#[cfg(test)]
mod tests {
    //! This step's tests, over the whole schema of this build (`app::schema`).
    use crate::app::schema::{SCHEMA_VERSION, schema};
    use crate::store::Store;
    use redb::TableDefinition;
    use serde_json::json;

    fn put(w: &redb::WriteTransaction, table: &str, key: &str, v: serde_json::Value) {
        let mut t = w
            .open_table(TableDefinition::<&str, &[u8]>::new(table))
            .unwrap();
        t.insert(key, serde_json::to_vec(&v).unwrap().as_slice())
            .unwrap();
    }

    /// A schema-9 school with a lesson plan linked to line 2 of an approved Phụ lục III: the
    /// step records that line's lesson with the approved version, and the link holds; a link
    /// to a line the plan does not have gets no record (it is broken either way).
    #[test]
    fn schema_9_links_get_the_lesson_they_point_at() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), &schema()).unwrap();
        crate::demo::seed(&s, "x", 10, jiff::Timestamp::now()).unwrap();
        let lessons: Vec<crate::lessons::Plan> = s
            .read()
            .unwrap()
            .scan(&crate::lessons::PLANS, "")
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let (a, b) = (lessons[0].clone(), lessons[1].clone());
        drop(s);
        crate::store::migrate::old_database(dir.path(), 9, |w| {
            w.delete_table(TableDefinition::<&str, &[u8]>::new(
                super::super::LINKS.name,
            ))
            .unwrap();
            let line = |t: &str, p: u16| {
                json!({"topic": t, "requirement": "", "periods": p, "when": "Tuần 1",
                       "equipment": "", "place": "", "lead": "", "partners": "", "conditions": ""})
            };
            put(
                w,
                super::super::PLANS.name,
                "pl3-old",
                json!({"id": "pl3-old", "kind": "pl3", "author": a.teacher, "author_name": "GV",
                       "year": "2026-2027", "department": "d", "subject": a.subject,
                       "grade": a.grade, "class": "c", "title": "", "state": "approved",
                       "version": 2, "approved_version": 2, "returned": null,
                       "updated_at": "2026-10-01T00:00:00Z"}),
            );
            put(
                w,
                super::super::PLAN_VERSIONS.name,
                "pl3-old/0002",
                json!({"plan": "pl3-old", "number": 2, "kind": "pl3", "author": a.teacher,
                       "year": "2026-2027", "department": "d", "subject": a.subject,
                       "grade": a.grade, "class": "c", "title": "",
                       "lines": [line("Chương 1. Số", 70), line("Chương 2. Chất", 70)],
                       "state": "approved", "created_at": "2026-10-01T00:00:00Z",
                       "updated_at": "2026-10-01T00:00:00Z", "digest": null,
                       "signatures": [], "returned": null}),
            );
            for (l, n) in [(&a, 2), (&b, 9)] {
                let mut v = serde_json::to_value(l).unwrap();
                v["plan_line"] = json!(format!("pl3-old#{n}"));
                put(w, crate::lessons::PLANS.name, &l.id, v);
            }
        });
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let rx = s.read().unwrap();
        let got = rx.get(&super::super::LINKS, &a.id).unwrap();
        assert_eq!(
            got,
            Some(super::super::LinkTarget {
                line: "pl3-old#2".into(),
                version: 2,
                topic: "Chương 2. Chất".into(),
                periods: 70,
            })
        );
        assert_eq!(rx.get(&super::super::LINKS, &b.id).unwrap(), None);
        assert!(s.verify_audit().unwrap().is_intact());
    }
}
