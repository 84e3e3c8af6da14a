-- Restores from backup, and the wallet's outgoing transfers a restored store does not know.
--
-- A backup is older than the pool wallet: a payout signed and relayed after the backup was
-- taken is not in the restored MySQL, and its payees' balances still hold what it paid.
-- `rxpool admin backup restore` writes one `store_restores` row into the restored database.
-- While a row is open (`reconciled_at_ms` NULL) the payments role signs nothing new: each
-- cycle it lists the wallet's outgoing transfers from the backup's chain height on and notes
-- in `restore_unknown_txs` every one that no payout batch records (tx hash UNIQUE: noted
-- once). The operator resolves each (`rxpool admin backup resolve TXID --debit|--ignore`);
-- once none is left open the restore is reconciled and payouts resume. Times are Unix
-- milliseconds; amounts atomic units.

CREATE TABLE IF NOT EXISTS store_restores (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    backup_id        VARCHAR(64)     NOT NULL,
    backup_taken_ms  BIGINT UNSIGNED NOT NULL,
    -- The chain height monerod reported when the backup began (0: it did not answer; then
    -- every outgoing transfer is compared).
    chain_height     BIGINT UNSIGNED NOT NULL,
    restored_at_ms   BIGINT UNSIGNED NOT NULL,
    reconciled_at_ms BIGINT UNSIGNED NULL,
    PRIMARY KEY (id),
    KEY store_restores_open (reconciled_at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS restore_unknown_txs (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    restore_id   BIGINT UNSIGNED NOT NULL,
    tx_hash      CHAR(64)        NOT NULL,
    amount       BIGINT UNSIGNED NOT NULL,
    fee          BIGINT UNSIGNED NOT NULL,
    -- 0 while the tx is not mined.
    tx_height    BIGINT UNSIGNED NOT NULL,
    -- "address amount" lines, as the wallet lists the tx's destinations.
    destinations TEXT            NOT NULL,
    found_at_ms  BIGINT UNSIGNED NOT NULL,
    -- NULL while open; 'debited' (recorded as a payout) or 'ignored' (not a payout).
    resolution   VARCHAR(16)     NULL,
    resolved_at_ms BIGINT UNSIGNED NULL,
    PRIMARY KEY (id),
    UNIQUE KEY restore_unknown_txs_hash (tx_hash),
    CONSTRAINT restore_unknown_txs_restore FOREIGN KEY (restore_id) REFERENCES store_restores (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
