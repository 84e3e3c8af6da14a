-- rxpool base schema: nodejs-pool's tables, kept with their names and columns so operators'
-- tools recognise them, with the fixes correctness needs:
--   * money is BIGINT UNSIGNED atomic units (1 XMR = 10^12);
--   * an absent payment id is '' (not NULL), so UNIQUE keys hold for every balance row;
--   * block_log is keyed by (height, hash): two blocks at one height are two rows.
-- Later migrations (0002 credits, 0003 payout batches) add what exactly-once needs.

CREATE TABLE IF NOT EXISTS config (
    id          INT UNSIGNED NOT NULL AUTO_INCREMENT,
    module      VARCHAR(32)  NOT NULL,
    item        VARCHAR(64)  NOT NULL,
    item_value  MEDIUMTEXT   NOT NULL,
    item_type   VARCHAR(64)  NOT NULL,
    Item_desc   VARCHAR(512) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY config_module_item (module, item)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS balance (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    last_edited     TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    payment_address VARCHAR(128)    NOT NULL,
    payment_id      VARCHAR(128)    NOT NULL DEFAULT '',
    pool_type       VARCHAR(16)     NOT NULL,
    bitcoin         TINYINT(1)      NOT NULL DEFAULT 0,
    amount          BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY balance_owner (payment_address, pool_type, bitcoin, payment_id),
    KEY balance_address (payment_address, payment_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS bans (
    id             INT UNSIGNED NOT NULL AUTO_INCREMENT,
    ip_address     VARCHAR(45)  NULL,
    mining_address VARCHAR(200) NULL,
    reason         VARCHAR(256) NOT NULL DEFAULT '',
    active         TINYINT(1)   NOT NULL DEFAULT 1,
    ins_time       TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY bans_ip (ip_address),
    KEY bans_address (mining_address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS block_log (
    id            BIGINT UNSIGNED NOT NULL COMMENT 'Block Height',
    orphan        TINYINT(1)      NOT NULL DEFAULT 1,
    hex           CHAR(64)        NOT NULL,
    find_time     TIMESTAMP       NULL,
    reward        BIGINT UNSIGNED NOT NULL DEFAULT 0,
    difficulty    DECIMAL(39,0)   NOT NULL DEFAULT 0,
    major_version INT UNSIGNED    NOT NULL DEFAULT 0,
    minor_version INT UNSIGNED    NOT NULL DEFAULT 0,
    PRIMARY KEY (id, hex),
    UNIQUE KEY block_log_hex (hex)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS payments (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    unlocked_time   TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP,
    paid_time       TIMESTAMP       NOT NULL DEFAULT '1970-01-01 00:00:01',
    pool_type       VARCHAR(16)     NOT NULL,
    payment_address VARCHAR(128)    NOT NULL,
    transaction_id  BIGINT UNSIGNED NOT NULL,
    bitcoin         TINYINT(1)      NOT NULL DEFAULT 0,
    amount          BIGINT UNSIGNED NOT NULL,
    block_id        BIGINT UNSIGNED NULL,
    payment_id      VARCHAR(128)    NOT NULL DEFAULT '',
    transfer_fee    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    KEY payments_transaction (transaction_id),
    KEY payments_owner (payment_address, payment_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS pools (
    id           INT UNSIGNED NOT NULL,
    ip           VARCHAR(72)  NOT NULL DEFAULT '',
    last_checkin TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    active       TINYINT(1)   NOT NULL DEFAULT 1,
    blockID      BIGINT UNSIGNED NULL,
    blockIDTime  TIMESTAMP    NULL,
    hostname     VARCHAR(128) NOT NULL DEFAULT '',
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS port_config (
    poolPort   INT UNSIGNED    NOT NULL,
    difficulty BIGINT UNSIGNED NOT NULL DEFAULT 1000,
    portDesc   VARCHAR(128)    NOT NULL DEFAULT '',
    portType   VARCHAR(16)     NOT NULL DEFAULT 'pplns',
    hidden     TINYINT(1)      NOT NULL DEFAULT 0,
    `ssl`      TINYINT(1)      NOT NULL DEFAULT 0,
    PRIMARY KEY (poolPort)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS ports (
    pool_id       INT UNSIGNED    NOT NULL,
    network_port  INT UNSIGNED    NOT NULL,
    starting_diff BIGINT UNSIGNED NOT NULL,
    port_type     VARCHAR(16)     NOT NULL,
    description   VARCHAR(256)    NOT NULL DEFAULT '',
    hidden        TINYINT(1)      NOT NULL DEFAULT 0,
    ip_address    VARCHAR(256)    NOT NULL DEFAULT '',
    lastSeen      TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP,
    miners        INT UNSIGNED    NOT NULL DEFAULT 0,
    ssl_port      TINYINT(1)      NOT NULL DEFAULT 0,
    PRIMARY KEY (pool_id, network_port)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS transactions (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    bitcoin          TINYINT(1)      NOT NULL DEFAULT 0,
    address          VARCHAR(128)    NULL,
    payment_id       VARCHAR(128)    NULL,
    xmr_amt          BIGINT UNSIGNED NOT NULL DEFAULT 0,
    btc_amt          BIGINT UNSIGNED NOT NULL DEFAULT 0,
    transaction_hash CHAR(64)        NOT NULL,
    submitted_time   TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP,
    mixin            INT UNSIGNED    NOT NULL DEFAULT 0,
    fees             BIGINT UNSIGNED NOT NULL DEFAULT 0,
    payees           INT UNSIGNED    NOT NULL DEFAULT 0,
    exchange_rate    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    confirmed        TINYINT(1)      NOT NULL DEFAULT 0,
    confirmed_time   TIMESTAMP       NULL,
    exchange_name    VARCHAR(64)     NULL,
    exchange_txn_id  VARCHAR(128)    NULL,
    PRIMARY KEY (id),
    KEY transactions_exchange (exchange_txn_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS users (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    username         VARCHAR(256)    NOT NULL,
    pass             VARCHAR(128)    NULL COMMENT 'argon2 hash; never the e-mail',
    email            VARCHAR(256)    NULL,
    admin            TINYINT(1)      NOT NULL DEFAULT 0,
    payout_threshold BIGINT UNSIGNED NOT NULL DEFAULT 0,
    enable_email     TINYINT(1)      NOT NULL DEFAULT 1,
    PRIMARY KEY (id),
    UNIQUE KEY users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The default ports: three PPLNS difficulty tiers, as nodejs-pool ships. TLS ports are added by
-- the operator (`rxpool admin port add 9000 --diff 20000 --type pplns --tls`) once a
-- certificate is configured.
INSERT IGNORE INTO port_config (poolPort, difficulty, portDesc, portType, hidden, `ssl`) VALUES
    (3333, 1000,  'Low-End Hardware (Up to 30-40 h/s)', 'pplns', 0, 0),
    (5555, 5000,  'Medium-Range Hardware (Up to 160 h/s)', 'pplns', 0, 0),
    (7777, 10000, 'High-End Hardware (Anything else!)', 'pplns', 0, 0);
