//! Standard error, written in batches: log lines gather in one bounded buffer that is written
//! out when it holds [`BATCH_BYTES`] or when the flusher comes by (every `[log]
//! flush_interval_ms`), so a busy service makes one `write` per batch instead of one per line.
//! Envoy's access log does the same (`file_flush_interval`).
//!
//! A line is at most one interval late; lines still in the buffer when the process is killed
//! (`SIGKILL`) are lost, so [`BatchedStderr::flush`] runs on every orderly exit.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// A batch is written out once it holds this many bytes (a line is never split).
pub const BATCH_BYTES: usize = 64 * 1024;

/// The shared buffer in front of an output (standard error in the service).
#[derive(Clone)]
pub struct BatchedStderr {
    inner: Arc<Inner>,
}

struct Inner {
    buffer: Mutex<Vec<u8>>,
    output: Mutex<Box<dyn Write + Send>>,
}

impl BatchedStderr {
    /// A batched standard error (flushed by [`Self::start_flusher`] and [`Self::flush`]).
    pub fn stderr() -> Self {
        Self::to(Box::new(io::stderr()))
    }

    /// A batched writer in front of `output` (tests pass a buffer).
    pub fn to(output: Box<dyn Write + Send>) -> Self {
        Self {
            inner: Arc::new(Inner {
                buffer: Mutex::new(Vec::with_capacity(BATCH_BYTES)),
                output: Mutex::new(output),
            }),
        }
    }

    /// Starts a thread that writes out whatever is buffered every `interval`, for the life of
    /// the process.
    pub fn start_flusher(&self, interval: Duration) -> io::Result<()> {
        let this = self.clone();
        std::thread::Builder::new()
            .name("jwtgate-log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    this.flush();
                }
            })
            .map(drop)
    }

    /// Writes out what is buffered now.
    pub fn flush(&self) {
        // The batch is taken while holding the output, so batches are written in the order
        // their lines arrived, whoever writes them.
        let mut output = lock(&self.inner.output);
        let mut batch = std::mem::take(&mut *lock(&self.inner.buffer));
        if batch.is_empty() {
            return;
        }
        // Nothing useful can be done when standard error itself fails.
        let _ = output.write_all(&batch);
        let _ = output.flush();
        drop(output);
        // Give the emptied buffer's capacity back unless lines arrived meanwhile.
        let mut buffer = lock(&self.inner.buffer);
        if buffer.is_empty() {
            batch.clear();
            *buffer = batch;
        }
    }

    /// Appends one line (or part of one); writes out the batch once it is full.
    fn append(&self, bytes: &[u8]) {
        let full = {
            let mut buffer = lock(&self.inner.buffer);
            buffer.extend_from_slice(bytes);
            buffer.len() >= BATCH_BYTES
        };
        if full {
            self.flush();
        }
    }
}

/// A poisoned lock (a panic while holding it) still guards plain bytes: carry on with them.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What tracing-subscriber writes one event through.
pub struct BatchWriter<'a>(&'a BatchedStderr);

impl Write for BatchWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = BatchWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BatchWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records each `write_all` it gets as one batch.
    #[derive(Clone, Default)]
    struct Batches(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Batches {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(writer: &BatchedStderr, text: &str) {
        writer.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn lines_wait_for_the_flush_and_go_out_together_in_order() {
        let out = Batches::default();
        let writer = BatchedStderr::to(Box::new(out.clone()));
        line(&writer, "one\n");
        line(&writer, "two\n");
        assert!(
            out.0.lock().unwrap().is_empty(),
            "nothing written before a flush"
        );
        writer.flush();
        assert_eq!(*out.0.lock().unwrap(), vec![b"one\ntwo\n".to_vec()]);
        writer.flush();
        assert_eq!(
            out.0.lock().unwrap().len(),
            1,
            "an empty buffer writes nothing"
        );
    }

    #[test]
    fn a_full_batch_is_written_at_once_without_splitting_a_line() {
        let out = Batches::default();
        let writer = BatchedStderr::to(Box::new(out.clone()));
        let long = format!("{}\n", "x".repeat(1000));
        let lines = BATCH_BYTES / long.len() + 1;
        for _ in 0..lines {
            line(&writer, &long);
        }
        let batches = out.0.lock().unwrap().clone();
        assert_eq!(batches.len(), 1, "written once the batch was full");
        assert_eq!(batches[0].len(), lines * long.len());
        assert!(batches[0].len() >= BATCH_BYTES);
    }

    #[test]
    fn lines_from_many_threads_come_out_whole_once_each_and_in_each_threads_order() {
        let out = Batches::default();
        let writer = BatchedStderr::to(Box::new(out.clone()));
        writer.start_flusher(Duration::from_millis(1)).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..2000 {
                        // ~1 KB lines: batches fill and are written by the writers themselves too.
                        line(&writer, &format!("{t} {n:06} {}\n", "x".repeat(1000)));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        writer.flush();

        let text = String::from_utf8(out.0.lock().unwrap().concat()).unwrap();
        let mut next = [0u32; 4];
        for line in text.lines() {
            let mut words = line.split(' ');
            let t: usize = words.next().unwrap().parse().unwrap();
            let n: u32 = words.next().unwrap().parse().unwrap();
            assert_eq!(
                n, next[t],
                "thread {t}'s lines in order, none lost or doubled"
            );
            assert_eq!(words.next().unwrap().len(), 1000, "a line is never split");
            next[t] += 1;
        }
        assert_eq!(next, [2000; 4]);
    }

    #[test]
    fn the_flusher_writes_out_without_another_line_arriving() {
        let out = Batches::default();
        let writer = BatchedStderr::to(Box::new(out.clone()));
        writer.start_flusher(Duration::from_millis(1)).unwrap();
        line(&writer, "late\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while out.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::yield_now();
        }
        assert_eq!(out.0.lock().unwrap()[0], b"late\n");
    }
}
