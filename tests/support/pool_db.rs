//! A pool's MySQL database for tests that run the pool role: a fresh migrated database on
//! the shared devnet MariaDB, `pool.address` set, and `port_config` holding exactly one
//! stratum port on a free loopback port (the seeded 3333/5555/7777 may be taken by other
//! processes on this host).

use rxpool::devnet::{MariaDb, free_port};
use rxpool::domain::PoolType;
use rxpool::store::mysql::{self, PortConfig};

/// Returns the database URL, a connection pool and the stratum port (pplns, `difficulty`).
pub async fn pool_database(
    name: &str,
    pool_address: &str,
    difficulty: u64,
) -> (String, sqlx::MySqlPool, u16) {
    let maria = MariaDb::shared().await.unwrap();
    let url = maria.create_database(name).await.unwrap();
    let db = mysql::connect(&url).await.unwrap();
    mysql::migrate(&db).await.unwrap();
    mysql::set_setting(&db, "pool.address", pool_address)
        .await
        .unwrap();
    sqlx::query("DELETE FROM port_config")
        .execute(&db)
        .await
        .unwrap();
    let port = free_port().unwrap();
    mysql::registry::upsert_port(
        &db,
        &PortConfig {
            port,
            difficulty,
            description: "test".into(),
            pool_type: PoolType::Pplns,
            hidden: false,
            tls: false,
        },
    )
    .await
    .unwrap();
    (url, db, port)
}
