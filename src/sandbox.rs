//! `rxpool sandbox`: a whole pool on a private regtest chain in one command, for a first look
//! and for demos. Needs no config file.
//!
//! Owns the order of things. It starts, in its state dir, a MariaDB, `monerod --regtest
//! --offline`, and two wallet-rpc (the pool's wallet and the demo miner's), through
//! [`crate::devnet`]; pre-mines past the 76-block spendability floor (design.md §8) at
//! difficulty 1 to a faucet wallet that funds the pool wallet ([`fund_pool_wallet`]), then
//! restarts monerod on the same chain at the sandbox's fixed difficulty; writes `config.toml`, migrates, sets the shared settings so that blocks are
//! credited and paid within minutes ([`shared_settings`]), runs every role in this process as
//! `rxpool all` does, and the demo miner ([`miner`]) against the pool's stratum port. It
//! prints one line per start-up step with the elapsed time, then how to reach everything, and
//! logs the first block, credit and payout ([`milestones`]).
//!
//! Payouts are paid from the funding (unlocked, with decoys), so a small
//! `payout.blocksRequired` is fine on a private chain even though the coinbase it credits
//! unlocks only 60 blocks later. The demo miner keeps the chain moving: every block it finds
//! confirms the payouts before it.
//!
//! Ctrl-C (SIGINT or SIGTERM) stops the roles first, then the demo miner, then the processes
//! it started (their process groups are killed and reaped); a temp state dir is removed,
//! a `--keep DIR` one stays and the next run continues from it. It never touches a system
//! MariaDB or monerod: everything binds 127.0.0.1 on free ports unless told a port.

pub mod milestones;
pub mod miner;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::FileConfig;
use crate::devnet::{MariaDb, Monerod, MonerodOptions, WalletRpc, free_port};
use crate::domain::{Atomic, Difficulty, Network, PoolType};
use crate::store::mysql::{self, PortConfig};

/// The chain height pre-mined to the faucet before the pool starts: a spend needs coinbase
/// outputs 60 blocks deep and 15 decoys (design.md §8), so transfers fail below about 76; the
/// 90 outputs unlocked at 150 hold about 3,150 XMR, the funding below.
pub const PREMINE_HEIGHT: u64 = 150;
/// The pool wallet's funding: enough to pay about 85 blocks' credits (35 XMR each on a young
/// regtest chain), more than the 60 blocks after which the pool's own coinbase unlocks.
pub const FUNDING_OUTPUTS: u64 = 30;
pub const FUNDING_OUTPUT: Atomic = Atomic(100 * crate::domain::amount::ATOMIC_PER_XMR);
/// A received transfer unlocks this many blocks deep.
const TRANSFER_UNLOCK: u64 = 10;
/// The chain height once the pool wallet is funded and its funding spendable.
const FUNDED_HEIGHT: u64 = PREMINE_HEIGHT + TRANSFER_UNLOCK + 1;
/// Confirmations before a found block is credited (`payout.blocksRequired`).
pub const BLOCKS_REQUIRED: u64 = 2;
/// The database in the sandbox's MariaDB.
const DATABASE: &str = "rxpool";
/// The demo miner's worker name; the printed xmrig line uses another.
const DEMO_WORKER: &str = "demo";
const XMRIG_WORKER: &str = "xmrig";
/// The pool role's id in the `pools` table.
const POOL_ID: u32 = 1;

/// `rxpool sandbox` options.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Keep the state (MariaDB data, chain, wallets, LMDB, config.toml) in DIR and continue
    /// from it on the next run. Without it everything goes to a temp dir removed at exit.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Demo miner threads (light-mode RandomX, about 30 H/s each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
    /// The chain's fixed difficulty: the demo miner finds a block every D / (30 x threads)
    /// seconds or so.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(2..))]
    pub difficulty: u64,
    /// The api and dashboard port (127.0.0.1); a free one by default.
    #[arg(long, value_name = "P")]
    pub api_port: Option<u16>,
    /// The stratum port (127.0.0.1); a free one by default.
    #[arg(long, value_name = "P")]
    pub stratum_port: Option<u16>,
}

/// Start-up steps, one line each with the time since the command started.
#[derive(Debug, Clone, Copy)]
struct Steps {
    started: Instant,
}

impl Steps {
    fn done(&self, what: &str) {
        println!("[{:>7.1?}] {what}", self.started.elapsed());
    }
}

/// Where the sandbox keeps its state.
#[derive(Debug)]
enum StateDir {
    /// Removed on drop.
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl StateDir {
    fn open(keep: Option<&Path>) -> anyhow::Result<StateDir> {
        match keep {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the state dir {}", dir.display()))?;
                let dir = dir
                    .canonicalize()
                    .with_context(|| format!("resolving {}", dir.display()))?;
                Ok(StateDir::Kept(dir))
            }
            None => tempfile::Builder::new()
                .prefix("rxpool-sandbox-")
                .tempdir()
                .map(StateDir::Temp)
                .context("creating a temp state dir"),
        }
    }

    fn path(&self) -> &Path {
        match self {
            StateDir::Temp(dir) => dir.path(),
            StateDir::Kept(dir) => dir,
        }
    }
}

/// The processes the sandbox started. Fields drop (are killed) in declaration order.
#[derive(Debug)]
struct Components {
    miner_wallet: WalletRpc,
    pool_wallet: WalletRpc,
    monerod: Monerod,
    mariadb: MariaDb,
}

/// What the roles and the printed summary need from the start-up.
#[derive(Debug)]
struct Started {
    components: Components,
    pool_address: String,
    miner_address: String,
    database_url: String,
    config_toml: String,
}

/// Runs the sandbox until SIGINT or SIGTERM (or a role fails).
pub async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let shutdown = crate::runtime::shutdown_on_signals();
    let steps = Steps { started };
    let state = StateDir::open(args.keep.as_deref())?;
    steps.done(&format!("state dir {}", state.path().display()));
    let stratum_port = args.stratum_port.map_or_else(free_port, Ok)?;
    let api_port = args.api_port.map_or_else(free_port, Ok)?;

    // A Ctrl-C during start-up drops what was started so far (and kills it).
    let up = tokio::select! {
        up = start(&args, state.path(), stratum_port, api_port, steps) => up?,
        () = shutdown.cancelled() => {
            println!("stopped during start-up");
            return Ok(());
        }
    };
    let config = FileConfig::parse(&up.config_toml).context("the sandbox's config.toml")?;
    let db = mysql::connect(&up.database_url)
        .await
        .context("connecting to the sandbox's MariaDB")?;

    let mut roles = tokio::spawn(crate::all::run(config, shutdown.clone()));
    let port_open = tokio::select! {
        open = wait_for_port(stratum_port) => open,
        () = shutdown.cancelled() => false,
        ended = &mut roles => return finish(ended, up, state, &shutdown).await,
    };
    if port_open {
        steps.done(&format!(
            "pool roles running, stratum port {stratum_port} open"
        ));
    } else if !shutdown.is_cancelled() {
        shutdown.cancel();
        let ended = roles.await;
        finish(ended, up, state, &shutdown).await?;
        anyhow::bail!("the stratum port {stratum_port} did not open within 5 minutes");
    }

    let (hashing_tx, hashing) = tokio::sync::oneshot::channel();
    let spec = miner::MinerSpec {
        port: stratum_port,
        login: up.miner_address.clone(),
        pass: DEMO_WORKER.to_owned(),
        threads: usize::from(args.threads),
        network: Difficulty(u128::from(args.difficulty)),
    };
    let demo = tokio::spawn(miner::run(spec, hashing_tx, shutdown.clone()));
    tokio::select! {
        Ok(()) = hashing => steps.done("demo miner: RandomX cache built (light mode), hashing"),
        () = shutdown.cancelled() => {}
        ended = &mut roles => {
            let _ = demo.await;
            return finish(ended, up, state, &shutdown).await;
        }
    }
    let sources = milestones::Sources {
        api: format!("http://127.0.0.1:{api_port}"),
        miner_address: up.miner_address.clone(),
        miner_wallet: up.components.miner_wallet.rpc_url(),
        db,
    };
    let watch = tokio::spawn(milestones::run(sources, started, shutdown.clone()));
    if !shutdown.is_cancelled() {
        print_summary(&args, &up, state.path(), stratum_port, api_port);
    }

    let ended = (&mut roles).await;
    shutdown.cancel();
    let _ = demo.await;
    let _ = watch.await;
    finish(ended, up, state, &shutdown).await
}

/// Stops everything after the roles ended (or a failure): the roles' outcome is the result.
async fn finish(
    roles: Result<anyhow::Result<()>, tokio::task::JoinError>,
    up: Started,
    state: StateDir,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    shutdown.cancel();
    let outcome = roles.unwrap_or_else(|e| Err(anyhow::anyhow!("the roles' task failed: {e}")));
    let Started { mut components, .. } = up;
    // Each gets the time to write its state (SIGTERM), wallets first; what does not stop in
    // time is killed with its process group.
    let c = &mut components;
    tokio::join!(c.miner_wallet.stop(), c.pool_wallet.stop());
    c.monerod.stop().await;
    c.mariadb.stop().await;
    drop(components);
    match &state {
        StateDir::Temp(dir) => println!("stopped; removed {}", dir.path().display()),
        StateDir::Kept(dir) => println!("stopped; state kept in {}", dir.display()),
    }
    drop(state);
    outcome
}

/// Starts the processes, the chain and the database, and writes config.toml.
async fn start(
    args: &SandboxArgs,
    dir: &Path,
    stratum_port: u16,
    api_port: u16,
    steps: Steps,
) -> anyhow::Result<Started> {
    let notify_port = free_port()?;
    let notify = block_notify_command(notify_port);
    // MariaDB starts and migrates while the chain is made.
    let ((mariadb, database_url, db), chain) = tokio::try_join!(
        start_database(dir, steps),
        start_chain(args, dir, notify.as_deref(), steps)
    )?;
    let Chain {
        monerod,
        pool_wallet,
        miner_wallet,
        pool_address,
        miner_address,
    } = chain;

    for (key, value) in shared_settings(&pool_address, share_difficulty(args.difficulty)) {
        mysql::set_setting(&db, key, &value)
            .await
            .with_context(|| format!("setting {key}"))?;
    }
    sqlx::query("DELETE FROM port_config").execute(&db).await?;
    mysql::registry::upsert_port(
        &db,
        &PortConfig {
            port: stratum_port,
            difficulty: share_difficulty(args.difficulty),
            description: "sandbox".into(),
            pool_type: PoolType::Pplns,
            hidden: false,
            tls: false,
        },
    )
    .await?;
    db.close().await;
    let config_toml = config_toml(&ConfigPaths {
        database_url: &database_url,
        lmdb: &dir.join("lmdb"),
        daemon: &monerod.rpc_url(),
        wallet: &pool_wallet.rpc_url(),
        api_port,
        block_notify: notify.is_some().then_some(notify_port),
    });
    std::fs::write(dir.join("config.toml"), &config_toml).context("writing config.toml")?;
    steps.done("database configured, config.toml written");

    Ok(Started {
        components: Components {
            miner_wallet,
            pool_wallet,
            monerod,
            mariadb,
        },
        pool_address,
        miner_address,
        database_url,
        config_toml,
    })
}

/// MariaDB in `dir/mariadb`, with the sandbox's database migrated: the server, the database's
/// URL and a connection pool.
async fn start_database(
    dir: &Path,
    steps: Steps,
) -> anyhow::Result<(MariaDb, String, sqlx::MySqlPool)> {
    let mariadb = MariaDb::start_in(&dir.join("mariadb"))
        .await
        .context("starting MariaDB")?;
    let database_url = mariadb.ensure_database(DATABASE).await?;
    let db = mysql::connect(&database_url).await?;
    mysql::migrate(&db).await.context("migrating")?;
    steps.done(&format!(
        "MariaDB ready on port {}, database migrated",
        mariadb.port()
    ));
    Ok((mariadb, database_url, db))
}

/// The chain side of the sandbox.
#[derive(Debug)]
struct Chain {
    monerod: Monerod,
    pool_wallet: WalletRpc,
    miner_wallet: WalletRpc,
    pool_address: String,
    miner_address: String,
}

/// monerod and the two wallets, the pool wallet funded, the chain at the sandbox's
/// difficulty.
async fn start_chain(
    args: &SandboxArgs,
    dir: &Path,
    notify: Option<&str>,
    steps: Steps,
) -> anyhow::Result<Chain> {
    let chain_dir = dir.join("monerod");
    let fresh_chain = !chain_dir.join("data").exists();
    let difficulty = MonerodOptions {
        fixed_difficulty: args.difficulty,
    };
    let premine = MonerodOptions {
        fixed_difficulty: 1,
    };
    // A fresh chain is pre-mined first, without notifying the pool (not running yet) of each
    // pre-mined block.
    let (first, first_notify) = if fresh_chain {
        (premine, None)
    } else {
        (difficulty, notify)
    };
    let mut monerod = Monerod::start_in(&chain_dir, first, first_notify)
        .await
        .context("starting monerod")?;
    steps.done(&format!(
        "monerod (regtest) ready on port {}",
        monerod.rpc_port()
    ));

    // A chain not funded yet is pre-mined to the faucet (in the miner's wallet-rpc) while the
    // pool's wallet-rpc starts.
    let fund = monerod.height().await?.0 < FUNDED_HEIGHT;
    if fund && monerod.options() != premine {
        monerod.restart_with(premine).await?;
    }
    let daemon = &monerod;
    let (pool_wallet, miner_wallet) = tokio::try_join!(
        async {
            let wallet = WalletRpc::start_in(&dir.join("pool-wallet"), daemon, Network::Mainnet)
                .await
                .context("starting the pool's wallet-rpc")?;
            wallet.open_or_create_wallet("pool").await?;
            steps.done("pool wallet ready");
            anyhow::Ok(wallet)
        },
        async {
            let wallet = WalletRpc::start_in(&dir.join("miner-wallet"), daemon, Network::Mainnet)
                .await
                .context("starting the demo miner's wallet-rpc")?;
            steps.done("demo miner's wallet-rpc ready");
            if fund {
                premine_to_faucet(daemon, &wallet, steps).await?;
            }
            anyhow::Ok(wallet)
        }
    )?;
    let pool_address = pool_wallet.address().await?;
    if fund {
        fund_pool_wallet(&monerod, &miner_wallet, &pool_address, steps).await?;
    }
    miner_wallet.open_or_create_wallet("miner").await?;
    let miner_address = miner_wallet.address().await?;
    if monerod.options() != difficulty {
        monerod.set_block_notify(notify);
        monerod.restart_with(difficulty).await?;
    }
    steps.done(&format!(
        "chain at height {}, fixed difficulty {}",
        monerod.height().await?.0,
        args.difficulty
    ));
    refresh(&pool_wallet).await?;
    let funds = pool_wallet.balance().await?;
    steps.done(&format!(
        "pool wallet: {} XMR, {} XMR unlocked",
        funds.balance, funds.unlocked
    ));
    Ok(Chain {
        monerod,
        pool_wallet,
        miner_wallet,
        pool_address,
        miner_address,
    })
}

/// Scans the chain into `wallet`, retrying for a minute: after a monerod restart wallet-rpc
/// answers "no connection to daemon" for a while.
async fn refresh(wallet: &WalletRpc) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match wallet.refresh().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e).context("refreshing a wallet after a monerod restart");
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// Blocks to pre-mine on a chain at `height` (get_info's block count).
pub fn premine_needed(height: u64) -> u64 {
    PREMINE_HEIGHT.saturating_sub(height)
}

/// Opens (or makes) the faucet wallet in `wallet` and pre-mines to it up to
/// [`PREMINE_HEIGHT`]. The pool wallet is funded from it ([`fund_pool_wallet`]) rather than
/// mined to, so that its coinbase outputs all come from blocks the pool found: the block
/// manager's wallet scan reports any other as a block without a record.
async fn premine_to_faucet(
    monerod: &Monerod,
    wallet: &WalletRpc,
    steps: Steps,
) -> anyhow::Result<()> {
    wallet.open_or_create_wallet("faucet").await?;
    let faucet = wallet.address().await?;
    // In chunks, so a slow machine shows it is moving.
    let mut left = premine_needed(monerod.height().await?.0);
    while left > 0 {
        let chunk = left.min(50);
        let mined = monerod.generate_blocks(chunk, &faucet).await?;
        left -= chunk;
        steps.done(&format!(
            "chain: pre-mined to height {} of {PREMINE_HEIGHT}",
            mined.height.0
        ));
    }
    Ok(())
}

/// Sends [`FUNDING_OUTPUTS`] outputs of [`FUNDING_OUTPUT`] from the faucet (open in `wallet`)
/// to the pool wallet and buries them until they are spendable.
async fn fund_pool_wallet(
    monerod: &Monerod,
    wallet: &WalletRpc,
    pool_address: &str,
    steps: Steps,
) -> anyhow::Result<()> {
    let faucet = wallet.address().await?;
    refresh(wallet).await?;
    let destinations: Vec<serde_json::Value> = (0..FUNDING_OUTPUTS)
        .map(|_| serde_json::json!({"amount": FUNDING_OUTPUT.0, "address": pool_address}))
        .collect();
    wallet
        .json_rpc(
            "transfer_split",
            serde_json::json!({"destinations": destinations, "priority": 0}),
        )
        .await
        .context("funding the pool wallet from the faucet")?;
    monerod
        .generate_blocks(TRANSFER_UNLOCK + 1, &faucet)
        .await?;
    steps.done(&format!(
        "pool wallet funded: {FUNDING_OUTPUTS} outputs of {} XMR from the faucet",
        FUNDING_OUTPUT.0 / crate::domain::amount::ATOMIC_PER_XMR
    ));
    Ok(())
}

/// The stratum port's (and the vardiff floor's) difficulty: a twentieth of a block, so the
/// dashboard shows shares between blocks.
pub fn share_difficulty(chain: u64) -> u64 {
    (chain / 20).max(1)
}

/// The shared settings the sandbox sets (the rest keep their defaults).
pub fn shared_settings(pool_address: &str, share_difficulty: u64) -> Vec<(&'static str, String)> {
    vec![
        ("pool.address", pool_address.to_owned()),
        ("payout.feeAddress", pool_address.to_owned()),
        ("pool.minDifficulty", share_difficulty.to_string()),
        // Vardiff aims at a share every 5 s, so a light-mode miner shows up at once.
        ("pool.targetTime", "5".to_owned()),
        ("payout.blocksRequired", BLOCKS_REQUIRED.to_string()),
        ("payout.confirmations", "2".to_owned()),
        ("payout.timer", "1".to_owned()),
        ("payout.timerRetry", "1".to_owned()),
    ]
}

/// What config.toml points at.
#[derive(Debug)]
pub struct ConfigPaths<'a> {
    pub database_url: &'a str,
    pub lmdb: &'a Path,
    pub daemon: &'a str,
    pub wallet: &'a str,
    pub api_port: u16,
    /// The pool's `block_notify` UDP port, when monerod notifies it.
    pub block_notify: Option<u16>,
}

/// The sandbox's config.toml: everything on 127.0.0.1, light-mode RandomX.
pub fn config_toml(paths: &ConfigPaths<'_>) -> String {
    format!(
        r#"# Written by `rxpool sandbox` at every start (ports and the MariaDB password change).
# `rxpool --config THIS_FILE admin ...` works against the sandbox while it runs.
[mysql]
url = "{database_url}"
[lmdb]
path = "{lmdb}"
map_size_mb = 256
[daemon]
urls = ["{daemon}"]
template_poll_ms = 250
[wallet]
url = "{wallet}"
[pool]
bind = "127.0.0.1"
pool_id = {POOL_ID}
hostname = "sandbox"
public_address = "127.0.0.1"
{block_notify}[pow]
randomx_mode = "light"
verifier_threads = 1
[api]
bind = "127.0.0.1:{api_port}"
"#,
        database_url = paths.database_url,
        lmdb = paths.lmdb.display(),
        daemon = paths.daemon,
        wallet = paths.wallet,
        api_port = paths.api_port,
        block_notify = paths
            .block_notify
            .map(|port| format!("block_notify = \"127.0.0.1:{port}\"\n"))
            .unwrap_or_default(),
    )
}

/// monerod's `--block-notify` command, so the pool fetches a new template the moment a block
/// is added (instead of at its next poll, with miners on a stale job meanwhile). `None` when
/// this binary's path cannot be given to monerod (it splits the command on whitespace).
fn block_notify_command(port: u16) -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.to_str().filter(|p| !p.contains(char::is_whitespace))?;
    Some(format!("{exe} notify-block --to 127.0.0.1:{port} %s"))
}

/// The xmrig command line that joins the sandbox's pool as the demo miner's wallet.
pub fn xmrig_command(stratum_port: u16, address: &str) -> String {
    format!("xmrig -o 127.0.0.1:{stratum_port} -u {address} -p {XMRIG_WORKER} -a rx/0")
}

/// Waits until the stratum port accepts connections (true) or 5 minutes pass (false).
async fn wait_for_port(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn print_summary(args: &SandboxArgs, up: &Started, dir: &Path, stratum_port: u16, api_port: u16) {
    let c = &up.components;
    let pid = |pid: Option<u32>| pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
    let kept = if args.keep.is_some() {
        "kept"
    } else {
        "removed at exit"
    };
    println!(
        "\nrxpool sandbox is ready (Ctrl-C stops it and everything it started)\n\
         \x20 dashboard:    http://127.0.0.1:{api_port}/\n\
         \x20 stratum:      127.0.0.1:{stratum_port} (PPLNS, share difficulty {share})\n\
         \x20 join with:    {xmrig}\n\
         \x20 demo miner:   {threads} thread(s), light-mode RandomX, worker \"{DEMO_WORKER}\"\n\
         \x20 miner wallet: {miner} (wallet-rpc {miner_rpc})\n\
         \x20 pool wallet:  {pool} (wallet-rpc {pool_rpc})\n\
         \x20 monerod:      {daemon} (regtest, fixed difficulty {difficulty}, a block every ~{secs} s)\n\
         \x20 payouts:      credited {BLOCKS_REQUIRED} blocks deep, then paid at once\n\
         \x20 config:       {config}\n\
         \x20 state dir:    {state} ({kept})\n\
         \x20 pids:         mariadbd {p_db}, monerod {p_daemon}, wallet-rpc {p_pool} {p_miner}\n",
        share = share_difficulty(args.difficulty),
        xmrig = xmrig_command(stratum_port, &up.miner_address),
        threads = args.threads,
        miner = up.miner_address,
        miner_rpc = c.miner_wallet.rpc_url(),
        pool = up.pool_address,
        pool_rpc = c.pool_wallet.rpc_url(),
        daemon = c.monerod.rpc_url(),
        difficulty = args.difficulty,
        secs = args.difficulty / (30 * u64::from(args.threads)).max(1),
        config = dir.join("config.toml").display(),
        state = dir.display(),
        p_db = pid(c.mariadb.pid()),
        p_daemon = pid(c.monerod.pid()),
        p_pool = pid(c.pool_wallet.pid()),
        p_miner = pid(c.miner_wallet.pid()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";

    #[test]
    fn the_written_config_toml_is_a_valid_config_on_loopback_in_light_mode() {
        let toml = config_toml(&ConfigPaths {
            database_url: "mysql://u:p@127.0.0.1:3307/rxpool",
            lmdb: Path::new("/tmp/state/lmdb"),
            daemon: "http://127.0.0.1:18081",
            wallet: "http://127.0.0.1:18082",
            api_port: 8123,
            block_notify: Some(18090),
        });
        let config = FileConfig::parse(&toml).expect("valid config.toml");
        assert_eq!(config.api.bind, "127.0.0.1:8123");
        assert_eq!(
            config.pool.block_notify,
            Some("127.0.0.1:18090".parse().unwrap())
        );
        assert_eq!(config.pool.bind, "127.0.0.1");
        assert_eq!(config.lmdb.path, Path::new("/tmp/state/lmdb"));
        assert_eq!(
            config.daemon.urls,
            vec!["http://127.0.0.1:18081".to_owned()]
        );
        assert_eq!(
            config.pow.randomx_mode,
            crate::monero::pow::RandomxMode::Light
        );
    }

    #[test]
    fn every_sandbox_setting_passes_its_registry_rule() {
        let mut rows: Vec<(String, String)> = Vec::new();
        for (key, value) in shared_settings(ADDR, share_difficulty(300)) {
            crate::config::settings::check_change(&rows, key, &value)
                .unwrap_or_else(|e| panic!("{key} = {value}: {e}"));
            rows.push((key.to_owned(), value));
        }
    }

    #[test]
    fn the_premine_stops_at_the_spendability_floor_and_the_share_difficulty_is_never_zero() {
        assert_eq!(premine_needed(1), PREMINE_HEIGHT - 1);
        assert_eq!(premine_needed(PREMINE_HEIGHT), 0);
        assert_eq!(premine_needed(500), 0);
        const { assert!(PREMINE_HEIGHT > 76) };
        const { assert!(FUNDED_HEIGHT > PREMINE_HEIGHT + TRANSFER_UNLOCK) };
        assert_eq!(share_difficulty(300), 15);
        assert_eq!(share_difficulty(2), 1);
    }

    #[test]
    fn the_xmrig_line_names_the_port_the_address_a_worker_and_randomx() {
        assert_eq!(
            xmrig_command(3333, ADDR),
            format!("xmrig -o 127.0.0.1:3333 -u {ADDR} -p xmrig -a rx/0")
        );
    }
}
