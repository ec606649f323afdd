//! The SQL: applying a batch of orders, looking an order up, seeding stock.
//!
//! A batch is one transaction:
//! 1. lock the inventory rows of every SKU in the batch, in SKU order
//!    (`SELECT … ORDER BY sku FOR UPDATE`). Replicas applying batches that share SKUs
//!    queue on these row locks instead of deadlocking, and while the locks are held
//!    nobody else can change those stock levels;
//! 2. per record, in offset order: insert the order `ON CONFLICT (order_id) DO NOTHING`.
//!    No row inserted means the order already exists (a redelivery, or a retried request
//!    that reused its `Idempotency-Key`): nothing else happens for it. A new confirmed
//!    order then decrements the stock with a conditional update
//!    (`remaining >= quantity … RETURNING remaining`), which the locks guarantee to
//!    succeed, and the `CHECK (remaining >= 0)` would refuse if it ever did not;
//! 3. commit. Only then does the worker store the batch's offsets. The stock levels the
//!    transaction locked and updated are what the batch's SKUs hold after the commit
//!    (nobody else could change them meanwhile), which is what `surge_stock_remaining`
//!    reports for them.
//!
//! Queries are checked at run time (`sqlx::query`), so building never needs a database.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use order::OrderEvent;

/// What processing one order event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Confirmed,
    RejectedSoldOut,
    RejectedUnknownSku,
    /// The order already had its row; nothing changed.
    Duplicate,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Confirmed,
        Outcome::RejectedSoldOut,
        Outcome::RejectedUnknownSku,
        Outcome::Duplicate,
    ];

    /// The `outcome` label of `surge_orders_processed_total`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::RejectedSoldOut => "rejected_sold_out",
            Outcome::RejectedUnknownSku => "rejected_unknown_sku",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// What a new order becomes, decided from the locked stock levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Confirm,
    SoldOut,
    UnknownSku,
}

impl Decision {
    /// `(status, reason)` as stored in `orders`.
    fn status_and_reason(self) -> (&'static str, Option<&'static str>) {
        match self {
            Decision::Confirm => ("confirmed", None),
            Decision::SoldOut => ("rejected", Some("sold_out")),
            Decision::UnknownSku => ("rejected", Some("unknown_sku")),
        }
    }

    fn outcome(self) -> Outcome {
        match self {
            Decision::Confirm => Outcome::Confirmed,
            Decision::SoldOut => Outcome::RejectedSoldOut,
            Decision::UnknownSku => Outcome::RejectedUnknownSku,
        }
    }
}

/// An order event waiting for its transaction, with where it came from.
#[derive(Debug)]
pub struct PendingOrder {
    pub event: OrderEvent,
    pub partition: i32,
    pub offset: i64,
    /// The record's `process` span; its statements run inside it.
    pub span: tracing::Span,
}

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct Committed {
    /// Per order, in the order given.
    pub outcomes: Vec<Outcome>,
    /// Units left after the commit for every SKU of the batch that is on sale.
    pub stock: HashMap<String, i64>,
}

/// Why a batch did not commit. Every variant is retried: none of them says anything
/// about the records themselves, which were validated before they got here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stock of {sku} changed while its row was locked")]
    StockChanged { sku: String },
    #[error("the transaction did not finish within {0:?}")]
    TimedOut(std::time::Duration),
}

/// An order as `GET /v1/orders/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: Uuid,
    pub status: String,
    pub reason: Option<String>,
    pub sku: String,
    pub quantity: i32,
    pub customer_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub accepted_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub processed_at: OffsetDateTime,
    #[serde(rename = "partition")]
    pub kafka_partition: i32,
    #[serde(rename = "offset")]
    pub kafka_offset: i64,
}

/// One client span per statement, after the OpenTelemetry database conventions: named
/// `{db.operation.name} {db.collection.name}`, with the parameterized query text (values
/// are bound, never part of it) and where it ran. `db.system` repeats `db.system.name` for
/// backends that still key on the older attribute.
macro_rules! db_span {
    ($target:expr, $operation:literal, $table:literal, $query:expr) => {
        tracing::info_span!(
            concat!($operation, " ", $table),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            db.system.name = "postgresql",
            db.system = "postgresql",
            db.operation.name = $operation,
            db.collection.name = $table,
            db.query.text = $query,
            db.namespace = %$target.namespace,
            server.address = %$target.address,
            server.port = $target.port,
        )
    };
    ($target:expr, $operation:literal) => {
        tracing::info_span!(
            $operation,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            db.system.name = "postgresql",
            db.system = "postgresql",
            db.operation.name = $operation,
            db.query.text = $operation,
            db.namespace = %$target.namespace,
            server.address = %$target.address,
            server.port = $target.port,
        )
    };
}

const LOCK_STOCK: &str =
    "SELECT sku, remaining FROM inventory WHERE sku = ANY($1) ORDER BY sku FOR UPDATE";
const INSERT_ORDER: &str = "INSERT INTO orders (order_id, customer_id, sku, quantity, status, \
     reason, kafka_partition, kafka_offset, accepted_at, processed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) ON CONFLICT (order_id) DO NOTHING";
const TAKE_STOCK: &str = "UPDATE inventory SET remaining = remaining - $2 \
     WHERE sku = $1 AND remaining >= $2 RETURNING remaining";
const FIND_ORDER: &str = "SELECT order_id, status, reason, sku, quantity, customer_id, \
     accepted_at, processed_at, kafka_partition, kafka_offset FROM orders WHERE order_id = $1";

/// Where the statements run, for the spans: `db.namespace`, `server.address`, `server.port`.
#[derive(Debug)]
struct DbTarget {
    namespace: String,
    address: String,
    port: u16,
}

impl DbTarget {
    fn of(pool: &PgPool) -> Self {
        let options = pool.connect_options();
        Self {
            namespace: options.get_database().unwrap_or_default().to_owned(),
            address: options.get_host().to_owned(),
            port: options.get_port(),
        }
    }
}

/// Runs `fut` in `span` and marks the span as failed when it fails.
async fn traced<T, E>(
    span: tracing::Span,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let result = fut.instrument(span.clone()).await;
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    target: Arc<DbTarget>,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        let target = Arc::new(DbTarget::of(&pool));
        Self { pool, target }
    }

    /// Applies `orders` (in the order given, which is offset order per partition) in one
    /// transaction and returns each one's outcome and the SKUs' stock after it, or
    /// nothing at all on error.
    pub async fn apply_batch(&self, orders: &[PendingOrder]) -> Result<Committed, StoreError> {
        let target = &*self.target;
        let mut tx = traced(db_span!(target, "BEGIN"), self.pool.begin()).await?;
        let mut skus: Vec<String> = orders.iter().map(|o| o.event.sku.clone()).collect();
        skus.sort_unstable();
        skus.dedup();
        let rows = traced(
            db_span!(target, "SELECT", "inventory", LOCK_STOCK),
            sqlx::query(LOCK_STOCK).bind(&skus).fetch_all(&mut *tx),
        )
        .await?;
        let mut stock = HashMap::with_capacity(rows.len());
        for row in rows {
            stock.insert(row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?);
        }
        let mut outcomes = Vec::with_capacity(orders.len());
        for order in orders {
            let outcome = apply_one(&mut tx, target, &mut stock, order)
                .instrument(order.span.clone())
                .await?;
            outcomes.push(outcome);
        }
        traced(db_span!(target, "COMMIT"), tx.commit()).await?;
        Ok(Committed { outcomes, stock })
    }

    pub async fn find_order(&self, order_id: Uuid) -> Result<Option<OrderRow>, sqlx::Error> {
        traced(
            db_span!(self.target, "SELECT", "orders", FIND_ORDER),
            sqlx::query_as::<_, OrderRow>(FIND_ORDER)
                .bind(order_id)
                .fetch_optional(&self.pool),
        )
        .await
    }

    /// Sets the units on sale for `sku` (creating the SKU if needed). Setting, not
    /// adding, so running the same seed command twice leaves the same stock.
    pub async fn seed_stock(&self, sku: &str, units: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO inventory (sku, remaining) VALUES ($1, $2) \
             ON CONFLICT (sku) DO UPDATE SET remaining = EXCLUDED.remaining",
        )
        .bind(sku)
        .bind(units)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Units left for every SKU on sale. One statement over the whole (small) table.
    pub async fn stock_levels(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT sku, remaining FROM inventory")
            .fetch_all(&self.pool)
            .await
    }

    /// Units left for `sku`, if it is on sale.
    pub async fn remaining(&self, sku: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT remaining FROM inventory WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&self.pool)
            .await
    }

    /// The readiness check: can a connection run a statement?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

async fn apply_one(
    tx: &mut PgConnection,
    target: &DbTarget,
    stock: &mut HashMap<String, i64>,
    order: &PendingOrder,
) -> Result<Outcome, StoreError> {
    let event = &order.event;
    let quantity = i64::from(event.quantity);
    let decision = match stock.get(&event.sku) {
        None => Decision::UnknownSku,
        Some(&remaining) if remaining >= quantity => Decision::Confirm,
        Some(_) => Decision::SoldOut,
    };
    let (status, reason) = decision.status_and_reason();
    let inserted = traced(
        db_span!(target, "INSERT", "orders", INSERT_ORDER),
        sqlx::query(INSERT_ORDER)
            .bind(event.order_id)
            .bind(&event.customer_id)
            .bind(&event.sku)
            .bind(quantity as i32)
            .bind(status)
            .bind(reason)
            .bind(order.partition)
            .bind(order.offset)
            .bind(event.accepted_at)
            .execute(&mut *tx),
    )
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(Outcome::Duplicate);
    }
    if decision == Decision::Confirm {
        let remaining: Option<i64> = traced(
            db_span!(target, "UPDATE", "inventory", TAKE_STOCK),
            sqlx::query_scalar(TAKE_STOCK)
                .bind(&event.sku)
                .bind(quantity)
                .fetch_optional(&mut *tx),
        )
        .await?;
        let Some(remaining) = remaining else {
            return Err(StoreError::StockChanged {
                sku: event.sku.clone(),
            });
        };
        stock.insert(event.sku.clone(), remaining);
    }
    Ok(decision.outcome())
}
