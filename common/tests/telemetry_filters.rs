//! What the log filter decides, and what it does not: the exported spans. A test binary
//! of its own: the subscriber is installed globally, as `init` does.

mod support;

#[test]
fn the_log_filter_decides_the_log_lines_and_spans_below_info_are_not_exported() {
    let (ended, output, _provider) = support::install("warn,chatty=debug");
    tracing::info_span!("request").in_scope(|| {
        tracing::info!("not logged at warn");
        tracing::warn!("logged");
        tracing::debug!(target: "chatty", "logged by its directive");
        tracing::debug_span!("detail").in_scope(|| {});
    });
    let spans = ended.names();
    assert_eq!(
        spans,
        ["request"],
        "info spans export whatever the log level"
    );
    let messages: Vec<_> = output
        .lines()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(messages, ["logged", "logged by its directive"]);
    let warned = &output.lines()[0];
    assert_eq!(warned["span"], "request", "{warned}");
    assert_eq!(
        warned["trace_id"].as_str().map(str::len),
        Some(32),
        "{warned}"
    );
}
