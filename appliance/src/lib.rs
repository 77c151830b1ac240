//! Trạm — the school appliance. The binary (`main.rs`, `cli/`) only parses the command line
//! and wires these capabilities together; see ARCHITECTURE.md for the map and the import rules.

pub mod app;
pub mod auth;
pub mod backup;
pub mod config;
pub mod control;
pub mod demo;
pub mod dept;
pub mod device;
pub mod district;
pub mod gradebook;
pub mod http;
pub mod lessons;
pub mod library;
pub mod logging;
pub mod pki;
pub mod provision;
pub mod relay;
pub mod school;
pub mod store;
pub mod text;
pub mod update;
pub mod web;
