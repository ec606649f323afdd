//! Spans survive a `log` query that every layer rejected (tokio-rs/tracing#2519).
//!
//! A test binary of its own: the subscriber is installed globally, as `init` does, which
//! also installs the `log` bridge.

mod support;

#[test]
fn a_span_right_after_a_log_level_check_no_layer_wanted_is_still_exported_and_logged() {
    // DEBUG enabled for one target raises the level hint to DEBUG, so the `log` bridge
    // asks the layers about every debug record instead of dropping it on the level alone.
    let (ended, output, _provider) = support::install("info,some_module=debug");

    for round in 0..3 {
        // A record neither layer wants (below `info` for spans, not `some_module` for log
        // lines): the bridge asks the layers, then hands them the event, which they skip.
        log::debug!(target: "sqlx::query", "a statement nobody logs");
        // The same question without a record following it: sqlx asks this after every
        // statement. The layers' answer stays behind on the thread for the next span.
        let _ = log::log_enabled!(target: "sqlx::query", log::Level::Debug);
        let span = tracing::info_span!("process", round);
        span.in_scope(|| tracing::info!(round, "order processed"));
    }

    let spans = ended.names();
    assert_eq!(
        spans.iter().filter(|name| *name == "process").count(),
        3,
        "every `process` span reaches the exporter: {spans:?}"
    );
    let lines = output.lines();
    let processed: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "order processed")
        .collect();
    assert_eq!(processed.len(), 3, "{lines:?}");
    for line in processed {
        assert_eq!(line["span"], "process", "the line knows its span: {line}");
        assert_eq!(line["trace_id"].as_str().map(str::len), Some(32), "{line}");
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
    }
    assert!(
        !lines.iter().any(|l| l["target"] == "sqlx::query"),
        "the rejected record is not logged: {lines:?}"
    );
}
