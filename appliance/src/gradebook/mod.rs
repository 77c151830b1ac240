//! The gradebook (sổ theo dõi và đánh giá học sinh): the pure rules in `rules/`, the
//! `grades check` contract in `check.rs`.

pub mod check;
pub mod rules;
