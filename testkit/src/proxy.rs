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
        let listener = TcpListener::bind(listen).await?;
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
        // The old socket may linger for a moment after abort; retry briefly.
        let mut last_error = None;
        for _ in 0..50 {
            match TcpListener::bind(self.listen).await {
                Ok(listener) => {
                    self.acceptor = Some(self.spawn_acceptor(listener));
                    return Ok(());
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(last_error.map_or_else(|| anyhow::anyhow!("cannot rebind"), Into::into))
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

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
