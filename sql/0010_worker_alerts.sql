-- The worker role's durable alert state. A change of a worker's hashing state and the mail that
-- tells its miner about it commit in one transaction (with the `mail_outbox` row), so a crash
-- or restart neither loses nor repeats an alert.

-- Whether each worker of a miner with confirmed worker alerts is hashing, as last told (or
-- silently recorded when the subscription began). One row per (miner, worker); rows of
-- workers silent for `worker.forgetAfter` are deleted.
CREATE TABLE IF NOT EXISTS worker_alert_state (
    miner      VARCHAR(256)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    worker     VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    hashing    TINYINT(1)      NOT NULL,
    -- ms: the last share before a stop, or the share that ended a stop.
    changed_at BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (miner, worker)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Payments and solo blocks already told (or deliberately skipped), so each is mailed once.
CREATE TABLE IF NOT EXISTS worker_mailed_events (
    kind  VARCHAR(16)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    -- `payments.id` for a payment; the block's (height, hash) for a solo block.
    event VARCHAR(96)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    at    BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (kind, event)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Where each event scan starts: nothing older than the worker's first start is mailed.
CREATE TABLE IF NOT EXISTS worker_cursors (
    name  VARCHAR(32)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    value BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
