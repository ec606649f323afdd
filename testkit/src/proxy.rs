//! A TCP proxy between a client and a real server that a test can cut and restore, to
//! observe the client when its broker or database becomes unreachable.
//!
//! Cutting closes every open connection and refuses new ones (the listening socket is
//! dropped), which is what a client sees when the server host goes away.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpProxy {
    listen: SocketAddr,
    upstream: SocketAddr,
    /// `true` while connections are allowed; connection tasks stop when it turns false.
    open: Arc<watch::Sender<bool>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding `listen` → `upstream`. `listen` may use port 0.
    pub async fn start(listen: &str, upstream: &str) -> anyhow::Result<Self> {
        let upstream: SocketAddr = upstream.parse()?;
        let listener = bind_with_retry(listen.parse()?).await?;
        let listen = listener.local_addr()?;
        let (open, _) = watch::channel(true);
        let mut proxy = Self {
            listen,
            upstream,
            open: Arc::new(open),
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
        self.open.send_replace(false);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
    }

    /// Listens again on the same address.
    pub async fn restore(&mut self) -> anyhow::Result<()> {
        self.open.send_replace(true);
        let listener = bind_with_retry(self.listen).await?;
        self.acceptor = Some(self.spawn_acceptor(listener));
        Ok(())
    }

    fn spawn_acceptor(&self, listener: TcpListener) -> JoinHandle<()> {
        let upstream = self.upstream;
        let open = Arc::clone(&self.open);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut closed = open.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = closed.wait_for(|open| !*open) => {}
                    }
                });
            }
        })
    }
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
