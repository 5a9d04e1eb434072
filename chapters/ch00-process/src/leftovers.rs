//! Taking down what runtimes that died left on the host: `chNN cleanup`, and the
//! first thing every `chNN run` does.
//!
//! A runtime killed with `SIGKILL` cannot clean up after itself, but it wrote
//! down everything it made before making it (`state.rs`). Its state directory
//! is then unlocked, and the next runtime — or `chNN cleanup` — runs the same
//! clean-up over those records that the runtime itself would have run.

use std::time::Duration;

use crate::plan::Context;
use crate::{Error, Plan, state, state_root};

/// What a clean-up of dead runtimes' leftovers did.
#[derive(Debug, Default)]
pub struct Swept {
    /// The containers whose leftovers are gone now.
    pub cleaned: Vec<String>,
    /// The ones that still have something left, and why.
    pub failed: Vec<(String, Error)>,
}

// ANCHOR: sweep
/// Clean up after every container whose runtime is gone, with the steps of
/// `plan`. Records that `plan` does not know (a container of a later chapter,
/// cleaned by an earlier one) stay, for that chapter's `cleanup`.
pub fn sweep(plan: &Plan) -> Swept {
    let mut swept = Swept::default();
    let root = state_root();
    for state in state::dead(&root) {
        let Ok(container) = state.container() else {
            // A runtime that died while creating its state made nothing yet.
            if state.records().is_empty() && state.age() > Duration::from_secs(60) {
                let _ = state.remove();
            }
            continue;
        };
        let cx = Context {
            container: &container,
            namespaces: plan.namespaces,
            state: &state,
            console: None,
        };
        let cleaned = crate::run::cleanup(&cx, plan);
        let id = container.short_id().to_owned();
        match (cleaned, state.remove()) {
            (Ok(()), Ok(())) => swept.cleaned.push(id),
            (Err(e), _) => swept.failed.push((id, e)),
            (Ok(()), Err(left)) => {
                let dir = root.join("containers");
                swept.failed.push((id, Error::LeftBehind { dir, left }));
            }
        }
    }
    swept
}
// ANCHOR_END: sweep
