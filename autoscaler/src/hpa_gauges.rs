//! The HPA's replica counts as Prometheus gauges, under kube-state-metrics' names
//! (`kube_horizontalpodautoscaler_status_desired_replicas` …, labels `namespace` and
//! `horizontalpodautoscaler`), served by the recorder.
//!
//! The local control plane runs no kube-state-metrics, and the recorder watches the HPA
//! object anyway; exporting what it read under the names a cluster's
//! kube-state-metrics uses lets the shipped recording rules and dashboards work
//! unchanged. Same numbers, same names, one scrape away.

use std::fmt::Write as _;
use std::future::Future;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};

use crate::history::StatusRecord;

/// The last record read, shared between the recorder and the scrape handler.
pub type LastRecord = Arc<Mutex<Option<StatusRecord>>>;

/// Renders `record` in the Prometheus text format; nothing before the first reading.
pub fn render(namespace: &str, hpa: &str, record: Option<&StatusRecord>) -> String {
    let Some(record) = record else {
        return String::new();
    };
    let labels = format!("namespace=\"{namespace}\",horizontalpodautoscaler=\"{hpa}\"");
    let mut out = String::new();
    for (name, help, value) in [
        (
            "kube_horizontalpodautoscaler_status_desired_replicas",
            "Desired number of replicas of pods managed by this autoscaler.",
            record.desired_replicas,
        ),
        (
            "kube_horizontalpodautoscaler_status_current_replicas",
            "Current number of replicas of pods managed by this autoscaler.",
            record.current_replicas,
        ),
        (
            "kube_horizontalpodautoscaler_spec_min_replicas",
            "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
            record.min_replicas,
        ),
        (
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas.",
            record.max_replicas,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{{labels}}} {value}"
        );
    }
    out
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    namespace: String,
    hpa: String,
    last: LastRecord,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let state = web::Data::new((namespace, hpa, last));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    shutdown.await;
    handle.stop(true).await;
    task.await??;
    Ok(())
}

async fn metrics(state: web::Data<(String, String, LastRecord)>) -> HttpResponse {
    let (namespace, hpa, last) = state.get_ref();
    let record = last.lock().map(|r| r.clone()).unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(render(namespace, hpa, record.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_kube_state_metrics_names_and_labels() {
        let record = StatusRecord {
            unix_ms: 0,
            metric_average: Some(10.0),
            current_replicas: 2,
            desired_replicas: 6,
            min_replicas: 2,
            max_replicas: 12,
            last_scale_time: None,
            conditions: Vec::new(),
        };
        let text = render("surge-local", "consumer-svc", Some(&record));
        let labels = "{namespace=\"surge-local\",horizontalpodautoscaler=\"consumer-svc\"}";
        for line in [
            format!("kube_horizontalpodautoscaler_status_desired_replicas{labels} 6"),
            format!("kube_horizontalpodautoscaler_status_current_replicas{labels} 2"),
            format!("kube_horizontalpodautoscaler_spec_min_replicas{labels} 2"),
            format!("kube_horizontalpodautoscaler_spec_max_replicas{labels} 12"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert_eq!(render("n", "h", None), "");
    }
}
