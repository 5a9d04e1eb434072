//! One module a command of the OCI runtime command line.

pub mod create;
pub mod delete;
pub mod kill;
pub mod run;
pub mod start;
pub mod state;
