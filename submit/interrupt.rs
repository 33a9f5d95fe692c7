//! SIGINT, SIGTERM and SIGHUP during the submission pass: sweep-submit stops submitting,
//! lets nothing run held that it wrote down, and says how to carry on.
//!
//! Once the first job may be submitted ([`install`], at the start of the submission pass), a
//! signal no longer kills the process: it is noted ([`requested`]), the run stops before the
//! next `sbatch` (an `sbatch` in flight is killed, its whole process group: a job it may have
//! created stays held, is journaled nowhere, and the next run cancels it), every job already
//! written into the journal is released, and the run exits 128 + the signal's number. So at
//! most the one job in flight is left held. A second signal ends the process at once.
//! Before the submission pass nothing exists to settle, and a signal ends the run as usual.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The signals that stop a run.
const SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
];

/// The signal received (0: none).
static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// From now on, a signal of [`SIGNALS`] is noted instead of ending the process; a second one
/// ends it at once (exit 128 + its number).
pub fn install() -> std::io::Result<()> {
    let received = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    let armed = Arc::new(AtomicBool::new(false));
    for sig in SIGNALS {
        // The second signal: the flag is set by then, and the process exits.
        let code = u8::try_from(128 + sig).unwrap_or(u8::MAX);
        signal_hook::flag::register_conditional_shutdown(sig, i32::from(code), armed.clone())?;
        signal_hook::flag::register(sig, armed.clone())?;
        signal_hook::flag::register_usize(sig, received.clone(), sig as usize)?;
    }
    Ok(())
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    let sig = RECEIVED.get()?.load(Ordering::SeqCst);
    (sig != 0).then(|| i32::try_from(sig).unwrap_or(0))
}

/// The outcome of a submission the run stopped before (`None`: go on).
pub fn stopped() -> Option<crate::sbatch::retry::Done> {
    let sig = requested()?;
    Some(crate::sbatch::retry::Done::Failed {
        message: format!("not submitted: interrupted by {}", name(sig)),
        transient: true,
    })
}

/// `SIGINT`, `SIGTERM`, `SIGHUP`.
pub fn name(sig: i32) -> &'static str {
    match sig {
        signal_hook::consts::SIGINT => "SIGINT",
        signal_hook::consts::SIGTERM => "SIGTERM",
        signal_hook::consts::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}
