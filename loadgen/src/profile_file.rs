//! Load profiles as YAML files, for shapes other than the built-in flash sale.
//!
//! ```yaml
//! phases:
//!   - { name: baseline, rate: 50, duration_s: 30 }
//!   - { name: spike, rate: 1000, duration_s: 60, hot: true }
//!   - { name: storm, rate: 2000, duration_s: 10, reconnect: true }  # a connection per request
//!   - { name: recovery, rate: 50, duration_s: 60 }
//! mix:                 # optional, and so is every field in it
//!   hot_sku: FLASH-1
//! ```
//!
//! A profile is checked completely before anything is sent: a typo in a field name or
//! a rate of 0 should fail in the first second, not show up as a strange run an hour
//! later. The same checks apply to the `flash-sale` flags ([`Profile::validate`]).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::profile::{Mix, Phase};

/// What a run sends: its phases, in order, and the request mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub phases: Vec<Phase>,
    pub mix: Mix,
}

/// Why a profile cannot be used. Each message names the file's field
/// (`phases[1].rate`, `mix.keyed_share`) or, for YAML errors, the line and column.
/// The messages already hold the underlying error, so none is chained as a source
/// (which would print it twice).
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{}", yaml_message(.0))]
    Yaml(serde_norway::Error),
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

/// serde_norway's message, which names the line and column of almost every error;
/// the one it leaves out (an error at the very first character) gets them added.
fn yaml_message(error: &serde_norway::Error) -> String {
    let message = error.to_string();
    match error.location() {
        Some(at) if !message.contains(" at line ") => {
            format!("{message} at line {} column {}", at.line(), at.column())
        }
        _ => message,
    }
}

/// The file as written; `duration_s` becomes [`Phase::duration`] once checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    // Defaulted so that a missing list gets the same message as an empty one.
    #[serde(default)]
    phases: Vec<PhaseEntry>,
    #[serde(default)]
    mix: Mix,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseEntry {
    name: String,
    rate: f64,
    duration_s: f64,
    #[serde(default)]
    hot: bool,
    #[serde(default)]
    reconnect: bool,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

impl Profile {
    /// Reads and checks a profile file.
    pub fn read(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|error| ProfileError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::from_yaml(&text)
    }

    /// Parses and checks a profile.
    pub fn from_yaml(yaml: &str) -> Result<Self, ProfileError> {
        let file: ProfileFile = serde_norway::from_str(yaml).map_err(ProfileError::Yaml)?;
        let phases = file
            .phases
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                // `Duration::from_secs_f64` panics on NaN, negative or huge values.
                let duration = Duration::try_from_secs_f64(entry.duration_s)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        invalid(
                            format!("phases[{i}].duration_s"),
                            format!("must be a number of seconds > 0, got {}", entry.duration_s),
                        )
                    })?;
                Ok(Phase {
                    name: entry.name,
                    rate: entry.rate,
                    duration,
                    hot: entry.hot,
                    reconnect: entry.reconnect,
                })
            })
            .collect::<Result<Vec<_>, ProfileError>>()?;
        let profile = Self {
            phases,
            mix: file.mix,
        };
        profile.validate()?;
        Ok(profile)
    }

    /// Checks what the file format cannot express by itself: at least one phase,
    /// rates and durations above zero, shares within [0, 1], a hot SKU, customers.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.phases.is_empty() {
            return Err(invalid("phases", "at least one phase is required"));
        }
        for (i, phase) in self.phases.iter().enumerate() {
            if phase.name.trim().is_empty() {
                return Err(invalid(format!("phases[{i}].name"), "must not be empty"));
            }
            if !(phase.rate.is_finite() && phase.rate > 0.0) {
                return Err(invalid(
                    format!("phases[{i}].rate"),
                    format!(
                        "must be a finite number of requests per second > 0, got {}",
                        phase.rate
                    ),
                ));
            }
            if phase.duration.is_zero() {
                return Err(invalid(
                    format!("phases[{i}].duration_s"),
                    "must be a number of seconds > 0, got 0",
                ));
            }
        }
        let mix = &self.mix;
        if mix.hot_sku.trim().is_empty() {
            return Err(invalid("mix.hot_sku", "must not be empty"));
        }
        if let Some(i) = mix.other_skus.iter().position(|s| s.trim().is_empty()) {
            return Err(invalid(format!("mix.other_skus[{i}]"), "must not be empty"));
        }
        if mix.customers == 0 {
            return Err(invalid("mix.customers", "must be at least 1"));
        }
        for (field, share) in [
            ("mix.hot_share_baseline", mix.hot_share_baseline),
            ("mix.keyed_share", mix.keyed_share),
            ("mix.retry_share", mix.retry_share),
            ("mix.invalid_share", mix.invalid_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(invalid(
                    field,
                    format!("must be within [0, 1], got {share}"),
                ));
            }
        }
        Ok(())
    }

    /// Every phase's duration multiplied by `scale` (0.25 for a quick run). An absurd
    /// product saturates instead of panicking like `Duration::mul_f64`.
    pub fn scaled(mut self, scale: f64) -> Self {
        for phase in &mut self.phases {
            phase.duration = Duration::try_from_secs_f64(phase.duration.as_secs_f64() * scale)
                .unwrap_or(Duration::MAX);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::flash_sale;

    fn shipped(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("profiles")
            .join(name)
    }

    /// The error for `yaml`, which must not parse.
    fn error(yaml: &str) -> ProfileError {
        match Profile::from_yaml(yaml) {
            Ok(profile) => panic!("accepted {profile:?}"),
            Err(e) => e,
        }
    }

    /// The field an `Invalid` error names.
    fn invalid_field(yaml: &str) -> String {
        let error = error(yaml);
        let message = error.to_string();
        match error {
            ProfileError::Invalid { field, problem } => {
                assert!(message.starts_with(&format!("{field}: ")), "{message}");
                assert!(!problem.is_empty());
                field
            }
            other => panic!("expected a field error, got: {other}"),
        }
    }

    const ONE_PHASE: &str = "phases:\n  - { name: only, rate: 10, duration_s: 1 }\n";

    #[test]
    fn the_shipped_flash_sale_file_is_the_built_in_profile() {
        let profile = Profile::read(&shipped("flash-sale.yaml")).expect("flash-sale.yaml");
        let built_in = flash_sale(
            50.0,
            20.0,
            Duration::from_secs(30),
            Duration::from_secs(60),
            Duration::from_secs(60),
            1.0,
        );
        assert_eq!(profile.phases, built_in);
        assert_eq!(profile.mix, Mix::default());
    }

    #[test]
    fn every_shipped_profile_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("profiles folder") {
            let path = entry.expect("profiles entry").path();
            Profile::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        names.sort();
        assert_eq!(
            names,
            [
                "double-spike.yaml",
                "flash-sale.yaml",
                "iot-fanin.yaml",
                "log-burst.yaml",
                "steady-10k.yaml"
            ]
        );
    }

    #[test]
    fn double_spike_has_two_hot_phases_with_a_pause_between() {
        let profile = Profile::read(&shipped("double-spike.yaml")).expect("double-spike.yaml");
        let hot: Vec<bool> = profile.phases.iter().map(|p| p.hot).collect();
        assert_eq!(hot, [false, true, false, true, false]);
        assert!(profile.phases[2].rate < profile.phases[1].rate);
    }

    #[test]
    fn mix_and_hot_are_optional_with_the_built_in_defaults() {
        let profile = Profile::from_yaml(ONE_PHASE).expect("valid");
        assert_eq!(profile.mix, Mix::default());
        assert!(!profile.phases[0].hot);
        let profile =
            Profile::from_yaml(&format!("{ONE_PHASE}mix: {{ customers: 7 }}\n")).expect("valid");
        assert_eq!(
            profile.mix,
            Mix {
                customers: 7,
                ..Mix::default()
            }
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name_and_place() {
        let top = error(&format!("{ONE_PHASE}mixx: {{}}\n")).to_string();
        assert!(
            top.contains("unknown field `mixx`") && top.contains("line 3"),
            "{top}"
        );
        let phase =
            error("phases:\n  - { name: a, rate: 1, duration_s: 1, hott: true }\n").to_string();
        assert!(phase.contains("phases[0]: unknown field `hott`"), "{phase}");
        let mix = error(&format!("{ONE_PHASE}mix:\n  hot_skus: X\n")).to_string();
        assert!(mix.contains("mix: unknown field `hot_skus`"), "{mix}");
        assert!(mix.contains("line 4 column 3"), "{mix}");
    }

    #[test]
    fn a_yaml_syntax_error_names_line_and_column() {
        let message =
            error("phases:\n  - { name: a, rate: 1, duration_s: 1 }\n mix: {}\n").to_string();
        assert!(message.contains("at line 3 column 2"), "{message}");
        let message = error("phases:\n\t- { name: a, rate: 1, duration_s: 1 }\n").to_string();
        assert!(message.contains("at line 2 column 1"), "{message}");
        // An error at the very first character still gets its place.
        let message = error("@oops").to_string();
        assert!(message.contains("line 1 column 1"), "{message}");
    }

    #[test]
    fn a_missing_required_phase_field_is_named() {
        let message = error("phases:\n  - { name: a, rate: 1 }\n").to_string();
        assert!(message.contains("missing field `duration_s`"), "{message}");
    }

    #[test]
    fn no_phases_is_refused() {
        assert_eq!(invalid_field("phases: []\n"), "phases");
        assert_eq!(invalid_field("mix: { hot_sku: X }\n"), "phases");
    }

    #[test]
    fn a_rate_that_is_not_a_positive_finite_number_is_refused() {
        for rate in ["0", "-5", ".nan", ".inf"] {
            let yaml = format!(
                "phases:\n  - {{ name: a, rate: 1, duration_s: 1 }}\n  - {{ name: b, rate: {rate}, duration_s: 1 }}\n"
            );
            assert_eq!(invalid_field(&yaml), "phases[1].rate", "rate {rate}");
        }
    }

    #[test]
    fn a_duration_that_is_not_positive_is_refused() {
        for duration in ["0", "-1", ".nan", "1e30"] {
            let yaml = format!("phases:\n  - {{ name: a, rate: 1, duration_s: {duration} }}\n");
            assert_eq!(invalid_field(&yaml), "phases[0].duration_s", "{duration}");
        }
    }

    #[test]
    fn an_empty_phase_name_is_refused() {
        let yaml = "phases:\n  - { name: '', rate: 1, duration_s: 1 }\n";
        assert_eq!(invalid_field(yaml), "phases[0].name");
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused() {
        for field in [
            "hot_share_baseline",
            "keyed_share",
            "retry_share",
            "invalid_share",
        ] {
            for value in ["-0.1", "1.5", ".nan"] {
                let yaml = format!("{ONE_PHASE}mix: {{ {field}: {value} }}\n");
                assert_eq!(invalid_field(&yaml), format!("mix.{field}"), "{value}");
            }
            let edges = format!("{ONE_PHASE}mix: {{ {field}: 0 }}\n");
            assert!(Profile::from_yaml(&edges).is_ok(), "{field}: 0");
            let edges = format!("{ONE_PHASE}mix: {{ {field}: 1 }}\n");
            assert!(Profile::from_yaml(&edges).is_ok(), "{field}: 1");
        }
    }

    #[test]
    fn an_empty_hot_sku_is_refused() {
        let yaml = format!("{ONE_PHASE}mix: {{ hot_sku: '' }}\n");
        assert_eq!(invalid_field(&yaml), "mix.hot_sku");
        let yaml = format!("{ONE_PHASE}mix: {{ other_skus: [A, ''] }}\n");
        assert_eq!(invalid_field(&yaml), "mix.other_skus[1]");
    }

    #[test]
    fn zero_customers_is_refused() {
        let yaml = format!("{ONE_PHASE}mix: {{ customers: 0 }}\n");
        assert_eq!(invalid_field(&yaml), "mix.customers");
    }

    #[test]
    fn scaling_multiplies_every_duration() {
        let profile = Profile::read(&shipped("flash-sale.yaml"))
            .expect("flash-sale.yaml")
            .scaled(0.5);
        let secs: Vec<u64> = profile
            .phases
            .iter()
            .map(|p| p.duration.as_secs())
            .collect();
        assert_eq!(secs, [15, 30, 30]);
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let message = Profile::read(Path::new("/no/such/profile.yaml"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("/no/such/profile.yaml"), "{message}");
    }
}
