-- Addresses, payment ids, hashes and keys compare byte for byte.
--
-- Monero addresses are base58: two addresses that differ only in letter case are two different
-- wallets. Under the tables' default collation (utf8mb4_general_ci) MySQL compared them as
-- equal, so a UNIQUE key merged two payees' balances (`ON DUPLICATE KEY UPDATE amount = amount
-- + ?`) or refused a block's credit lines with a duplicate-key error, and the block was never
-- credited. Every column below gets `utf8mb4_bin`; the tables' default collation becomes
-- `utf8mb4_bin` too, so a column added later holds its text byte-exact unless it says otherwise.
--
-- This also fixes an existing database: MODIFY rebuilds each table and its indexes under the
-- new collation (rows that were distinct under the old one stay distinct). Definitions are
-- restated exactly as 0001..0003 wrote them, with only the collation added.
--
-- The block_credits -> paid_blocks foreign key joins two hash columns whose collations must
-- match; the key is checked again when it is added back, after both columns are changed.

ALTER TABLE balance
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY payment_address VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY payment_id      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '';

ALTER TABLE bans
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY ip_address     VARCHAR(45)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    MODIFY mining_address VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

ALTER TABLE block_log
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY hex CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE payments
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY payment_address VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY payment_id      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '';

ALTER TABLE transactions
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY address          VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    MODIFY payment_id       VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    MODIFY transaction_hash CHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY exchange_txn_id  VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

-- `username` is the payout key (an address, or `address.paymentid`).
ALTER TABLE users
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY username VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE block_credits DROP FOREIGN KEY block_credits_block;

ALTER TABLE paid_blocks
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY hash CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE block_credits
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY block_hash      CHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY payment_address VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY payment_id      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '';

ALTER TABLE block_credits
    ADD CONSTRAINT block_credits_block FOREIGN KEY (block_hash) REFERENCES paid_blocks (hash);

ALTER TABLE pps_paid_heights
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY hash CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE pps_credits
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY payment_address VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY payment_id      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '';

ALTER TABLE payout_batches
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY tx_hash     CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    MODIFY tx_key      TEXT     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    MODIFY tx_metadata LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL;

ALTER TABLE payout_batch_items
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY payment_address VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    MODIFY payment_id      VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    MODIFY destination     VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

ALTER TABLE payout_set_aside
    DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin,
    MODIFY payment_address VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;

-- `rxpool admin payments resolve-legacy-id`: a balance held under a long (64-hex) payment id,
-- which no wallet pays any more, moved by an operator to an address they name. One row per
-- move, written in the same transaction as the two balance changes; the source balance is
-- emptied by a compare-and-swap on its amount, so a move happens once.
CREATE TABLE IF NOT EXISTS balance_moves (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    from_balance_id  BIGINT UNSIGNED NOT NULL,
    from_address     VARCHAR(128)    NOT NULL,
    from_payment_id  VARCHAR(128)    NOT NULL,
    to_balance_id    BIGINT UNSIGNED NOT NULL,
    to_address       VARCHAR(128)    NOT NULL,
    pool_type        VARCHAR(16)     NOT NULL,
    amount           BIGINT UNSIGNED NOT NULL,
    reason           VARCHAR(1024)   NOT NULL DEFAULT '',
    moved_at         TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    KEY balance_moves_from (from_balance_id),
    KEY balance_moves_to (to_balance_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
