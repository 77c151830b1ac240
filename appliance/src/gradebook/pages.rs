//! Gradebook pages.
