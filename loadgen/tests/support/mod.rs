//! What several integration tests share: a stand-in for producer-svc.

#![allow(dead_code)] // each test binary uses its own part of it

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Answers every request with a 202 and an order body, one request per connection.
pub async fn stub_producer() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(answer_202(stream));
        }
    });
    format!("http://{addr}")
}

/// Like [`stub_producer`], but keeps connections alive and counts the ones it accepted.
pub async fn counting_producer() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while read_request(&mut stream, &mut pending).await {
                    if stream.write_all(&response_202(false)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), connections)
}

async fn answer_202(mut stream: TcpStream) {
    if read_request(&mut stream, &mut Vec::new()).await {
        let _ = stream.write_all(&response_202(true)).await;
    }
}

/// Reads one request (head, then as many body bytes as content-length says) from the
/// stream, keeping what follows it in `pending`; false when the connection ended first.
async fn read_request(stream: &mut TcpStream, pending: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 2048];
    loop {
        let text = String::from_utf8_lossy(pending).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if pending.len() >= end + 4 + length {
                pending.drain(..end + 4 + length);
                return true;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

fn response_202(close: bool) -> Vec<u8> {
    let body = format!(
        r#"{{"order_id":"{}","status":"accepted","partition":0,"offset":0}}"#,
        uuid::Uuid::now_v7()
    );
    format!(
        "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {}\r\n\r\n{body}",
        body.len(),
        if close { "close" } else { "keep-alive" }
    )
    .into_bytes()
}
