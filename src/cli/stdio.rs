//! Standard descriptors that are really open before anything else opens a file or socket.
//!
//! A process started with a standard descriptor closed (`jwtgate serve 2>&-`, or a supervisor
//! that closes stdin) would otherwise hand descriptor 2 to the next file or socket it opens: the
//! listener, or a client's connection, would then receive every log line. Occupying each
//! closed one with `/dev/null` first keeps logs out of sockets; writing to them then goes
//! nowhere, and never fails the process.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};

/// The highest standard descriptor (stderr).
const LAST_STANDARD_FD: i32 = 2;

/// Opens `/dev/null` onto every closed standard descriptor (0, 1, 2). The kernel hands out the
/// lowest free descriptor, so each open fills the next hole; the first descriptor above 2 means
/// none is left, and is closed again.
pub fn reserve_standard_descriptors() {
    loop {
        let Ok(file) = OpenOptions::new().read(true).write(true).open("/dev/null") else {
            return;
        };
        if file.as_raw_fd() > LAST_STANDARD_FD {
            return;
        }
        // Kept open for the life of the process: it now is the standard descriptor.
        std::mem::forget(OwnedFd::from(file));
    }
}
