//! A client that writes exact bytes on a TCP connection, for requests an HTTP library
//! would refuse to send, and reads answers the way a client would: status line, head,
//! `Content-Length` body, or the connection closing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How an exchange ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A complete response with this status.
    Status(u16),
    /// The server closed (or reset) the connection without a complete response.
    Closed,
    /// Neither within the bound.
    StillOpen,
}

/// A response read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

pub struct RawConnection {
    pub stream: TcpStream,
    buffer: Vec<u8>,
    eof: bool,
}

impl RawConnection {
    pub async fn open(address: &str) -> Self {
        let host = address.trim_start_matches("http://");
        let stream = TcpStream::connect(host).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buffer: Vec::new(),
            eof: false,
        }
    }

    /// Writes `bytes`; a write refused because the server already closed is not an error
    /// (the answer, or the close, is what the caller looks at).
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    async fn fill(&mut self, deadline: Instant) -> Option<()> {
        if self.eof {
            return None;
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Some(()),
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                None
            }
            Ok(Ok(n)) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }

    /// Reads the next response, or says the connection closed or stayed silent until
    /// `within` passed.
    pub async fn response(&mut self, within: Duration) -> Result<RawResponse, Ending> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(response) = self.take_response() {
                return Ok(response);
            }
            if self.fill(deadline).await.is_none() {
                return Err(Ending::Closed);
            }
            if Instant::now() >= deadline {
                return Err(Ending::StillOpen);
            }
        }
    }

    /// Status of the next response, or how the connection ended instead.
    pub async fn ending(&mut self, within: Duration) -> Ending {
        match self.response(within).await {
            Ok(response) => Ending::Status(response.status),
            Err(ending) => ending,
        }
    }

    /// Whether the server closes the connection within `within` (anything it still sends
    /// first, such as a 408, is read and discarded).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            self.buffer.clear();
            if self.fill(deadline).await.is_none() {
                return true;
            }
        }
        false
    }

    fn take_response(&mut self) -> Option<RawResponse> {
        let end = self.buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let length: usize = head
            .lines()
            .skip(1)
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .unwrap_or(0);
        if self.buffer.len() < end + length {
            return None;
        }
        let body = self.buffer[end..end + length].to_vec();
        self.buffer.drain(..end + length);
        Some(RawResponse { status, head, body })
    }
}

/// `POST /v1/orders` with a JSON body and `extra` head lines, as bytes.
pub fn post_order(host: &str, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST /v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}
