-- MoneroOcean's `users.payout_threshold_lock`: while set (by the operator), a miner cannot change
-- their payout threshold through the api (`POST /user/updateThreshold` answers 403). The
-- operator sets it with `store::mysql::miner_settings::set_threshold_lock`.
ALTER TABLE users ADD COLUMN IF NOT EXISTS payout_threshold_lock TINYINT(1) NOT NULL DEFAULT 0;
