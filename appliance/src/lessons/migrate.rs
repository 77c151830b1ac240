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
