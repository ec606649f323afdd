//! A TCP proxy between a client and a real server that a test can cut, black-hole, slow
//! down and restore, to observe the client when its broker or database misbehaves.
//!
//! - [`TcpProxy::cut`] closes every open connection and refuses new ones (the listening
//!   socket is dropped), which is what a client sees when the server host goes away.
//! - [`TcpProxy::black_hole`] keeps every connection open and accepts new ones, but stops
//!   forwarding in both directions: packets dropped on the way, with no reset and no
//!   close, so only the client's own timeouts can notice.
//! - [`TcpProxy::set_latency`] delays every chunk by a fixed time in each direction.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with connections right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward { latency: Duration },
    BlackHole,
    Cut,
}

pub struct TcpProxy {
    listen: SocketAddr,
    upstream: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    latency: Duration,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding `listen` → `upstream`. `listen` may use port 0.
    pub async fn start(listen: &str, upstream: &str) -> anyhow::Result<Self> {
        let upstream: SocketAddr = upstream.parse()?;
        let listener = bind_with_retry(listen.parse()?).await?;
        let listen = listener.local_addr()?;
        let (mode, _) = watch::channel(Mode::Forward {
            latency: Duration::ZERO,
        });
        let mut proxy = Self {
            listen,
            upstream,
            mode: Arc::new(mode),
            latency: Duration::ZERO,
            acceptor: None,
        };
        proxy.acceptor = Some(proxy.spawn_acceptor(listener));
        Ok(proxy)
    }

    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// Drops every connection and stops listening.
    pub fn cut(&mut self) {
        self.mode.send_replace(Mode::Cut);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
    }

    /// Stops forwarding without closing anything: open connections stay open, new ones
    /// are accepted, and no byte goes through in either direction until [`Self::restore`].
    pub fn black_hole(&mut self) {
        self.mode.send_replace(Mode::BlackHole);
    }

    /// Delays every chunk forwarded from now on by `latency`, in each direction.
    pub fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
        let forwarding = matches!(*self.mode.borrow(), Mode::Forward { .. });
        if forwarding {
            self.mode.send_replace(Mode::Forward { latency });
        }
    }

    /// Forwards again (listening on the same address again after a cut).
    pub async fn restore(&mut self) -> anyhow::Result<()> {
        self.mode.send_replace(Mode::Forward {
            latency: self.latency,
        });
        if self.acceptor.is_none() {
            let listener = bind_with_retry(self.listen).await?;
            self.acceptor = Some(self.spawn_acceptor(listener));
        }
        Ok(())
    }

    fn spawn_acceptor(&self, listener: TcpListener) -> JoinHandle<()> {
        let upstream = self.upstream;
        let mode = Arc::clone(&self.mode);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = mode.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let mut closed = mode.clone();
                    tokio::select! {
                        _ = pump(client_read, server_write, mode.clone()) => {}
                        _ = pump(server_read, client_write, mode.clone()) => {}
                        _ = closed.wait_for(|m| *m == Mode::Cut) => {}
                    }
                });
            }
        })
    }
}

/// Copies `from` → `to` chunk by chunk while the mode says forward; in a black hole it
/// neither reads nor writes (the bytes wait in the kernel's buffers, as if lost).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        let latency = match current {
            Mode::Forward { latency } => latency,
            Mode::Cut => return,
            Mode::BlackHole => {
                if mode.changed().await.is_err() {
                    return;
                }
                continue;
            }
        };
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        // A chunk read just before a black hole began is held back too.
        while current_mode(&mode) == Mode::BlackHole {
            if mode.changed().await.is_err() {
                return;
            }
        }
        if current_mode(&mode) == Mode::Cut || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

fn current_mode(mode: &watch::Receiver<Mode>) -> Mode {
    *mode.borrow()
}

/// A proxy that was just cut (here or by an earlier test) releases its socket when its
/// runtime next runs the aborted task; wait briefly for that instead of failing.
async fn bind_with_retry(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let mut attempts = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(_) if attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(error) => return Err(anyhow::anyhow!("cannot listen on {addr}: {error}")),
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
