//! The command line: `consumer-svc [run | migrate | seed-stock --sku SKU --units N]`.
//!
//! Settings always come from the usual layers (`SURGE__DATABASE__URL`, …); the command
//! line only says what to do. The one-shot commands answer a person (or a Job's log) with
//! one line on stdout; their logs stay at `warn` unless `RUST_LOG` asks for more, so the
//! PostgreSQL notices sqlx logs at `info` (`relation "_sqlx_migrations" already exists`)
//! do not bury that line.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use common::settings::LogSettings;

use crate::settings::Settings;
use crate::startup::Application;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "consumer-svc",
    version,
    about = "surge processing: the consumer group that turns orders into PostgreSQL rows.",
    after_help = "Settings come from config/base.yaml, config/$SURGE_ENVIRONMENT.yaml and \
                  SURGE__* variables, e.g. \
                  SURGE__DATABASE__URL=postgres://surge:surge@127.0.0.1:5432/surge."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

impl Cli {
    /// What to do; no subcommand means `run`.
    pub fn command(self) -> Command {
        self.command.unwrap_or(Command::Run)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Join the consumer group and process orders (the default).
    Run,
    /// Apply the database migrations, then exit.
    Migrate,
    /// Set the units on sale for a SKU (creating it), then exit.
    SeedStock {
        /// The SKU, under the same rules as an order's (`order::OrderRequest`).
        #[arg(long, value_parser = parse_sku)]
        sku: String,
        /// Units on sale, 0 or more.
        #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(0..))]
        units: i64,
    },
}

impl Command {
    /// The log settings for this command: the configured ones for the service, `warn` for
    /// a one-shot command (`RUST_LOG` still wins, see `common::telemetry`).
    pub fn log_settings(&self, configured: &LogSettings) -> LogSettings {
        match self {
            Command::Run => configured.clone(),
            Command::Migrate | Command::SeedStock { .. } => LogSettings {
                level: "warn".to_owned(),
                ..configured.clone()
            },
        }
    }
}

/// The same rules as at the door, so a seeded SKU is one an order can name.
fn parse_sku(sku: &str) -> Result<String, String> {
    order::OrderRequest {
        sku: sku.to_owned(),
        quantity: 1,
        customer_id: "seed".to_owned(),
    }
    .validate()
    .map(|valid| valid.sku)
    .map_err(|errors| {
        errors
            .into_iter()
            .map(|e| e.detail)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Runs `command` with `settings`; `shutdown` stops a running service.
pub async fn execute(
    command: Command,
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    match command {
        Command::Run => {
            let application = Application::build(settings).await?;
            tracing::info!(port = application.port(), "consumer-svc listening");
            application.run_until_stopped(shutdown).await
        }
        Command::Migrate => {
            let pool = crate::db::pool(&settings.database)?;
            crate::db::migrate(&pool).await?;
            pool.close().await;
            println!(
                "database schema is up to date ({} migrations)",
                crate::db::MIGRATOR.iter().count()
            );
            Ok(())
        }
        Command::SeedStock { sku, units } => {
            let pool = crate::db::pool(&settings.database)?;
            crate::db::migrate(&pool).await?;
            let store = Store::new(pool.clone());
            tokio::time::timeout(Duration::from_secs(30), store.seed_stock(&sku, units))
                .await
                .context("seeding stock timed out")?
                .context("seeding stock")?;
            pool.close().await;
            println!("{sku}: {units} units on sale");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Cli::try_parse_from(std::iter::once("consumer-svc").chain(args.iter().copied()))
            .map(Cli::command)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn no_arguments_runs_the_service() {
        assert_eq!(parse(&[]), Ok(Command::Run));
        assert_eq!(parse(&["run"]), Ok(Command::Run));
        assert_eq!(parse(&["migrate"]), Ok(Command::Migrate));
    }

    #[test]
    fn seed_stock_takes_a_sku_and_units_in_any_order() {
        let expected = Ok(Command::SeedStock {
            sku: "FLASH-1".to_owned(),
            units: 100,
        });
        assert_eq!(
            parse(&["seed-stock", "--sku", "FLASH-1", "--units", "100"]),
            expected
        );
        assert_eq!(
            parse(&["seed-stock", "--units", "100", "--sku", "FLASH-1"]),
            expected
        );
    }

    #[test]
    fn seed_stock_rejects_bad_input_with_a_reason() {
        for (args, needle) in [
            (&["seed-stock", "--sku", "FLASH-1"][..], "--units"),
            (&["seed-stock", "--sku", "A", "--units", "-1"][..], "-1"),
            (&["seed-stock", "--sku", "A", "--units", "x"][..], "'x'"),
            (
                &["seed-stock", "--sku", "no spaces", "--units", "1"][..],
                "must be 1-64 characters",
            ),
            (&["seed-stock", "--sku"][..], "--sku"),
            (&["migrate", "now"][..], "'now'"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn one_shot_commands_log_at_warn_and_the_service_as_configured() {
        let configured = LogSettings::default();
        assert_eq!(Command::Run.log_settings(&configured), configured);
        assert_eq!(Command::Migrate.log_settings(&configured).level, "warn");
    }
}
