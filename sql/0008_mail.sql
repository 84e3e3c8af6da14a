-- Miner e-mail: double opt-in subscriptions, the signing secret for links, and the durable
-- outbox every mail goes through (issue 10 item 4).
--
-- All times are Unix milliseconds (BIGINT UNSIGNED), as `domain::UnixMillis`, so tests drive
-- the clock. Addresses, payout keys and e-mail addresses compare byte for byte (utf8mb4_bin).

-- The key that signs confirmation, approval and unsubscribe links: 32 random bytes, inserted
-- once if absent and read back by every role on every host, so a link issued by one host is
-- honoured by the api on another. Never logged.
CREATE TABLE IF NOT EXISTS mail_secret (
    name    VARCHAR(32)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    secret  VARBINARY(64)  NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per miner (payout key: `address` or `address.paymentid`).
--   email          the confirmed address: the only one miner mails go to (NULL: none yet);
--   pending_email  an address given at login or through the api, waiting for its confirmation
--                  (pending_stage = 'confirm') or, when another address is already confirmed,
--                  for the current address to approve the change (pending_stage = 'approve');
--   worker_alerts / payments default on, solo_blocks off (opt-in);
--   unsubscribed   set by the unsubscribe link: nothing more goes to `email` until a new
--                  confirmation.
-- `users.email` / `users.enable_email` (nodejs-pool's columns, read by operators' tools) are
-- kept in step with the confirmed address in the same transaction.
CREATE TABLE IF NOT EXISTS mail_subscriptions (
    miner                 VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    email                 VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    confirmed_at          BIGINT UNSIGNED NULL,
    pending_email         VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    pending_stage         ENUM('confirm', 'approve') NULL,
    pending_requested_at  BIGINT UNSIGNED NULL,
    last_request_mail_at  BIGINT UNSIGNED NULL,
    worker_alerts         TINYINT(1) NOT NULL DEFAULT 1,
    payments              TINYINT(1) NOT NULL DEFAULT 1,
    solo_blocks           TINYINT(1) NOT NULL DEFAULT 0,
    unsubscribed          TINYINT(1) NOT NULL DEFAULT 0,
    updated_at            BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (miner),
    KEY mail_subscriptions_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every mail, miner or operator, is a row here first, written in the same transaction as the
-- state change it reports. `dedup_key` is the miner (or `admin:<alert>` for operator mails, whose
-- `miner` is NULL); UNIQUE (dedup_key, kind, event_at) makes a repeated event one mail.
--
-- state: queued -> sending (claimed, attempts + 1, lease until next_attempt_at) -> sent
--                         \-> queued (transient error, backoff) / failed (5xx refusal)
-- A row left `sending` past its lease (a crash) is claimed again. `message_id` is fixed at
-- insert, so the one possible duplicate (a crash between the server's 250 and our UPDATE)
-- carries the same Message-ID and the receiver can drop it.
CREATE TABLE IF NOT EXISTS mail_outbox (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    miner             VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    dedup_key         VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    recipient         VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    kind              VARCHAR(32)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL, -- workers_stopped, workers_resumed, payment_sent, block_found, confirm, approve_change, operator
    event_at          BIGINT UNSIGNED NOT NULL,
    subject           VARCHAR(998) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    body              MEDIUMTEXT   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    list_unsubscribe  VARCHAR(2048) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    message_id        VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    state             ENUM('queued', 'sending', 'sent', 'failed') NOT NULL DEFAULT 'queued',
    attempts          INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT UNSIGNED NOT NULL,
    last_error        VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    created_at        BIGINT UNSIGNED NOT NULL,
    sent_at           BIGINT UNSIGNED NULL,
    PRIMARY KEY (id),
    UNIQUE KEY mail_outbox_event (dedup_key, kind, event_at),
    UNIQUE KEY mail_outbox_message_id (message_id),
    KEY mail_outbox_due (state, next_attempt_at),
    KEY mail_outbox_recipient_sent (recipient, sent_at),
    KEY mail_outbox_recipient_kind (recipient, kind, created_at),
    KEY mail_outbox_miner (miner, state)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
