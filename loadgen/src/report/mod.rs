//! `loadgen report`: one Markdown page with plots from one or more run folders.
//!
//! - [`run_dir`] reads a run's folder (results, HPA status history, audit).
//! - [`analysis`] computes the series and summary numbers, pure and unit-tested.
//! - [`plot`] draws SVG charts.
//! - [`markdown`] writes `report.md`.

pub mod analysis;
pub mod markdown;
pub mod plot;
pub mod run_dir;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use analysis::{Series, Summary};
use plot::{Chart, Line};
use run_dir::Run;

/// Reads every run folder, writes `out/report.md` and the SVGs beside it, and returns
/// the path of `report.md`.
pub fn write(out: &Path, run_dirs: &[PathBuf]) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(!run_dirs.is_empty(), "no run folder given");
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut runs = Vec::new();
    let mut names = HashSet::new();
    for dir in run_dirs {
        let mut run = Run::load(dir)?;
        // Two folders of the same name (from different parents) must not share files.
        let base = run.name.clone();
        let mut n = 2;
        while !names.insert(run.name.clone()) {
            run.name = format!("{base}-{n}");
            n += 1;
        }
        runs.push(run);
    }

    let analysed: Vec<(Series, Summary)> = runs
        .iter()
        .map(|run| {
            let series = analysis::series(run);
            let summary = analysis::summarize(run, &series);
            (series, summary)
        })
        .collect();
    let mut plots = Vec::new();
    for (run, (series, _)) in runs.iter().zip(&analysed) {
        plots.push(plot_run(out, run, series)?);
    }
    let comparison_images = if runs.len() >= 2 {
        plot_comparison(out, &runs, &analysed)?
    } else {
        Vec::new()
    };

    let sections: Vec<markdown::Section<'_>> = runs
        .iter()
        .zip(&analysed)
        .zip(&plots)
        .map(
            |((run, (_, summary)), (images, missing))| markdown::Section {
                run,
                summary,
                images,
                missing,
            },
        )
        .collect();
    let path = out.join("report.md");
    std::fs::write(&path, markdown::render(&sections, &comparison_images))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A run's name as a file name part.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

type Images = Vec<(String, String)>;

/// The five charts of one run; a chart without data is listed as missing instead.
fn plot_run(out: &Path, run: &Run, s: &Series) -> anyhow::Result<(Images, Vec<String>)> {
    let stem = file_stem(&run.name);
    let x_max = s.x_max();
    let line = |label: &str, points, color, steps| Line {
        label: label.to_owned(),
        points,
        color,
        steps,
        dashed: false,
    };
    let charts = [
        (
            "rate",
            "request rate",
            Chart {
                title: format!("{}: requests per second", run.name),
                y_label: "requests/s",
                lines: vec![
                    line("sent/s", &s.sent, plot::GREY, false),
                    line("202/s", &s.accepted, plot::GREEN, false),
                ],
                markers: &s.boundaries,
                x_max,
                log_y: false,
            },
            "no phases in results.json: no rate plot",
        ),
        (
            "latency",
            "POST → 202 latency",
            Chart {
                title: format!("{}: POST → 202 latency per second (log scale)", run.name),
                y_label: "ms",
                lines: vec![
                    line("p50", &s.p50_ms, plot::BLUE, false),
                    line("p99", &s.p99_ms, plot::RED, false),
                ],
                markers: &s.boundaries,
                x_max,
                log_y: true,
            },
            "no 202 responses: no latency plot",
        ),
        (
            "lag",
            "consumer-group lag",
            Chart {
                title: format!("{}: consumer-group lag", run.name),
                y_label: "messages",
                lines: vec![line("lag", &s.lag, plot::PURPLE, false)],
                markers: &s.boundaries,
                x_max,
                log_y: false,
            },
            "no lag samples (no hpa-history.jsonl, and the run scraped none): no lag plot",
        ),
        (
            "replicas",
            "consumer replicas",
            Chart {
                title: format!("{}: consumer replicas", run.name),
                y_label: "replicas",
                // Desired dashed on top: where the two agree, both stay visible.
                lines: vec![
                    line("current", &s.replicas_current, plot::BLUE, true),
                    Line {
                        dashed: true,
                        ..line("desired", &s.replicas_desired, plot::ORANGE, true)
                    },
                ],
                markers: &s.boundaries,
                x_max,
                log_y: false,
            },
            "no replica samples (no hpa-history.jsonl, and the run scraped none): no replicas plot",
        ),
        (
            "processed",
            "orders processed per second",
            Chart {
                title: format!("{}: orders processed per second (PostgreSQL)", run.name),
                y_label: "orders/s",
                lines: vec![line("processed/s", &s.processed, plot::GREEN, false)],
                markers: &s.boundaries,
                x_max,
                log_y: false,
            },
            "no audit.json with processed orders: no processed-orders plot",
        ),
    ];
    let mut images = Vec::new();
    let mut missing = Vec::new();
    for (kind, caption, mut chart, why_missing) in charts {
        chart.lines.retain(|l| !l.points.is_empty());
        if chart.lines.is_empty() {
            missing.push(why_missing.to_owned());
            continue;
        }
        let file = format!("{stem}-{kind}.svg");
        plot::draw(&out.join(&file), &chart).with_context(|| format!("drawing {file}"))?;
        images.push((format!("{}: {caption}", run.name), file));
    }
    Ok((images, missing))
}

/// Lag and replicas of every run on one chart each, markers from the first run.
fn plot_comparison(
    out: &Path,
    runs: &[Run],
    analysed: &[(Series, Summary)],
) -> anyhow::Result<Images> {
    let x_max = analysed.iter().map(|(s, _)| s.x_max()).fold(1.0, f64::max);
    let markers = &analysed[0].0.boundaries;
    let mut images = Vec::new();
    type Pick = fn(&Series) -> &analysis::Points;
    let per_run: [(&str, &str, &str, Pick, bool); 3] = [
        ("rate", "202/s", "requests/s", |s| &s.accepted, false),
        ("lag", "consumer-group lag", "messages", |s| &s.lag, false),
        (
            "replicas",
            "consumer replicas (current)",
            "replicas",
            |s| &s.replicas_current,
            true,
        ),
    ];
    for (kind, caption, y_label, pick, steps) in per_run {
        let lines: Vec<Line<'_>> = runs
            .iter()
            .zip(analysed)
            .enumerate()
            .filter(|(_, (_, (s, _)))| !pick(s).is_empty())
            .map(|(i, (run, (s, _)))| Line {
                label: run.name.clone(),
                points: pick(s),
                color: plot::PALETTE[i % plot::PALETTE.len()],
                steps,
                dashed: false,
            })
            .collect();
        if lines.len() < 2 {
            continue;
        }
        let file = format!("compare-{kind}.svg");
        plot::draw(
            &out.join(&file),
            &Chart {
                title: format!("all runs: {caption}"),
                y_label,
                lines,
                markers,
                x_max,
                log_y: false,
            },
        )
        .with_context(|| format!("drawing {file}"))?;
        images.push((format!("all runs: {caption}"), file));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_become_safe_file_names() {
        assert_eq!(file_stem("partition-aware"), "partition-aware");
        assert_eq!(file_stem("a b/c"), "a_b_c");
    }
}
