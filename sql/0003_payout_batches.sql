-- Durable payout batches: what the payments role reserved, signed, relayed and confirmed.
--
-- A batch is written in status 'reserved' with its items and one `payout_reservations` row
-- per balance it draws from (balance_id is the PRIMARY KEY there, so no two live batches can
-- draw on one balance row) BEFORE the wallet is called. The signed tx (hash, metadata, fee,
-- key) is committed in the same transaction as the balance debits, the `transactions` row and
-- the `payments` rows, and the reservations are dropped then; only after that commit is the tx
-- relayed. Every status change is a compare-and-swap on `status`. Statuses and their
-- transitions: src/payments/batch.rs. Amounts are atomic units; an absent payment id is ''.

CREATE TABLE IF NOT EXISTS payout_batches (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    status          VARCHAR(16)     NOT NULL,
    kind            VARCHAR(16)     NOT NULL,
    destinations    INT UNSIGNED    NOT NULL,
    gross           BIGINT UNSIGNED NOT NULL,
    net             BIGINT UNSIGNED NOT NULL,
    withdrawal_fee  BIGINT UNSIGNED NOT NULL,
    network_fee     BIGINT UNSIGNED NULL,
    tx_hash         CHAR(64)        NULL,
    -- The tx key and, for subaddress destinations, the additional keys: proof of payment.
    tx_key          TEXT            NULL,
    tx_metadata     LONGTEXT        NULL,
    transaction_id  BIGINT UNSIGNED NULL,
    relay_attempts  INT UNSIGNED    NOT NULL DEFAULT 0,
    confirmations   BIGINT UNSIGNED NOT NULL DEFAULT 0,
    tx_height       BIGINT UNSIGNED NULL,
    last_error      VARCHAR(1024)   NULL,
    created_at      TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at      TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    signed_at       TIMESTAMP(3)    NULL,
    relayed_at      TIMESTAMP(3)    NULL,
    confirmed_at    TIMESTAMP(3)    NULL,
    closed_at       TIMESTAMP(3)    NULL,
    PRIMARY KEY (id),
    UNIQUE KEY payout_batches_tx_hash (tx_hash),
    KEY payout_batches_status (status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS payout_batch_items (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    batch_id        BIGINT UNSIGNED NOT NULL,
    position        INT UNSIGNED    NOT NULL,
    balance_id      BIGINT UNSIGNED NOT NULL,
    payment_address VARCHAR(128)    NOT NULL,
    payment_id      VARCHAR(128)    NOT NULL DEFAULT '',
    pool_type       VARCHAR(16)     NOT NULL,
    -- The address the wallet pays: payment_address, or the integrated address built from it
    -- and a short legacy payment id.
    destination     VARCHAR(128)    NOT NULL,
    gross           BIGINT UNSIGNED NOT NULL,
    fee             BIGINT UNSIGNED NOT NULL,
    net             BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY payout_batch_items_position (batch_id, position),
    KEY payout_batch_items_balance (balance_id),
    KEY payout_batch_items_payee (payment_address, payment_id),
    CONSTRAINT payout_batch_items_batch FOREIGN KEY (batch_id) REFERENCES payout_batches (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Live reservations: a balance row drawn on by a batch that is not signed yet.
CREATE TABLE IF NOT EXISTS payout_reservations (
    balance_id BIGINT UNSIGNED NOT NULL,
    batch_id   BIGINT UNSIGNED NOT NULL,
    gross      BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (balance_id),
    KEY payout_reservations_batch (batch_id),
    CONSTRAINT payout_reservations_batch FOREIGN KEY (batch_id) REFERENCES payout_batches (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Balances set aside: a destination the wallet refused (or that does not parse). The planner
-- skips them until an operator clears the row (`rxpool admin payments release --balance ID`).
CREATE TABLE IF NOT EXISTS payout_set_aside (
    balance_id      BIGINT UNSIGNED NOT NULL,
    payment_address VARCHAR(128)    NOT NULL,
    reason          VARCHAR(1024)   NOT NULL,
    created_at      TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (balance_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per wallet transfer: a hash is recorded once, whoever records it.
ALTER TABLE transactions ADD UNIQUE INDEX IF NOT EXISTS transactions_transaction_hash (transaction_hash);

-- `rxpool admin payments run-now` asks the running payments role for a cycle here.
CREATE TABLE IF NOT EXISTS payout_run_requests (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    requested_at TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    handled_at   TIMESTAMP(3)    NULL,
    PRIMARY KEY (id),
    KEY payout_run_requests_open (handled_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
