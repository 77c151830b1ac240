//! JSON API of the gradebook.
