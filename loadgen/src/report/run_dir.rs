//! One run's folder: `results.json` (required), `autoscaler.csv` and `audit.json`
//! (optional). The folder's name is the run's name in the report.

use std::path::Path;

use anyhow::Context as _;

use crate::audit_file::AuditFile;
use crate::results::RunResults;

/// What the report knows about one run.
#[derive(Debug, Clone)]
pub struct Run {
    pub name: String,
    pub results: RunResults,
    /// The local autoscaler's syncs, oldest first; empty without `autoscaler.csv`.
    pub syncs: Vec<Sync>,
    pub audit: Option<AuditFile>,
}

/// One row of the autoscaler's timeline CSV (`unix_ms,lag,current,recommended,desired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sync {
    pub unix_ms: u128,
    /// `None` when the lag read failed at that sync.
    pub lag: Option<i64>,
    pub current: u32,
    pub recommended: u32,
    pub desired: u32,
}

impl Run {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let name = dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".to_owned());
        let results_path = dir.join("results.json");
        let results = RunResults::read(&results_path)
            .with_context(|| format!("reading {}", results_path.display()))?;
        let csv_path = dir.join("autoscaler.csv");
        let syncs = match std::fs::read_to_string(&csv_path) {
            Ok(text) => parse_autoscaler_csv(&text)
                .with_context(|| format!("reading {}", csv_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", csv_path.display())),
        };
        let audit_path = dir.join("audit.json");
        let audit = if audit_path.exists() {
            Some(
                AuditFile::read(&audit_path)
                    .with_context(|| format!("reading {}", audit_path.display()))?,
            )
        } else {
            None
        };
        Ok(Self {
            name,
            results,
            syncs,
            audit,
        })
    }
}

/// Parses the autoscaler's timeline. A last line without its newline is ignored (the
/// autoscaler was stopped while writing it); any other malformed line is an error.
pub fn parse_autoscaler_csv(text: &str) -> anyhow::Result<Vec<Sync>> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    let unterminated = lines.pop().filter(|l| !l.trim().is_empty());
    let mut syncs = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with("unix_ms") {
            continue;
        }
        syncs.push(parse_sync(line).with_context(|| format!("line {}: {line:?}", index + 1))?);
    }
    if let Some(Ok(sync)) = unterminated.map(parse_sync) {
        syncs.push(sync);
    }
    Ok(syncs)
}

fn parse_sync(line: &str) -> anyhow::Result<Sync> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [unix_ms, lag, current, recommended, desired] = fields[..] else {
        anyhow::bail!("expected 5 fields");
    };
    Ok(Sync {
        unix_ms: unix_ms.parse()?,
        lag: if lag.is_empty() {
            None
        } else {
            Some(lag.parse()?)
        },
        current: current.parse()?,
        recommended: recommended.parse()?,
        desired: desired.parse()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_autoscaler_timeline_with_a_missing_lag() {
        let text = "unix_ms,lag,current,recommended,desired\n\
                    1000,12,1,1,1\n\
                    2000,,1,3,3\n\
                    3000,5000,3,4,4\n";
        let syncs = parse_autoscaler_csv(text).unwrap();
        assert_eq!(syncs.len(), 3);
        assert_eq!(syncs[1].lag, None);
        assert_eq!(
            syncs[2],
            Sync {
                unix_ms: 3000,
                lag: Some(5000),
                current: 3,
                recommended: 4,
                desired: 4
            }
        );
    }

    #[test]
    fn a_cut_off_last_line_is_ignored_but_a_broken_middle_line_is_an_error() {
        let cut = "unix_ms,lag,current,recommended,desired\n1000,1,1,1,1\n2000,3,";
        assert_eq!(parse_autoscaler_csv(cut).unwrap().len(), 1);
        let complete_last = "unix_ms,lag,current,recommended,desired\n1000,1,1,1,1\n2000,3,2,2,2";
        assert_eq!(parse_autoscaler_csv(complete_last).unwrap().len(), 2);
        let broken = "unix_ms,lag,current,recommended,desired\n1000,x,1,1,1\n2000,3,2,2,2\n";
        let error = parse_autoscaler_csv(broken).unwrap_err();
        assert!(format!("{error:#}").contains("line 2"), "{error:#}");
    }
}
