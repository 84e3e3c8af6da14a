-- Admin accounts for the api's `/admin` routes (issue 11), kept apart from nodejs-pool's
-- `users` (which are miners). No account is ever seeded: the operator makes the first with
-- `rxpool admin user add NAME` (password on stdin).
--
--   admin_users           one row per account: name (ASCII letters, digits, `.`, `_`, `-`,
--                         compared byte-exact), role `admin` (read and write) or `viewer`
--                         (GET only), the argon2id PHC string of its password;
--   admin_sessions        one row per login: the refresh token's SHA-256 (the token itself is
--                         never stored), the one it replaced (presenting that again revokes the
--                         session), expiry and revocation; access tokens name their session
--                         (`sid`) and die with it;
--   admin_secret          the HS256 key access tokens are signed with: 32 random bytes
--                         inserted once by whichever api host needs it first;
--   admin_login_failures  failed logins of the last window, per client IP and per account name
--                         given, for the rate limit every api host shares.
CREATE TABLE IF NOT EXISTS admin_users (
    id                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name                VARCHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    role                VARCHAR(16)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    password_hash       VARCHAR(255)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_ms          BIGINT UNSIGNED NOT NULL,
    password_changed_ms BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY admin_users_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS admin_sessions (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id       BIGINT UNSIGNED NOT NULL,
    refresh_hash  BINARY(32)      NOT NULL,
    previous_hash BINARY(32)      NULL,
    created_ms    BIGINT UNSIGNED NOT NULL,
    refreshed_ms  BIGINT UNSIGNED NOT NULL,
    expires_ms    BIGINT UNSIGNED NOT NULL,
    revoked_ms    BIGINT UNSIGNED NULL,
    PRIMARY KEY (id),
    UNIQUE KEY admin_sessions_refresh (refresh_hash),
    KEY admin_sessions_previous (previous_hash),
    KEY admin_sessions_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS admin_secret (
    name   VARCHAR(32)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    secret VARBINARY(64) NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS admin_login_failures (
    id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    at_ms   BIGINT UNSIGNED NOT NULL,
    ip      VARCHAR(45)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    account VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    PRIMARY KEY (id),
    KEY admin_login_failures_ip (ip, at_ms),
    KEY admin_login_failures_account (account, at_ms),
    KEY admin_login_failures_at (at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
