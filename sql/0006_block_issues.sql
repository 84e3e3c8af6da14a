-- Blocks the block-manager could not settle on its own, so that one bad block never stalls
-- the others and an operator sees each one.
--
-- kind 'block':      a found block whose crediting failed (unknown miner id, missing header,
--                    a constraint error, ...). It is set aside with its reason and retried
--                    after `retry_at_ms` (backoff grows with `attempts`) or when an operator
--                    asks (`rxpool admin block retry`); every other block goes on.
-- kind 'pps':        the same for a chain height's PPS shares (hash = the chain block there).
-- kind 'unrecorded': a chain block whose coinbase pays the pool wallet and that the share store
--                    has no record of (found by the wallet scan); `rxpool admin block add`
--                    records it so the block-manager credits it once.
-- A settled row keeps its history with `resolved_at_ms` set; a new failure reopens it.
-- Hashes are lowercase hex compared byte for byte.

CREATE TABLE IF NOT EXISTS block_issues (
    kind           VARCHAR(16)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    height         BIGINT UNSIGNED NOT NULL,
    hash           CHAR(64)        CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reason         VARCHAR(1024)   NOT NULL,
    attempts       INT UNSIGNED    NOT NULL DEFAULT 1,
    first_seen_ms  BIGINT UNSIGNED NOT NULL,
    last_seen_ms   BIGINT UNSIGNED NOT NULL,
    retry_at_ms    BIGINT UNSIGNED NOT NULL,
    resolved_at_ms BIGINT UNSIGNED NULL,
    PRIMARY KEY (kind, height, hash),
    KEY block_issues_open (resolved_at_ms, kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
