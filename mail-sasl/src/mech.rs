//! Mechanism state machines (filled per mechanism in submodules).

use crate::{ExchangeContext, Mechanism, Step, VerifyOutcome};

#[derive(Debug)]
pub(crate) enum State {
    Done,
}

impl State {
    pub(crate) fn start(
        _mechanism: Mechanism,
        _initial_response: Option<&[u8]>,
        _ctx: &ExchangeContext<'_>,
    ) -> (State, Step) {
        todo!("mechanisms")
    }

    pub(crate) fn step(&mut self, _response: &[u8]) -> Step {
        todo!("mechanisms")
    }

    pub(crate) fn verified(&mut self, _outcome: VerifyOutcome) -> Step {
        todo!("mechanisms")
    }
}
