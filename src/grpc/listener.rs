//! The gRPC listener's threads, lifecycle and graceful stop: [`GrpcServer`] serves
//! [`super::CheckService`] on `[grpc] bind` beside the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::http::live::LiveState;

/// The running gRPC listener: its port, and how to stop it.
pub(crate) struct GrpcServer {
    pub(crate) port: u16,
    /// Tells the listener to stop (taken by [`GrpcServer::stop`]; dropping it stops it too).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// `[server] shutdown_timeout_secs`: how long a graceful stop may wait for the clients.
    shutdown_timeout: Duration,
    /// The threads it runs on (let go when the server is dropped).
    runtime: Option<GrpcRuntime>,
}

/// The gRPC listener's own threads: one thread with a single-threaded runtime, or a
/// multi-threaded runtime. Measured (BENCHMARKS.md): on one core the single-threaded runtime
/// answers ~30 % more cached checks than a multi-threaded one with one worker; with more, the
/// multi-threaded runtime runs the streams of one HTTP/2 connection (Envoy keeps few) in
/// parallel, which per-thread runtimes sharing the accepting socket did not (one thread took
/// every connection).
enum GrpcRuntime {
    /// Dropping the sender lets the thread's `block_on` return; the runtime ends on its thread.
    Single(tokio::sync::oneshot::Sender<()>),
    Threaded(tokio::runtime::Runtime),
}

impl GrpcServer {
    /// Binds `[grpc] bind` and serves `Check` with the HTTP server's state on `threads` threads
    /// of its own (`[server] workers`; 0: one per core), so the listener uses as many cores as
    /// the HTTP workers do.
    pub(crate) fn start(
        bind: std::net::SocketAddr,
        live: Arc<LiveState>,
        shutdown_timeout: Duration,
        threads: usize,
    ) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(bind).with_context(|| format!("binding grpc.bind = {bind}"))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        // `grpc-PORT`: which listener a thread serves, in `top -H` and the like.
        let name = format!("grpc-{port}");
        let runtime = if threads == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads).thread_name(&name);
            builder
        }
        .enable_all()
        .build()
        .context("starting the gRPC listener's threads")?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = crate::grpc::CheckService::new(live);
        let task = runtime.spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = crate::grpc::serve(listener, service, shutdown).await {
                tracing::error!(error = %e, "the gRPC listener failed");
            }
        });
        let runtime = if threads == 1 {
            let (keep, released) = tokio::sync::oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(name)
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = released.await;
                    });
                })
                .context("starting the gRPC listener's thread")?;
            GrpcRuntime::Single(keep)
        } else {
            GrpcRuntime::Threaded(runtime)
        };
        // Announced with the other startup lines (`jwtgate::startup`, kept at info by the
        // configurations that quiet everything else).
        tracing::info!(target: "jwtgate::startup", port, threads, "jwtgate gRPC ext_authz listening");
        Ok(Self {
            port,
            stop: Some(stop),
            task,
            shutdown_timeout,
            runtime: Some(runtime),
        })
    }

    /// Stops accepting, lets in-flight calls finish, and waits, at most `shutdown_timeout`:
    /// HTTP/2's graceful close waits for every client to acknowledge it, and a client that never
    /// does (stalled, or gone without a FIN) must not keep the process alive.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(self.shutdown_timeout, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(
                timeout = ?self.shutdown_timeout,
                "the gRPC listener's clients did not close their connections in time: closing them"
            );
            self.task.abort();
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        // A runtime may not be dropped (which blocks) inside another one: a multi-threaded one
        // goes in the background; a single thread's ends on that thread once released.
        match self.runtime.take() {
            Some(GrpcRuntime::Threaded(runtime)) => runtime.shutdown_background(),
            Some(GrpcRuntime::Single(release)) => drop(release),
            None => {}
        }
    }
}
