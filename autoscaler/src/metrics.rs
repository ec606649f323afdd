//! The autoscaler's own `/metrics` (Prometheus text format), so a dashboard can draw
//! desired vs. current replicas next to the lag that drove them.
//!
//! A few gauges do not justify a metrics stack: values live in [`Gauges`], and a tiny
//! HTTP/1.1 responder serves them.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The values exported, updated after every sync.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gauges {
    pub hpa: String,
    pub group: String,
    pub topic: String,
    pub desired_replicas: u32,
    pub current_replicas: u32,
    pub recommended_replicas: u32,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub partitions: u32,
    /// `None` until the first successful read.
    pub total_lag: Option<i64>,
    pub syncs_total: u64,
    pub lag_read_errors_total: u64,
    pub scale_events_total: u64,
}

pub type SharedGauges = Arc<Mutex<Gauges>>;

/// Renders the gauges in the Prometheus text exposition format.
pub fn render(g: &Gauges) -> String {
    let hpa = format!("hpa=\"{}\"", g.hpa);
    let mut out = String::new();
    let mut gauge = |name: &str, kind: &str, help: &str, labels: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {value}"
        );
    };
    gauge(
        "surge_autoscaler_desired_replicas",
        "gauge",
        "Replica count decided by the last sync.",
        &hpa,
        g.desired_replicas.to_string(),
    );
    gauge(
        "surge_autoscaler_current_replicas",
        "gauge",
        "Consumer processes running.",
        &hpa,
        g.current_replicas.to_string(),
    );
    gauge(
        "surge_autoscaler_recommended_replicas",
        "gauge",
        "Metric-based recommendation before stabilization and policies.",
        &hpa,
        g.recommended_replicas.to_string(),
    );
    gauge(
        "surge_autoscaler_min_replicas",
        "gauge",
        "minReplicas of the HPA.",
        &hpa,
        g.min_replicas.to_string(),
    );
    gauge(
        "surge_autoscaler_max_replicas",
        "gauge",
        "maxReplicas of the HPA, capped at the partition count.",
        &hpa,
        g.max_replicas.to_string(),
    );
    gauge(
        "surge_autoscaler_topic_partitions",
        "gauge",
        "Partitions of the consumed topic.",
        &format!("topic=\"{}\"", g.topic),
        g.partitions.to_string(),
    );
    if let Some(lag) = g.total_lag {
        gauge(
            "surge_autoscaler_consumergroup_lag",
            "gauge",
            "Total lag of the consumer group on the topic, in records.",
            &format!("consumergroup=\"{}\",topic=\"{}\"", g.group, g.topic),
            lag.to_string(),
        );
    }
    gauge(
        "surge_autoscaler_syncs_total",
        "counter",
        "Syncs run.",
        &hpa,
        g.syncs_total.to_string(),
    );
    gauge(
        "surge_autoscaler_lag_read_errors_total",
        "counter",
        "Syncs whose lag read failed.",
        &hpa,
        g.lag_read_errors_total.to_string(),
    );
    gauge(
        "surge_autoscaler_scale_events_total",
        "counter",
        "Syncs that changed the replica count.",
        &hpa,
        g.scale_events_total.to_string(),
    );
    out
}

/// Binds `addr` and serves `GET /metrics` until the task is dropped. Returns the bound
/// address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    gauges: SharedGauges,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let gauges = gauges.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if request.starts_with("GET /metrics") {
                    let snapshot = gauges.lock().map(|g| g.clone()).unwrap_or_default();
                    ("200 OK", render(&snapshot))
                } else {
                    ("404 Not Found", "not found\n".to_owned())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok((local, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_gauges_in_prometheus_text_format() {
        let gauges: SharedGauges = Arc::new(Mutex::new(Gauges {
            hpa: "consumer-svc".into(),
            group: "orders-processor".into(),
            topic: "orders".into(),
            desired_replicas: 6,
            current_replicas: 2,
            total_lag: Some(4321),
            ..Gauges::default()
        }));
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), gauges).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK"));
        assert!(body.contains("surge_autoscaler_desired_replicas{hpa=\"consumer-svc\"} 6"));
        assert!(body.contains("surge_autoscaler_current_replicas{hpa=\"consumer-svc\"} 2"));
        assert!(body.contains(
            "surge_autoscaler_consumergroup_lag{consumergroup=\"orders-processor\",topic=\"orders\"} 4321"
        ));
        task.abort();
    }
}
