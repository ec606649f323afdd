//! The SQL: applying a batch of orders, looking an order up, seeding stock.
//!
//! A batch is one transaction of a fixed number of statements, whatever its size:
//! 1. **decision order.** The orders are put in the order they are decided in
//!    ([`decision_order`]): each partition's records in offset order, the partitions
//!    merged by `accepted_at` (the earliest head first, ties to the lower partition), so
//!    "first come, first served" means accepted first by the ingest tier as far as each
//!    partition's order allows, whatever order the fetcher interleaved them in. A later
//!    copy of an order id already in the batch is a duplicate without asking the database.
//! 2. **provisional read.** `SELECT` the stock of the batch's SKUs without locking, and
//!    decide every order from it as if all were new.
//! 3. **insert.** One `INSERT … SELECT FROM unnest(…) ON CONFLICT (order_id) DO NOTHING
//!    RETURNING order_id` writes the new orders with their provisional status; an id not
//!    returned already had its row (a redelivery, or a retried request that reused its
//!    `Idempotency-Key`) and nothing else happens for it. Rows go in `order_id` order, so
//!    two transactions inserting the same ids (a partition applied by its old and new
//!    owner during a rebalance) take the index locks in one order and never deadlock.
//! 4. **lock, decide, update.** Only now `SELECT … ORDER BY sku FOR UPDATE` the stock
//!    rows of the SKUs that have new orders (replicas queue on them in one order, so they
//!    never deadlock; while they are held nobody else changes those levels), decide the
//!    new orders again, in one pass, from the locked levels: confirmed while the SKU has
//!    `quantity` left, else rejected `sold_out`; no inventory row, `unknown_sku`. Rows
//!    whose provisional status was wrong (another replica sold units between the read and
//!    the lock, or an earlier copy of an order turned out to exist) are corrected with
//!    one `UPDATE orders … FROM unnest(…)`, usually of nothing; then one
//!    `UPDATE inventory … FROM unnest(…)` takes each SKU's confirmed units
//!    (`remaining >= taken`, which the lock guarantees, and the `CHECK (remaining >= 0)`
//!    would refuse if it ever did not).
//! 5. **commit.** Only then does the worker store the batch's offsets. The stock levels the
//!    transaction locked and updated are what the batch's SKUs hold after the commit,
//!    which is what `surge_stock_remaining` reports for them.
//!
//! The row locks, which serialize every replica selling the same hot SKU, are held only
//! for step 4 and the commit: the insert, the bulk of the work, runs before them.
//!
//! Queries are checked at run time (`sqlx::query`), so building never needs a database.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use sqlx::postgres::PgRow;
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
    /// The record's `process` span (the batch's statements run in the batch's span).
    pub span: tracing::Span,
}

/// What a committed batch did.
#[derive(Debug, Default)]
pub struct Committed {
    /// Per order, in the order given.
    pub outcomes: Vec<Outcome>,
    /// Units left after the commit for every SKU whose stock row the batch locked (those
    /// with new orders that are on sale).
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

const READ_STOCK: &str = "SELECT sku, remaining FROM inventory WHERE sku = ANY($1)";
const LOCK_STOCK: &str =
    "SELECT sku, remaining FROM inventory WHERE sku = ANY($1) ORDER BY sku FOR UPDATE";
const INSERT_ORDERS: &str = "INSERT INTO orders (order_id, customer_id, sku, quantity, status, \
     reason, kafka_partition, kafka_offset, accepted_at, processed_at) \
     SELECT o.*, now() FROM unnest($1::uuid[], $2::text[], $3::text[], $4::integer[], \
     $5::text[], $6::text[], $7::integer[], $8::bigint[], $9::timestamptz[]) AS o \
     ON CONFLICT (order_id) DO NOTHING RETURNING order_id";
const CORRECT_ORDERS: &str = "UPDATE orders SET status = d.status, reason = d.reason \
     FROM unnest($1::uuid[], $2::text[], $3::text[]) AS d(order_id, status, reason) \
     WHERE orders.order_id = d.order_id";
const TAKE_STOCK: &str = "UPDATE inventory SET remaining = remaining - d.taken \
     FROM unnest($1::text[], $2::bigint[]) AS d(sku, taken) \
     WHERE inventory.sku = d.sku AND inventory.remaining >= d.taken \
     RETURNING inventory.sku, inventory.remaining";
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

    /// Applies `orders` (offset order per partition, as the worker holds them) in one
    /// transaction and returns each one's outcome and the SKUs' stock after it, or
    /// nothing at all on error.
    pub async fn apply_batch(&self, orders: &[PendingOrder]) -> Result<Committed, StoreError> {
        let target = &*self.target;
        let mut outcomes = vec![Outcome::Duplicate; orders.len()];
        // First copies only, in decision order; later copies stay `Duplicate`.
        let mut seen = HashSet::with_capacity(orders.len());
        let candidates: Vec<usize> = decision_order(orders)
            .into_iter()
            .filter(|&i| seen.insert(orders[i].event.order_id))
            .collect();
        let mut skus: Vec<&str> = candidates
            .iter()
            .map(|&i| orders[i].event.sku.as_str())
            .collect();
        skus.sort_unstable();
        skus.dedup();

        let mut tx = traced(db_span!(target, "BEGIN"), self.pool.begin()).await?;
        let read = stock_rows(
            traced(
                db_span!(target, "SELECT", "inventory", READ_STOCK),
                sqlx::query(READ_STOCK).bind(&skus).fetch_all(&mut *tx),
            )
            .await?,
        )?;
        let provisional = decide(orders, &candidates, &read);
        let inserted = insert_orders(&mut tx, target, orders, &candidates, &provisional).await?;
        let new: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| inserted.contains(&orders[i].event.order_id))
            .collect();
        if new.is_empty() {
            traced(db_span!(target, "COMMIT"), tx.commit()).await?;
            return Ok(Committed {
                outcomes,
                stock: HashMap::new(),
            });
        }

        let mut new_skus: Vec<&str> = new.iter().map(|&i| orders[i].event.sku.as_str()).collect();
        new_skus.sort_unstable();
        new_skus.dedup();
        let locked = stock_rows(
            traced(
                db_span!(target, "SELECT", "inventory", LOCK_STOCK),
                sqlx::query(LOCK_STOCK).bind(&new_skus).fetch_all(&mut *tx),
            )
            .await?,
        )?;
        let decided = decide(orders, &new, &locked);
        let corrections: Vec<(usize, Decision)> = new
            .iter()
            .map(|&i| (i, decided.decisions[&i]))
            .filter(|(i, d)| provisional.decisions.get(i) != Some(d))
            .collect();
        if !corrections.is_empty() {
            correct_orders(&mut tx, target, orders, &corrections).await?;
        }
        let mut stock = locked;
        stock.extend(take_stock(&mut tx, target, &decided).await?);
        traced(db_span!(target, "COMMIT"), tx.commit()).await?;
        for &i in &new {
            outcomes[i] = decided.decisions[&i].outcome();
        }
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

/// The order the orders of one batch are decided in, as indices into `orders`: each
/// partition's records in the order given (offset order), the partitions merged by
/// `accepted_at`, the earliest head first, a tie going to the lower partition number.
pub fn decision_order(orders: &[PendingOrder]) -> Vec<usize> {
    let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, order) in orders.iter().enumerate() {
        by_partition.entry(order.partition).or_default().push(i);
    }
    let queues: Vec<Vec<usize>> = by_partition.into_values().collect();
    let mut next = vec![0usize; queues.len()];
    // Min-heap of (head's accepted_at, queue index); queues are in partition order.
    let mut heads: BinaryHeap<Reverse<(OffsetDateTime, usize)>> = queues
        .iter()
        .enumerate()
        .map(|(q, queue)| Reverse((orders[queue[0]].event.accepted_at, q)))
        .collect();
    let mut order = Vec::with_capacity(orders.len());
    while let Some(Reverse((_, q))) = heads.pop() {
        order.push(queues[q][next[q]]);
        next[q] += 1;
        if let Some(&i) = queues[q].get(next[q]) {
            heads.push(Reverse((orders[i].event.accepted_at, q)));
        }
    }
    order
}

/// Decisions for `candidates` (in decision order) from the given stock levels, in one
/// pass, and the units each SKU gives up for them.
struct Decided {
    decisions: HashMap<usize, Decision>,
    /// Per SKU with at least one confirmation: (units taken, units left).
    taken: BTreeMap<String, (i64, i64)>,
}

fn decide(orders: &[PendingOrder], candidates: &[usize], stock: &HashMap<String, i64>) -> Decided {
    let mut left = stock.clone();
    let mut decided = Decided {
        decisions: HashMap::with_capacity(candidates.len()),
        taken: BTreeMap::new(),
    };
    for &i in candidates {
        let event = &orders[i].event;
        let quantity = i64::from(event.quantity);
        let decision = match left.get_mut(&event.sku) {
            None => Decision::UnknownSku,
            Some(remaining) if *remaining >= quantity => {
                *remaining -= quantity;
                let entry = decided.taken.entry(event.sku.clone()).or_insert((0, 0));
                entry.0 += quantity;
                entry.1 = *remaining;
                Decision::Confirm
            }
            Some(_) => Decision::SoldOut,
        };
        decided.decisions.insert(i, decision);
    }
    decided
}

fn stock_rows(rows: Vec<PgRow>) -> Result<HashMap<String, i64>, sqlx::Error> {
    rows.iter()
        .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?)))
        .collect()
}

/// Inserts the candidates with their provisional status, in `order_id` order; returns the
/// ids that were new.
async fn insert_orders(
    tx: &mut PgConnection,
    target: &DbTarget,
    orders: &[PendingOrder],
    candidates: &[usize],
    provisional: &Decided,
) -> Result<HashSet<Uuid>, StoreError> {
    let mut rows: Vec<usize> = candidates.to_vec();
    rows.sort_unstable_by_key(|&i| orders[i].event.order_id);
    let n = rows.len();
    let (mut ids, mut customers, mut skus, mut quantities) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut statuses, mut reasons, mut partitions, mut offsets, mut accepted) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for i in rows {
        let order = &orders[i];
        let (status, reason) = provisional.decisions[&i].status_and_reason();
        ids.push(order.event.order_id);
        customers.push(order.event.customer_id.as_str());
        skus.push(order.event.sku.as_str());
        // Validated to 1–100 before it got here.
        quantities.push(i32::try_from(order.event.quantity).unwrap_or(i32::MAX));
        statuses.push(status);
        reasons.push(reason);
        partitions.push(order.partition);
        offsets.push(order.offset);
        accepted.push(order.event.accepted_at);
    }
    let inserted: Vec<Uuid> = traced(
        db_span!(target, "INSERT", "orders", INSERT_ORDERS),
        sqlx::query_scalar(INSERT_ORDERS)
            .bind(&ids)
            .bind(&customers)
            .bind(&skus)
            .bind(&quantities)
            .bind(&statuses)
            .bind(&reasons)
            .bind(&partitions)
            .bind(&offsets)
            .bind(&accepted)
            .fetch_all(&mut *tx),
    )
    .await?;
    Ok(inserted.into_iter().collect())
}

/// Rewrites the status of new orders whose provisional decision the locked stock changed.
async fn correct_orders(
    tx: &mut PgConnection,
    target: &DbTarget,
    orders: &[PendingOrder],
    corrections: &[(usize, Decision)],
) -> Result<(), StoreError> {
    let mut ids = Vec::with_capacity(corrections.len());
    let mut statuses = Vec::with_capacity(corrections.len());
    let mut reasons = Vec::with_capacity(corrections.len());
    for &(i, decision) in corrections {
        let (status, reason) = decision.status_and_reason();
        ids.push(orders[i].event.order_id);
        statuses.push(status);
        reasons.push(reason);
    }
    traced(
        db_span!(target, "UPDATE", "orders", CORRECT_ORDERS),
        sqlx::query(CORRECT_ORDERS)
            .bind(&ids)
            .bind(&statuses)
            .bind(&reasons)
            .execute(&mut *tx),
    )
    .await?;
    Ok(())
}

/// Takes each SKU's confirmed units in one statement; returns the levels after it.
async fn take_stock(
    tx: &mut PgConnection,
    target: &DbTarget,
    decided: &Decided,
) -> Result<HashMap<String, i64>, StoreError> {
    if decided.taken.is_empty() {
        return Ok(HashMap::new());
    }
    let skus: Vec<&str> = decided.taken.keys().map(String::as_str).collect();
    let taken: Vec<i64> = decided.taken.values().map(|&(taken, _)| taken).collect();
    let rows = traced(
        db_span!(target, "UPDATE", "inventory", TAKE_STOCK),
        sqlx::query(TAKE_STOCK)
            .bind(&skus)
            .bind(&taken)
            .fetch_all(&mut *tx),
    )
    .await?;
    let stock = stock_rows(rows)?;
    for (sku, &(_, left)) in &decided.taken {
        if stock.get(sku) != Some(&left) {
            return Err(StoreError::StockChanged { sku: sku.clone() });
        }
    }
    Ok(stock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(partition: i32, offset: i64, accepted_ms: u64) -> PendingOrder {
        PendingOrder {
            event: OrderEvent {
                schema: order::SCHEMA_V1.to_owned(),
                order_id: Uuid::now_v7(),
                sku: "A".to_owned(),
                quantity: 1,
                customer_id: "c".to_owned(),
                accepted_at: OffsetDateTime::UNIX_EPOCH
                    + std::time::Duration::from_millis(accepted_ms),
            },
            partition,
            offset,
            span: tracing::Span::none(),
        }
    }

    #[test]
    fn a_batch_is_decided_in_offset_order_per_partition_merged_by_accepted_at() {
        // As fetched: partition 1's records first, then partition 0's. Partition 0's
        // second record was accepted before its first (two producers' clocks): offset
        // order still wins inside the partition.
        let orders = [
            order(1, 7, 20),
            order(1, 8, 40),
            order(0, 3, 30),
            order(0, 4, 10),
            order(2, 1, 20),
        ];
        let decided: Vec<(i32, i64)> = decision_order(&orders)
            .into_iter()
            .map(|i| (orders[i].partition, orders[i].offset))
            .collect();
        // Heads 20 (p1), 30 (p0), 20 (p2): p1 and p2 tie, the lower partition first.
        assert_eq!(decided, [(1, 7), (2, 1), (0, 3), (0, 4), (1, 8)]);
    }
}
