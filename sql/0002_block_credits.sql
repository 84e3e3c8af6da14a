-- Block crediting: what the block-manager wrote, once per block and once per PPS height.
--
-- A found block is credited in ONE transaction: its `paid_blocks` row (hash UNIQUE: a second
-- attempt fails on the key and rolls back), one `block_credits` row per (block, address,
-- payment id, balance type), and the `balance` upserts. PPS is credited per chain height the
-- same way with `pps_paid_heights` (height UNIQUE: a reorganised height is never paid twice)
-- and `pps_credits`. Amounts are atomic units; the credit rows of a block sum to its reward.
-- An absent payment id is stored as '' (not NULL) so the unique keys hold.

CREATE TABLE IF NOT EXISTS paid_blocks (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    hash              CHAR(64)        NOT NULL,
    height            BIGINT UNSIGNED NOT NULL,
    pool_type         VARCHAR(16)     NOT NULL,
    reward            BIGINT UNSIGNED NOT NULL,
    miners_credited   BIGINT UNSIGNED NOT NULL,
    fees_credited     BIGINT UNSIGNED NOT NULL,
    payees            INT UNSIGNED    NOT NULL,
    -- PPLNS only: the window asked for (shareMulti x block difficulty), what the share store
    -- held of it, and how many shares it took. NULL for solo blocks.
    window_difficulty DECIMAL(39, 0)  NULL,
    window_filled     DECIMAL(39, 0)  NULL,
    window_shares     BIGINT UNSIGNED NULL,
    credited_at       TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY paid_blocks_hash (hash),
    KEY paid_blocks_height (height)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS block_credits (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    block_hash      CHAR(64)        NOT NULL,
    height          BIGINT UNSIGNED NOT NULL,
    payment_address VARCHAR(128)    NOT NULL,
    payment_id      VARCHAR(128)    NOT NULL DEFAULT '',
    balance_type    VARCHAR(16)     NOT NULL,
    amount          BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY block_credits_line (block_hash, payment_address, payment_id, balance_type),
    KEY block_credits_payee (payment_address, payment_id),
    CONSTRAINT block_credits_block FOREIGN KEY (block_hash) REFERENCES paid_blocks (hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS pps_paid_heights (
    height          BIGINT UNSIGNED NOT NULL,
    hash            CHAR(64)        NOT NULL,
    base_reward     BIGINT UNSIGNED NOT NULL,
    difficulty      DECIMAL(39, 0)  NOT NULL,
    shares          BIGINT UNSIGNED NOT NULL,
    share_difficulty DECIMAL(39, 0) NOT NULL,
    gross           BIGINT UNSIGNED NOT NULL,
    miners_credited BIGINT UNSIGNED NOT NULL,
    fees_credited   BIGINT UNSIGNED NOT NULL,
    payees          INT UNSIGNED    NOT NULL,
    credited_at     TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (height)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS pps_credits (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    height          BIGINT UNSIGNED NOT NULL,
    payment_address VARCHAR(128)    NOT NULL,
    payment_id      VARCHAR(128)    NOT NULL DEFAULT '',
    balance_type    VARCHAR(16)     NOT NULL,
    amount          BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY pps_credits_line (height, payment_address, payment_id, balance_type),
    KEY pps_credits_payee (payment_address, payment_id),
    CONSTRAINT pps_credits_height FOREIGN KEY (height) REFERENCES pps_paid_heights (height)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Where the chain scan (block_log) and the PPS crediting resume. One row per cursor name.
CREATE TABLE IF NOT EXISTS block_manager_cursor (
    name       VARCHAR(32)     NOT NULL,
    height     BIGINT UNSIGNED NOT NULL,
    updated_at TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
