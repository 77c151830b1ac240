//! The lesson plans' schema steps, handed to the store through `app::schema`.

use crate::store::{Migration, MigrationTx, StoreError, migrate::corrupt};

/// Schema 4: the review queue (`lessons.waiting.v1`, "{state}/{department}/{plan}") so a
/// reviewer's home page does not read every plan of the year.
pub const REVIEW_QUEUE: Migration = Migration {
    to: 4,
    name: "lesson plans: the review queue",
    run: build_review_queue,
};

fn build_review_queue(tx: &MigrationTx<'_>) -> Result<String, StoreError> {
    let mut entries = Vec::new();
    for (k, v) in tx.rows(super::PLANS.name)? {
        let plan: super::Plan =
            serde_json::from_slice(&v).map_err(|e| corrupt(super::PLANS.name, &k, e))?;
        if let Some(key) = super::waiting_key(&plan) {
            entries.push((key, v));
        }
    }
    let n = entries.len();
    tx.insert(super::WAITING.name, entries)?;
    Ok(format!("{n} plans waiting for review indexed"))
}

#[cfg(test)]
mod tests {
    //! This step's tests, over the whole schema of this build (`app::schema`).
    use crate::app::schema::{SCHEMA_VERSION, schema};
    use crate::store::Store;
    use redb::TableDefinition;

    /// A schema-3 database (plans, no review queue) gets its queue built from the plans.
    #[test]
    fn schema_3_database_gets_the_review_queue() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), &schema()).unwrap();
        crate::demo::seed(&s, "x", 10, jiff::Timestamp::now()).unwrap();
        let expected: Vec<String> = s
            .read()
            .unwrap()
            .scan(&crate::lessons::PLANS, "")
            .unwrap()
            .into_iter()
            .filter_map(|(_, p)| crate::lessons::waiting_key(&p))
            .collect();
        assert!(!expected.is_empty(), "the demo has plans waiting");
        drop(s);
        crate::store::migrate::old_database(dir.path(), 3, |w| {
            w.delete_table(TableDefinition::<&str, &[u8]>::new(
                crate::lessons::WAITING.name,
            ))
            .unwrap();
        });
        let s = Store::open(dir.path(), &schema()).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let got: Vec<String> = s
            .read()
            .unwrap()
            .scan(&crate::lessons::WAITING, "")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut expected = expected;
        expected.sort();
        assert_eq!(got, expected);
        assert!(s.verify_audit().unwrap().is_intact());
    }
}
