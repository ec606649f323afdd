//! `report.md`: per-run tables, summary numbers, audit and plots, then (two runs or
//! more) the same numbers side by side. Pure text from the analysed runs.

use std::fmt::Write as _;

use super::analysis::Summary;
use super::run_dir::Run;

/// One run as the Markdown shows it.
pub struct Section<'a> {
    pub run: &'a Run,
    pub summary: &'a Summary,
    /// `(caption, file name relative to report.md)`.
    pub images: &'a [(String, String)],
    /// Plots left out, with the reason (e.g. "no lag samples").
    pub missing: &'a [String],
}

pub fn render(sections: &[Section<'_>], comparison_images: &[(String, String)]) -> String {
    let mut out = String::from("# Flash-sale report\n\n");
    let names: Vec<String> = sections
        .iter()
        .map(|s| format!("`{}`", s.run.name))
        .collect();
    let _ = writeln!(
        out,
        "Runs: {}. Time on every plot is seconds since the run's start; dashed lines mark \
         the phases.\n",
        names.join(", ")
    );
    if sections.len() >= 2 {
        out.push_str("## Comparison\n\n");
        let summaries: Vec<&Summary> = sections.iter().map(|s| s.summary).collect();
        out.push_str(&comparison_table(&names, &summaries));
        out.push('\n');
        for (caption, file) in comparison_images {
            let _ = writeln!(out, "![{caption}]({file})\n");
        }
    }
    for section in sections {
        out.push_str(&run_section(section));
    }
    out
}

fn run_section(section: &Section<'_>) -> String {
    let (run, s) = (section.run, section.summary);
    let results = &run.results;
    let mut out = format!("## Run `{}`\n\n", run.name);
    let _ = writeln!(
        out,
        "Target {}, started {} (Unix ms {}).\n",
        results.target,
        started(results.started_unix_ms),
        results.started_unix_ms
    );

    out.push_str("### Phases\n\n");
    out.push_str(
        "| phase | target req/s | achieved req/s | sent | 202 | p50 ms | p90 ms | p99 ms | max ms | statuses |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for p in &results.phase_stats {
        let statuses: Vec<String> = p
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            p.name,
            p.target_rate,
            p.achieved_rate,
            p.sent,
            p.accepted,
            p.p50_ms,
            p.p90_ms,
            p.p99_ms,
            p.max_ms,
            statuses.join(", ")
        );
    }
    out.push_str("\nPOST → 202 latency from each request's scheduled start.\n\n");

    out.push_str("### Summary\n\n");
    let _ = writeln!(out, "- peak 202/s: {}", s.peak_accepted_per_s);
    let _ = writeln!(out, "- max consumer-group lag: {}", opt(s.max_lag));
    let _ = writeln!(
        out,
        "- drain time (spike end at {:.0} s → lag back to ≤ {}, its pre-spike level): {}",
        s.spike_end_s, s.lag_floor, s.drain
    );
    let _ = writeln!(
        out,
        "- peak replicas: {} (desired peak {}, minimum {})",
        opt(s.peak_replicas),
        opt(s.peak_desired),
        opt(s.min_replicas)
    );
    let _ = writeln!(
        out,
        "- from the spike start (at {:.0} s; negative: before it): first scale-out {}, peak replicas running {}, lag peak {}",
        s.spike_start_s, s.first_scale_out, s.enough_replicas, s.lag_peak
    );
    let _ = writeln!(
        out,
        "- scale events (changes of the replicas the HPA asked for): {} up, {} down",
        s.scale_events.up, s.scale_events.down
    );
    let _ = writeln!(
        out,
        "- replicas back at the minimum, after the spike end: {}",
        s.scale_in
    );
    match s.replica_seconds {
        Some(r) => {
            let _ = writeln!(
                out,
                "- replica-seconds used: {:.0} over 0–{:.0} s ({:.0} above the minimum)",
                r.total, r.window_s, r.above_min
            );
        }
        None => out.push_str("- replica-seconds used: no data\n"),
    }
    if let Some(n) = s.orders_processed {
        let _ = writeln!(
            out,
            "- orders processed: {n}{}",
            s.last_processed_s
                .map(|t| format!(", the last in second {t:.0}"))
                .unwrap_or_default()
        );
    }
    if let Some(e) = &s.end_to_end {
        let _ = writeln!(
            out,
            "- end-to-end latency (accepted_at → processed_at, {} orders): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            e.count, e.p50_ms, e.p99_ms, e.max_ms
        );
    }
    out.push('\n');

    out.push_str("### Audit\n\n");
    match &run.audit {
        None => out.push_str("No `audit.json` in the run's folder.\n\n"),
        Some(audit) => {
            out.push_str("| check | result | detail |\n|---|---|---|\n");
            for c in &audit.checks {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    cell(&c.name),
                    if c.ok { "PASS" } else { "**FAIL**" },
                    cell(&c.detail)
                );
            }
            let sale = &audit.sale;
            let _ = writeln!(
                out,
                "\nAudit {}. Sale of `{}`: stock {}, remaining {}, {} confirmed, {} rejected.\n",
                if audit.passed { "PASSED" } else { "FAILED" },
                sale.sku,
                sale.stock,
                opt(sale.remaining),
                sale.confirmed,
                sale.rejected
            );
        }
    }

    out.push_str("### Plots\n\n");
    for (caption, file) in section.images {
        let _ = writeln!(out, "![{caption}]({file})\n");
    }
    for reason in section.missing {
        let _ = writeln!(out, "- {reason}");
    }
    if !section.missing.is_empty() {
        out.push('\n');
    }
    out
}

/// One row per number, one column per run.
pub fn comparison_table(names: &[String], summaries: &[&Summary]) -> String {
    type Row = (&'static str, fn(&Summary) -> String);
    let rows: [Row; 19] = [
        ("spike target req/s", |s| {
            s.spike
                .as_ref()
                .map_or("–".into(), |p| format!("{:.0}", p.target_rate))
        }),
        ("spike achieved req/s", |s| {
            s.spike
                .as_ref()
                .map_or("–".into(), |p| format!("{:.1}", p.achieved_rate))
        }),
        ("spike 202 count", |s| {
            s.spike
                .as_ref()
                .map_or("–".into(), |p| p.accepted.to_string())
        }),
        ("spike POST→202 p99 ms", |s| {
            s.spike
                .as_ref()
                .map_or("–".into(), |p| format!("{:.2}", p.p99_ms))
        }),
        ("peak 202/s", |s| s.peak_accepted_per_s.to_string()),
        ("spike start → first scale-out", |s| {
            s.first_scale_out.to_string()
        }),
        ("spike start → peak replicas running", |s| {
            s.enough_replicas.to_string()
        }),
        ("spike start → lag peak", |s| s.lag_peak.to_string()),
        ("max lag", |s| opt(s.max_lag)),
        ("drain time", |s| s.drain.to_string()),
        ("peak replicas", |s| opt(s.peak_replicas)),
        ("scale events up / down", |s| {
            format!("{} / {}", s.scale_events.up, s.scale_events.down)
        }),
        ("back at minimum replicas", |s| s.scale_in.to_string()),
        ("replica-seconds", |s| {
            s.replica_seconds.map_or("–".into(), |r| {
                format!("{:.0} (0–{:.0} s)", r.total, r.window_s)
            })
        }),
        ("replica-seconds above minimum", |s| {
            s.replica_seconds
                .map_or("–".into(), |r| format!("{:.0}", r.above_min))
        }),
        ("orders processed", |s| opt(s.orders_processed)),
        ("end-to-end p50 ms", |s| {
            s.end_to_end
                .as_ref()
                .map_or("–".into(), |e| format!("{:.1}", e.p50_ms))
        }),
        ("end-to-end p99 ms", |s| {
            s.end_to_end
                .as_ref()
                .map_or("–".into(), |e| format!("{:.1}", e.p99_ms))
        }),
        ("audit", |s| match s.audit_passed {
            Some(true) => "PASS".into(),
            Some(false) => "**FAIL**".into(),
            None => "–".into(),
        }),
    ];
    let mut out = format!("| | {} |\n|---|", names.join(" | "));
    out.push_str(&"---:|".repeat(names.len()));
    out.push('\n');
    for (label, value) in rows {
        let values: Vec<String> = summaries.iter().map(|s| value(s)).collect();
        let _ = writeln!(out, "| {label} | {} |", values.join(" | "));
    }
    out
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// A table cell: no pipes or line breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn started(unix_ms: u128) -> String {
    let nanos = i128::try_from(unix_ms).unwrap_or(0) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| "at an unknown time".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_file::{AuditFile, CheckResult, SaleCounts};
    use crate::report::analysis::{Moment, ReplicaSeconds, ScaleEvents};
    use crate::results::{PhaseStats, RunResults};

    fn summary(drain: f64) -> Summary {
        Summary {
            spike: Some(PhaseStats {
                name: "spike".into(),
                target_rate: 1000.0,
                achieved_rate: 999.5,
                accepted: 59_000,
                p99_ms: 12.345,
                ..PhaseStats::default()
            }),
            spike_start_s: 30.0,
            spike_end_s: 90.0,
            peak_accepted_per_s: 1002,
            max_lag: Some(25_000),
            lag_floor: 12,
            drain: Moment::After(drain),
            peak_replicas: Some(6),
            peak_desired: Some(6),
            min_replicas: Some(1),
            scale_in: Moment::NotWithinRecording,
            first_scale_out: Moment::After(-4.0),
            enough_replicas: Moment::After(drain / 2.0),
            lag_peak: Moment::After(drain),
            scale_events: ScaleEvents { up: 2, down: 1 },
            replica_seconds: Some(ReplicaSeconds {
                total: 700.0,
                above_min: 500.0,
                window_s: 200.0,
            }),
            orders_processed: Some(60_000),
            last_processed_s: Some(130.0),
            end_to_end: None,
            audit_passed: Some(false),
        }
    }

    #[test]
    fn the_comparison_puts_runs_side_by_side() {
        let (a, b) = (summary(40.0), summary(12.0));
        let table = comparison_table(
            &["`upstream`".into(), "`partition-aware`".into()],
            &[&a, &b],
        );
        assert!(table.starts_with("| | `upstream` | `partition-aware` |\n|---|---:|---:|\n"));
        assert!(table.contains("| drain time | 40 s | 12 s |"), "{table}");
        assert!(table.contains("| spike start → first scale-out | -4 s | -4 s |"));
        assert!(table.contains("| spike start → peak replicas running | 20 s | 6 s |"));
        assert!(table.contains("| spike start → lag peak | 40 s | 12 s |"));
        assert!(table.contains("| scale events up / down | 2 / 1 | 2 / 1 |"));
        assert!(table.contains("| spike POST→202 p99 ms | 12.35 | 12.35 |"));
        assert!(table.contains(
            "| back at minimum replicas | not within the recording | not within the recording |"
        ));
        assert!(table.contains("| audit | **FAIL** | **FAIL** |"));
    }

    #[test]
    fn a_run_section_has_phases_summary_audit_and_images() {
        let run = Run {
            name: "upstream".into(),
            results: RunResults {
                target: "http://127.0.0.1:8080".into(),
                started_unix_ms: 1_700_000_000_000,
                phase_stats: vec![PhaseStats {
                    name: "baseline".into(),
                    target_rate: 50.0,
                    achieved_rate: 50.0,
                    sent: 1500,
                    accepted: 1470,
                    statuses: [("202".to_owned(), 1470), ("422".to_owned(), 30)].into(),
                    ..PhaseStats::default()
                }],
                ..RunResults::default()
            },
            syncs: Vec::new(),
            lag: Vec::new(),
            audit: Some(AuditFile {
                passed: false,
                checks: vec![CheckResult {
                    name: "no row for a refused request".into(),
                    ok: false,
                    detail: "a | b".into(),
                }],
                sale: SaleCounts {
                    sku: "FLASH-1".into(),
                    stock: 100,
                    remaining: Some(0),
                    confirmed: 100,
                    rejected: 7,
                },
                rows: 107,
                started_unix_ms: 1_700_000_000_000,
                processed_per_second: Vec::new(),
                end_to_end: None,
            }),
        };
        let s = summary(3.0);
        let images = [("request rate".to_owned(), "upstream-rate.svg".to_owned())];
        let missing = ["no lag samples: no consumer-group lag plot".to_owned()];
        let md = render(
            &[Section {
                run: &run,
                summary: &s,
                images: &images,
                missing: &missing,
            }],
            &[],
        );
        assert!(md.contains("## Run `upstream`"));
        assert!(md.contains("started 2023-11-14 22:13:20 UTC"), "{md}");
        assert!(
            md.contains("| baseline | 50 | 50.0 | 1500 | 1470 |"),
            "{md}"
        );
        assert!(md.contains("202: 1470, 422: 30"));
        assert!(md.contains("| no row for a refused request | **FAIL** | a \\| b |"));
        assert!(md.contains("stock 100, remaining 0, 100 confirmed, 7 rejected"));
        assert!(md.contains(
            "- drain time (spike end at 90 s → lag back to ≤ 12, its pre-spike level): 3 s"
        ));
        assert!(md.contains("![request rate](upstream-rate.svg)"));
        assert!(md.contains("- no lag samples"));
        assert!(!md.contains("## Comparison"), "one run has no comparison");
    }
}
