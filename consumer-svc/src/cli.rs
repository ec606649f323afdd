//! The command line: `consumer-svc [run | migrate | seed-stock --sku SKU --units N]`.
//!
//! Settings always come from the usual layers (`SURGE__DATABASE__URL`, …); the command
//! line only says what to do.

use std::time::Duration;

use anyhow::Context;

use crate::settings::Settings;
use crate::startup::Application;
use crate::store::Store;

pub const USAGE: &str = "\
usage: consumer-svc [COMMAND]

commands:
  run                                  join the consumer group and process orders (default)
  migrate                              apply the database migrations, then exit
  seed-stock --sku SKU --units N       set the units on sale for SKU (creates it), then exit
  help                                 print this text

Settings come from config/base.yaml, config/$SURGE_ENVIRONMENT.yaml and SURGE__* variables,
e.g. SURGE__DATABASE__URL=postgres://surge:surge@127.0.0.1:5432/surge.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run,
    Migrate,
    SeedStock { sku: String, units: i64 },
    Help,
}

impl Command {
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let args: Vec<String> = args.into_iter().collect();
        let rest = args.get(1..).unwrap_or_default();
        match args.first().map(String::as_str) {
            None | Some("run") if rest.is_empty() => Ok(Command::Run),
            Some("migrate") if rest.is_empty() => Ok(Command::Migrate),
            Some("help" | "--help" | "-h") => Ok(Command::Help),
            Some("seed-stock") => parse_seed(rest),
            _ => Err(format!("unexpected arguments: {}", args.join(" "))),
        }
    }
}

fn parse_seed(args: &[String]) -> Result<Command, String> {
    let (mut sku, mut units) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sku" => sku = Some(value.clone()),
            "--units" => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| format!("--units must be a whole number, not {value:?}"))?;
                if n < 0 {
                    return Err("--units cannot be negative".to_owned());
                }
                units = Some(n);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let sku = sku.ok_or("--sku is required")?;
    // The same rules as at the door, so a seeded SKU is one an order can name.
    order::OrderRequest {
        sku: sku.clone(),
        quantity: 1,
        customer_id: "seed".to_owned(),
    }
    .validate()
    .map_err(|errors| format!("invalid --sku: {}", errors[0].detail))?;
    let units = units.ok_or("--units is required")?;
    Ok(Command::SeedStock { sku, units })
}

/// Runs `command` with `settings`; `shutdown` stops a running service.
pub async fn execute(
    command: Command,
    settings: Settings,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::Run => {
            let application = Application::build(settings).await?;
            tracing::info!(port = application.port(), "consumer-svc listening");
            application.run_until_stopped(shutdown).await
        }
        Command::Migrate => {
            let pool = crate::db::pool(&settings.database)?;
            crate::db::migrate(&pool).await?;
            pool.close().await;
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
            tracing::info!(%sku, units, "stock seeded");
            println!("{sku}: {units} units on sale");
            pool.close().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Command::parse(args.iter().map(|s| (*s).to_owned()))
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
            (
                &["seed-stock", "--sku", "FLASH-1"][..],
                "--units is required",
            ),
            (
                &["seed-stock", "--sku", "A", "--units", "-1"][..],
                "negative",
            ),
            (
                &["seed-stock", "--sku", "A", "--units", "x"][..],
                "whole number",
            ),
            (
                &["seed-stock", "--sku", "no spaces", "--units", "1"][..],
                "invalid --sku",
            ),
            (&["seed-stock", "--sku"][..], "needs a value"),
            (&["migrate", "now"][..], "unexpected"),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
