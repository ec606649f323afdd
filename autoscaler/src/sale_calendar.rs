//! Pre-scaling for sales whose start is known: a calendar the operator writes becomes
//! Prometheus recording rules, which prometheus-adapter serves as the External metric
//! `surge_sale_calendar_replicas` (k8s/components/predictive-scaling).
//!
//! Each entry asks for `replicas` consumers from `lead_s` before its start until
//! `hold_s` after it, and for nothing outside that window. The HPA takes the largest of
//! its metrics, so the entry only sets a floor while it is due: the lag can still ask
//! for more, and once the window closes the consumers come back by the HPA's ordinary
//! scale-down rules. Whole windows live in the rule expression (`time()` against two
//! instants), so Prometheus evaluates the calendar itself; nothing of ours has to run
//! at the moment a sale opens.
//!
//! ```yaml
//! consumergroup: orders-processor   # default
//! topic: orders                     # default
//! sales:
//!   - name: black-friday
//!     start: 2026-11-27T09:00:00Z   # RFC 3339
//!     replicas: 12
//!     lead_s: 120                   # default 120: consumers started and in the group
//!     hold_s: 300                   # default 300: then the lag decides
//! ```

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use time::OffsetDateTime;

/// The recorded series; scaling.yml defines its floor (sale="none").
pub const RECORD: &str = "surge:sale_calendar:replicas";
/// Longest lead or hold accepted: a day. Longer is a schedule, not a sale.
const MAX_WINDOW_S: u64 = 86_400;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    #[serde(default = "default_group")]
    pub consumergroup: String,
    #[serde(default = "default_topic")]
    pub topic: String,
    #[serde(default)]
    pub sales: Vec<Sale>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sale {
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub replicas: u32,
    #[serde(default = "default_lead")]
    pub lead_s: u64,
    #[serde(default = "default_hold")]
    pub hold_s: u64,
}

fn default_group() -> String {
    "orders-processor".into()
}
fn default_topic() -> String {
    "orders".into()
}
fn default_lead() -> u64 {
    120
}
fn default_hold() -> u64 {
    300
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalendarError {
    #[error("not a sale calendar: {0}")]
    Syntax(String),
    #[error("sale {index}: {message}")]
    Sale { index: usize, message: String },
    #[error("{0}")]
    Calendar(String),
}

impl Sale {
    /// Unix seconds from which the entry asks for its replicas, and until which.
    pub fn window(&self) -> (i64, i64) {
        let start = self.start.unix_timestamp();
        (start - self.lead_s as i64, start + self.hold_s as i64)
    }
}

/// Parses and checks a calendar: every problem is named with the entry it is in.
pub fn parse(text: &str) -> Result<Calendar, CalendarError> {
    let calendar: Calendar =
        serde_norway::from_str(text).map_err(|e| CalendarError::Syntax(e.to_string()))?;
    for (what, value) in [
        ("consumergroup", &calendar.consumergroup),
        ("topic", &calendar.topic),
    ] {
        if !is_label_value(value) {
            return Err(CalendarError::Calendar(format!(
                "{what} {value:?} must be 1-249 characters of letters, digits, '.', '_' or '-'"
            )));
        }
    }
    let mut names = HashSet::new();
    for (index, sale) in calendar.sales.iter().enumerate() {
        let fail = |message: String| CalendarError::Sale { index, message };
        if !is_label_value(&sale.name) || sale.name == "none" {
            return Err(fail(format!(
                "name {:?} must be letters, digits, '.', '_' or '-' (and not \"none\", the floor's)",
                sale.name
            )));
        }
        if !names.insert(sale.name.as_str()) {
            return Err(fail(format!("name {:?} is used twice", sale.name)));
        }
        if sale.replicas == 0 {
            return Err(fail(format!(
                "{}: replicas must be at least 1 (leave the sale out instead)",
                sale.name
            )));
        }
        if sale.lead_s > MAX_WINDOW_S || sale.hold_s > MAX_WINDOW_S {
            return Err(fail(format!(
                "{}: lead_s and hold_s must be at most {MAX_WINDOW_S} (a day)",
                sale.name
            )));
        }
        if sale.lead_s + sale.hold_s == 0 {
            return Err(fail(format!(
                "{}: lead_s and hold_s are both 0, so the entry is never due",
                sale.name
            )));
        }
    }
    Ok(calendar)
}

fn is_label_value(value: &str) -> bool {
    (1..250).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The calendar as a Prometheus rule file (group `surge.sale-calendar`), or, with
/// `prometheus_rule` = Some(name), as a Prometheus Operator `PrometheusRule` of that name.
pub fn render(calendar: &Calendar, source: &str, prometheus_rule: Option<&str>) -> String {
    let mut out = format!(
        "# GENERATED by `autoscaler sale-calendar` from {source}; edit the calendar, not this.\n\
         # {RECORD} asks for consumers while an entry is due (docs in autoscaler/src/sale_calendar.rs).\n"
    );
    let indent = if let Some(name) = prometheus_rule {
        let _ = write!(
            out,
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: {name}\n  labels:\n    app.kubernetes.io/name: surge\n    release: kube-prometheus-stack\nspec:\n"
        );
        "  "
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{indent}groups:\n{indent}  - name: surge.sale-calendar"
    );
    if calendar.sales.is_empty() {
        let _ = writeln!(out, "{indent}    rules: []");
        return out;
    }
    let _ = writeln!(out, "{indent}    rules:");
    for sale in &calendar.sales {
        let (from, until) = sale.window();
        let _ = writeln!(
            out,
            "{indent}      # {name}: {replicas} consumers from {lead} s before {start} to {hold} s after it\n\
             {indent}      - record: {RECORD}\n\
             {indent}        labels:\n\
             {indent}          consumergroup: {group}\n\
             {indent}          topic: {topic}\n\
             {indent}          sale: {name}\n\
             {indent}        expr: vector({replicas}) and on() (vector(time()) >= {from} < {until})",
            name = sale.name,
            replicas = sale.replicas,
            lead = sale.lead_s,
            hold = sale.hold_s,
            start = sale
                .start
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| sale.start.unix_timestamp().to_string()),
            group = calendar.consumergroup,
            topic = calendar.topic,
        );
    }
    out
}

/// `autoscaler sale-calendar`: reads the calendar (`-` = standard input), writes the
/// rules to `out` (a temporary file renamed into place, so Prometheus never loads half
/// a file) or to standard output.
pub fn run(file: &Path, prometheus_rule: Option<&str>, out: Option<&Path>) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    let calendar = parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let rules = render(&calendar, &file.display().to_string(), prometheus_rule);
    match out {
        None => print!("{rules}"),
        Some(path) => {
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".tmp");
            std::fs::write(&tmp, rules)
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALENDAR: &str = "
sales:
  - name: black-friday
    start: 2026-11-27T09:00:00Z
    replicas: 12
  - name: launch
    start: 2026-12-01T18:30:00+01:00
    replicas: 6
    lead_s: 60
    hold_s: 0
";

    #[test]
    fn defaults_fill_group_topic_lead_and_hold() {
        let c = parse(CALENDAR).unwrap();
        assert_eq!(c.consumergroup, "orders-processor");
        assert_eq!(c.topic, "orders");
        let start = 1_795_770_000; // 2026-11-27T09:00:00Z
        assert_eq!(c.sales[0].window(), (start - 120, start + 300));
        // 18:30 at +01:00 is 17:30 UTC.
        let launch = 1_796_146_200;
        assert_eq!(c.sales[1].window(), (launch - 60, launch));
    }

    #[test]
    fn each_sale_becomes_one_rule_with_its_window() {
        let text = render(&parse(CALENDAR).unwrap(), "sales.yaml", None);
        assert!(text.contains("from sales.yaml"));
        assert!(
            text.contains("expr: vector(12) and on() (vector(time()) >= 1795769880 < 1795770300)")
        );
        assert!(
            text.contains("expr: vector(6) and on() (vector(time()) >= 1796146140 < 1796146200)")
        );
        assert_eq!(
            text.matches("record: surge:sale_calendar:replicas").count(),
            2
        );
        let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
        let rule = &doc["groups"][0]["rules"][0];
        assert_eq!(rule["labels"]["sale"], "black-friday");
        assert_eq!(rule["labels"]["consumergroup"], "orders-processor");
    }

    #[test]
    fn as_a_prometheus_rule_the_groups_go_under_spec() {
        let text = render(&parse(CALENDAR).unwrap(), "sales.yaml", Some("surge-sales"));
        let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(doc["kind"], "PrometheusRule");
        assert_eq!(doc["metadata"]["name"], "surge-sales");
        assert_eq!(
            doc["spec"]["groups"][0]["rules"][1]["labels"]["sale"],
            "launch"
        );
    }

    #[test]
    fn an_empty_calendar_is_a_group_without_rules() {
        let text = render(&parse("sales: []").unwrap(), "-", None);
        let doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(doc["groups"][0]["rules"], serde_json::json!([]));
    }

    #[test]
    fn bad_entries_are_refused_with_the_entry_named() {
        let refused = |text: &str| parse(text).unwrap_err().to_string();
        let sale = |fields: &str| {
            format!("sales:\n  - {{name: a, start: 2026-11-27T09:00:00Z, {fields}}}\n")
        };
        assert!(refused(&sale("replicas: 0")).contains("sale 0: a: replicas must be at least 1"));
        assert!(refused(&sale("replicas: 2, lead_s: 0, hold_s: 0")).contains("never due"));
        assert!(refused(&sale("replicas: 2, lead_s: 90000")).contains("at most 86400"));
        assert!(refused(&sale("replicas: 2, extra: 1")).contains("unknown field `extra`"));
        assert!(refused(&sale("replicas: -1")).starts_with("not a sale calendar"));
        assert!(refused(
            "sales:\n  - {name: a, start: 2026-11-27T09:00:00Z, replicas: 1}\n  - {name: a, start: 2026-11-28T09:00:00Z, replicas: 1}\n"
        )
        .contains("sale 1: name \"a\" is used twice"));
        assert!(
            refused("sales:\n  - {name: none, start: 2026-11-27T09:00:00Z, replicas: 1}\n")
                .contains("not \"none\"")
        );
        assert!(
            refused("sales:\n  - {name: \"a b\", start: 2026-11-27T09:00:00Z, replicas: 1}\n")
                .contains("sale 0: name \"a b\"")
        );
        assert!(
            refused("sales:\n  - {name: a, start: tomorrow, replicas: 1}\n")
                .starts_with("not a sale calendar")
        );
        assert!(refused("topic: \"orders}\"\n").contains("topic \"orders}\""));
    }
}
