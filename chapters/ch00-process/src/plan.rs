//! The ordered steps a chapter runs inside the child, between `clone(2)` and `execve(2)`.
//!
//! Every chapter's isolation feature is one (or a few) [`Step`]s. A chapter builds its
//! plan from the previous chapter's plan and adds its own steps, so the code for each
//! feature is written once, in the chapter that teaches it.

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::clone::CloneInto;
use crate::console::ConsoleSocket;
use crate::{Container, State, StepError};

/// What a step may look at: the container, the namespaces the child was created
/// in, and the container's state directory, where a step records what it makes
/// on the host *before* making it (`state.rs`).
pub struct Context<'a> {
    pub container: &'a Container,
    pub namespaces: CloneFlags,
    pub state: &'a State,
    /// When the container gets a terminal of its own (chapter 3): where to send it.
    pub console: Option<&'a ConsoleSocket>,
}

// ANCHOR: step
/// One piece of container set-up.
pub trait Step {
    /// A short name for errors and listings: "chroot", "mount /proc".
    fn name(&self) -> &'static str;

    /// Runs in the runtime before `clone(2)`: for what the child must be *born*
    /// into (chapter 7's cgroup, on cgroup v2), and for recording what a step will
    /// make before the child exists.
    fn before_clone(&self, _cx: &Context, _into: &mut CloneInto) -> Result<(), StepError> {
        Ok(())
    }

    /// Runs in the runtime after `clone(2)`, while the child waits: for work that
    /// must be done from outside the child's namespaces (giving it a network
    /// interface, for example). The child runs its `in_child` steps only once
    /// every step's `in_parent` has succeeded.
    fn in_parent(&self, _cx: &Context, _child: Pid) -> Result<(), StepError> {
        Ok(())
    }

    /// Runs in the child after `clone(2)` and before `execve(2)`, with the
    /// privileges of the runtime. Errors reach the user through the handshake.
    fn in_child(&self, cx: &Context) -> Result<(), StepError>;

    /// Runs in the runtime once the container has ended, before any `cleanup`:
    /// one line for the user if this step knows *why* it ended in a way the exit
    /// status cannot say (chapter 7: the kernel killed it for using too much memory).
    fn why_it_ended(&self, _cx: &Context) -> Option<String> {
        None
    }

    /// Runs in the runtime to take down what the step left on the host, from its
    /// records in `cx.state` (forgetting each record once its object is gone):
    /// after the container ended, after a failed start, and, for a runtime that
    /// died, in `chNN cleanup` or the next run. So it must accept a record whose
    /// object was never made, or is gone already. Most steps leave nothing: what
    /// they did dies with the container's namespaces.
    fn cleanup(&self, _cx: &Context) -> Result<(), StepError> {
        Ok(())
    }
}
// ANCHOR_END: step

/// Chapter 2's `--init`: a function that stays the container's PID 1 while the
/// command runs as its child (PID 2), and returns PID 1's exit code.
pub type Init = fn(command: Pid) -> i32;

/// The namespaces to create and the steps to run, in order.
pub struct Plan {
    /// `CLONE_NEW*` flags for `clone(2)`: the child is born inside these namespaces.
    pub namespaces: CloneFlags,
    steps: Vec<Box<dyn Step>>,
    /// Run the command under an init of ours (chapter 2's `--init`).
    pub init: Option<Init>,
    /// Give the container a terminal of its own when the runtime runs on one
    /// (chapter 3, which gives it its own `/dev/pts`).
    pub console: bool,
    /// The root file system is made by a step's `before_clone` (chapter 8's
    /// overlay), so it is checked after those, not before anything is done.
    pub root_from_steps: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            namespaces: CloneFlags::empty(),
            steps: Vec::new(),
            init: None,
            console: false,
            root_from_steps: false,
        }
    }
}

impl Plan {
    /// An empty plan: no namespaces, no steps (chapter 0).
    pub fn new() -> Self {
        Plan::default()
    }

    /// Create the child in one more namespace.
    pub fn with_namespace(mut self, flag: CloneFlags) -> Self {
        self.namespaces |= flag;
        self
    }

    /// Add a step after the existing ones.
    pub fn then(mut self, step: impl Step + 'static) -> Self {
        self.steps.push(Box::new(step));
        self
    }

    /// Add a step before all the others: its parent-side part then runs first
    /// (chapter 7 puts the container in its cgroup before anything else is done).
    pub fn first(mut self, step: impl Step + 'static) -> Self {
        self.steps.insert(0, Box::new(step));
        self
    }

    /// Replace the step called `name` with `steps`, in place. A chapter uses this
    /// when it teaches a better way to do what an earlier chapter did (chapter 3
    /// replaces `chroot` with `pivot_root`).
    ///
    /// # Panics
    /// If no step has that name: that is a bug in the chapter, not a user error.
    pub fn replace(mut self, name: &str, steps: Vec<Box<dyn Step>>) -> Self {
        let at = self.position(name);
        self.steps.splice(at..=at, steps);
        self
    }

    /// Add a step just before the step called `name` (chapter 6 binds its files
    /// into the rootfs while the host's paths are still in reach, before
    /// `pivot_root`).
    ///
    /// # Panics
    /// If no step has that name: that is a bug in the chapter, not a user error.
    pub fn insert_before(mut self, name: &str, step: impl Step + 'static) -> Self {
        let at = self.position(name);
        self.steps.insert(at, Box::new(step));
        self
    }

    /// Add a step just after the step called `name` (chapter 8 mounts the
    /// container's overlay root once mounts are private, and before anything is
    /// bound into it).
    ///
    /// # Panics
    /// If no step has that name: that is a bug in the chapter, not a user error.
    pub fn insert_after(mut self, name: &str, step: impl Step + 'static) -> Self {
        let at = self.position(name);
        self.steps.insert(at + 1, Box::new(step));
        self
    }

    fn position(&self, name: &str) -> usize {
        self.steps
            .iter()
            .position(|s| s.name() == name)
            .unwrap_or_else(|| panic!("plan has no step named {name:?}"))
    }

    /// The steps, in the order they run.
    pub fn steps(&self) -> impl Iterator<Item = &dyn Step> {
        self.steps.iter().map(|s| s.as_ref())
    }

    /// The step names, in order: what a chapter's plan does, at a glance.
    pub fn step_names(&self) -> Vec<&'static str> {
        self.steps().map(|s| s.name()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str);
    impl Step for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn in_child(&self, _: &Context) -> Result<(), StepError> {
            Ok(())
        }
    }

    #[test]
    fn replace_keeps_the_position_of_the_replaced_step() {
        let plan = Plan::new()
            .then(Named("a"))
            .then(Named("b"))
            .then(Named("c"))
            .replace("b", vec![Box::new(Named("x")), Box::new(Named("y"))]);
        assert_eq!(plan.step_names(), ["a", "x", "y", "c"]);
    }

    #[test]
    fn first_goes_before_everything() {
        let plan = Plan::new().then(Named("b")).first(Named("a"));
        assert_eq!(plan.step_names(), ["a", "b"]);
    }

    #[test]
    fn insert_before_puts_the_step_in_front_of_its_neighbour() {
        let plan = Plan::new().then(Named("a")).then(Named("c")).insert_before("c", Named("b"));
        assert_eq!(plan.step_names(), ["a", "b", "c"]);
    }

    #[test]
    #[should_panic(expected = "plan has no step named \"nope\"")]
    fn replacing_a_missing_step_is_a_bug() {
        let _ = Plan::new().then(Named("a")).replace("nope", vec![]);
    }

    #[test]
    fn namespaces_accumulate() {
        let plan = Plan::new()
            .with_namespace(CloneFlags::CLONE_NEWPID)
            .with_namespace(CloneFlags::CLONE_NEWNS);
        assert_eq!(plan.namespaces, CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS);
    }
}
