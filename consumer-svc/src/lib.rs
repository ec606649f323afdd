//! consumer-svc: the consumer group that turns order events into PostgreSQL rows.
//!
//! Each replica joins the `orders-processor` group, reads its partitions in offset order,
//! and applies records in batches, one transaction per batch, so that every order gets
//! exactly one row and the stock is never oversold. Offsets are stored only after the
//! transaction commits; a crash therefore replays records, and replays change nothing.
//!
//! Layout, one idea per file:
//! - [`settings`]: the typed settings (defaults, `config/*.yaml`, `SURGE__…` variables).
//! - [`cli`]: the subcommands (`run`, `migrate`, `seed-stock`).
//! - [`startup`]: [`Application::build`] wires everything and runs until shut down.
//! - [`worker`]: the consume → batch → transaction → store-offsets loop, with retry and pause.
//! - [`batch`]: a batch of records and the offsets it completes.
//! - [`group`]: rebalance callbacks (commit on revoke, pause new partitions during an outage).
//! - [`store`]: the SQL: applying a batch, looking an order up, seeding stock.
//! - [`db`]: the connection pool and the embedded migrations.
//! - [`dlq`]: dead-lettering records that can never become orders.
//! - [`lag`]: per-partition lag of this replica's assignment.
//! - [`stock`]: units left per SKU as a gauge, refreshed from the `inventory` table.
//! - [`health`]: readiness from the database and the worker.
//! - [`backoff`]: capped exponential backoff for retries.
//! - [`metrics`]: metric names, descriptions and the recording helpers.
//! - [`routes`]: the HTTP endpoints.

pub mod backoff;
pub mod batch;
pub mod cli;
pub mod db;
pub mod dlq;
pub mod group;
pub mod health;
pub mod lag;
pub mod metrics;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod stock;
pub mod store;
pub mod worker;

pub use settings::Settings;
pub use startup::Application;
