-- Operator alerts (issue 10 item 5): the worker's edge-triggered alert state, and the
-- heartbeats of the roles whose silence is itself an alert.
--
-- All times are Unix milliseconds (BIGINT UNSIGNED), as `domain::UnixMillis`, so tests drive
-- the clock.

-- One row per alert the worker has ever seen on. `alert_key` names the fact: `daemon`,
-- `lmdb_map`, `pool_behind:<pool id>`, `pool_silent:<pool id>`, `payouts_review`,
-- `payouts_set_aside`, `pps_reserve`, `stalled:<role>`, `smtp`,
-- `block_issue:<kind>:<height>:<hash>` (src/worker/operator.rs).
--   active          whether the alert is on now;
--   since_ms        when it last turned on (or, while off, when it cleared);
--   last_notice_ms  the last "on" or reminder notice (mailed, or not when
--                   general.adminEmail is empty); the next reminder is due
--                   general.adminAlertReminder minutes after it;
--   detail          what the check saw when the alert last changed or was reminded.
-- The row changes in the same transaction as the operator mail's `mail_outbox` row.
CREATE TABLE IF NOT EXISTS operator_alerts (
    alert_key       VARCHAR(160)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    active          TINYINT(1)    NOT NULL,
    since_ms        BIGINT UNSIGNED NOT NULL,
    last_notice_ms  BIGINT UNSIGNED NOT NULL,
    detail          VARCHAR(1024) NOT NULL,
    updated_at_ms   BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (alert_key),
    KEY operator_alerts_active (active)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The last loop iteration of each role on each host: the block-manager and payments roles write
-- one at the end of every iteration, also when there was nothing to do. `detail` is a short
-- summary of the iteration (no addresses, no e-mail).
CREATE TABLE IF NOT EXISTS role_heartbeats (
    role        VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    host        VARCHAR(128)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    beat_at_ms  BIGINT UNSIGNED NOT NULL,
    detail      VARCHAR(1024) NOT NULL DEFAULT '',
    PRIMARY KEY (role, host)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
