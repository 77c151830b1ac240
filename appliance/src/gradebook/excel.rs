//! Gradebook spreadsheets.
