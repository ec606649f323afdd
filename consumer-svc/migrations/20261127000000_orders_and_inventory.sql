-- Stock on sale per SKU. The CHECK is the last line of defence against overselling:
-- the worker's conditional update never takes `remaining` below zero, and if it ever
-- tried, the transaction would fail instead of committing a negative stock.
CREATE TABLE inventory (
    sku       text   PRIMARY KEY,
    remaining bigint NOT NULL CHECK (remaining >= 0)
);

-- One row per order ever processed; `order_id` is the idempotency key of the whole
-- pipeline (a redelivered record or a retried request finds its row and changes nothing).
CREATE TABLE orders (
    order_id        uuid        PRIMARY KEY,
    customer_id     text        NOT NULL,
    sku             text        NOT NULL,
    quantity        integer     NOT NULL CHECK (quantity > 0),
    status          text        NOT NULL CHECK (status IN ('confirmed', 'rejected')),
    reason          text        CHECK (reason IN ('sold_out', 'unknown_sku')),
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    accepted_at     timestamptz NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_reason_matches_status CHECK (
        (status = 'confirmed' AND reason IS NULL)
        OR (status = 'rejected' AND reason IS NOT NULL)
    )
);

-- The sale's audit ("how many confirmed for FLASH-1?") without a full scan.
CREATE INDEX orders_sku_status ON orders (sku, status);
