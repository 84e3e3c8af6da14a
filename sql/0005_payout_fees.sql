-- Payout books, the runner lease, and held batches that say whether they are signed.
--
-- `payout_fees`: one ledger row per signed payout batch, written in the transaction that
-- records the signed tx with its debits (src/store/mysql/payouts.rs `record_signed`) and
-- marked reverted in the transaction of an operator's revert. `withdrawal_fees` is what the
-- payees were charged (fee slew; kept by the pool), `network_fee` what the wallet paid the
-- network for the tx. With them the books reconcile to the atomic unit:
--   credited (block_credits + pps_credits) = balances due + paid out (payments) + fees charged
-- and the pool wallet should hold the balances due + fees charged - network fees paid.
CREATE TABLE IF NOT EXISTS payout_fees (
    batch_id        BIGINT UNSIGNED NOT NULL,
    withdrawal_fees BIGINT UNSIGNED NOT NULL,
    network_fee     BIGINT UNSIGNED NOT NULL,
    reverted        TINYINT(1)      NOT NULL DEFAULT 0,
    recorded_at     TIMESTAMP(3)    NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (batch_id),
    CONSTRAINT payout_fees_batch FOREIGN KEY (batch_id) REFERENCES payout_batches (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The batches signed before this ledger existed.
INSERT IGNORE INTO payout_fees (batch_id, withdrawal_fees, network_fee, reverted)
SELECT id, withdrawal_fee, COALESCE(network_fee, 0), status = 'reverted'
FROM payout_batches WHERE tx_hash IS NOT NULL;

-- A batch held after signing has its own status (its debits are committed; it is never
-- released or signed again): src/domain/payout.rs.
UPDATE payout_batches SET status = 'held_signed' WHERE status = 'held' AND tx_hash IS NOT NULL;

-- The payments runner lease: one row, held by one process at a time. The holder renews it
-- (`expires_at` moves on) every few seconds and before every signing step; a process that
-- finds it held by another and not expired does not run a cycle. A lease outlives any
-- connection (a killed or timed-out MySQL connection does not free it, unlike GET_LOCK);
-- a holder that dies frees it when it expires. Times are UTC_TIMESTAMP(3).
CREATE TABLE IF NOT EXISTS payout_runner_lease (
    name        VARCHAR(32)     NOT NULL,
    holder      VARCHAR(128)    NOT NULL,
    expires_at  DATETIME(3)     NOT NULL,
    renewals    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    acquired_at DATETIME(3)     NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

INSERT IGNORE INTO payout_runner_lease (name, holder, expires_at)
VALUES ('payments', '', '2000-01-01 00:00:00');
