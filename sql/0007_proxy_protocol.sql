-- Stratum ports behind HAProxy or a cloud load balancer: connections on a port with
-- proxyProtocol = 1 start with a PROXY protocol header (v1 or v2), taken only from the pool
-- host's [pool] proxy_addresses, so bans and connection caps see the miner's address.
ALTER TABLE port_config ADD COLUMN IF NOT EXISTS proxyProtocol TINYINT(1) NOT NULL DEFAULT 0;
