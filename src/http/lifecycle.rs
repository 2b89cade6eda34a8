//! [`Lifecycle`]: whether the server is draining before shutdown (then `/readyz` answers 503
//! while requests are still served, so load balancers move traffic away first).

use std::sync::atomic::{AtomicBool, Ordering};

/// Shared by every worker; set once when shutdown begins.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
}

impl Lifecycle {
    /// Marks the server as draining.
    pub fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
