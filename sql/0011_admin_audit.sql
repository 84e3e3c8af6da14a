-- The admin audit log (issue 11): every write an operator makes through the admin API, one row
-- each, written by `store::mysql::audit::record` in the same request that made the change.
--
--   at_ms    when (Unix milliseconds, as `domain::UnixMillis`);
--   actor    the admin account's name (`admin_users.name`), or `cli` for the command line;
--   action   what was done: `METHOD /admin/path` or a short verb (`ports.set`, `payout.hold`);
--   target   what it was done to (a port, a config item, a batch id), '' when nothing in particular;
--   before_json / after_json  the state before and after as JSON, NULL where there is none
--            (nothing before a create, nothing after a delete). Never holds a password or token.
CREATE TABLE IF NOT EXISTS admin_audit (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    at_ms       BIGINT UNSIGNED NOT NULL,
    actor       VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    action      VARCHAR(128)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target      VARCHAR(256)    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    before_json MEDIUMTEXT      NULL,
    after_json  MEDIUMTEXT      NULL,
    PRIMARY KEY (id),
    KEY admin_audit_at (at_ms),
    KEY admin_audit_actor (actor, at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
