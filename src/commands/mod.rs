//! One module a command of the OCI runtime command line (and `doctor`).

pub mod create;
pub mod delete;
pub mod doctor;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
