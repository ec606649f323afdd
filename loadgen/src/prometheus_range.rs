//! Range queries against Prometheus's HTTP API (`/api/v1/query_range`): the values of
//! every series, for `loadgen recommend`.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _};
use serde_json::Value;

/// One series of a range query: its labels and its values in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub values: Vec<f64>,
}

/// The time window and resolution of a range query, Unix seconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: f64,
    pub end: f64,
    pub step: f64,
}

pub async fn query_range(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    window: Window,
) -> anyhow::Result<Vec<Series>> {
    let url = format!("{}/api/v1/query_range", base.trim_end_matches('/'));
    let body: Value = client
        .get(&url)
        .query(&[
            ("query", query.to_owned()),
            ("start", format!("{:.3}", window.start)),
            ("end", format!("{:.3}", window.end)),
            ("step", format!("{}", window.step)),
        ])
        .send()
        .await
        .with_context(|| format!("Prometheus at {base} does not answer"))?
        .json()
        .await
        .with_context(|| format!("Prometheus at {base}: the answer to {query} is not JSON"))?;
    parse(&body).with_context(|| format!("Prometheus at {base}, query {query}"))
}

/// The series of a `matrix` answer; an error answer becomes the error it names.
pub fn parse(body: &Value) -> anyhow::Result<Vec<Series>> {
    if body["status"] != "success" {
        bail!(
            "{}: {}",
            body["errorType"].as_str().unwrap_or("error"),
            body["error"].as_str().unwrap_or("no error message")
        );
    }
    let Some(result) = body["data"]["result"].as_array() else {
        bail!("the answer has no data.result");
    };
    result
        .iter()
        .map(|series| {
            let labels = series["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let values = series["values"]
                .as_array()
                .context("a series without values (not a range query?)")?
                .iter()
                // Prometheus writes values as strings, "NaN" and "+Inf" included.
                .filter_map(|pair| pair[1].as_str()?.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .collect();
            Ok(Series { labels, values })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_series_of_a_matrix_and_drops_values_that_are_not_numbers() {
        let body = serde_json::json!({
            "status": "success",
            "data": {"resultType": "matrix", "result": [
                {"metric": {"job": "producer-svc", "pod": "a"},
                 "values": [[1.0, "0.25"], [2.0, "NaN"], [3.0, "0.5"]]},
                {"metric": {"job": "producer-svc", "pod": "b"}, "values": [[1.0, "1e-3"]]}
            ]}
        });
        let series = parse(&body).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels["pod"], "a");
        assert_eq!(series[0].values, vec![0.25, 0.5]);
        assert_eq!(series[1].values, vec![0.001]);
    }

    #[test]
    fn an_error_answer_is_an_error_naming_it() {
        let body =
            serde_json::json!({"status": "error", "errorType": "bad_data", "error": "parse error"});
        let error = parse(&body).unwrap_err().to_string();
        assert!(
            error.contains("bad_data") && error.contains("parse error"),
            "{error}"
        );
    }
}
