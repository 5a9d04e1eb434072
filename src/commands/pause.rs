//! `tincan pause ID` and `tincan resume ID`: freeze and thaw every process of
//! the container ([`crate::freezer`]).

use std::path::Path;

use crate::{Failure, freezer, store};

pub fn pause(root: &Path, id: &str) -> Result<(), Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    store::status(&state, record.as_ref()).may_pause()?;
    freezer::set(&state, true).map_err(Failure::new)
}

pub fn resume(root: &Path, id: &str) -> Result<(), Failure> {
    let state = store::open(root, id).map_err(|e| Failure::new(e.to_string()))?;
    let record = store::read(&state).map_err(|e| Failure::new(e.to_string()))?;
    store::status(&state, record.as_ref()).may_resume()?;
    freezer::set(&state, false).map_err(Failure::new)
}
