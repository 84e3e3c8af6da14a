//! The sandbox's milestones, as a newcomer waits for them: the first block the pool finds,
//! the first credit to the demo miner, the first payout to it, and the first money its
//! wallet sees, each logged once at info with the seconds since the command started
//! ("first block found after 42 s").
//!
//! Reads what any api client reads (`/pool/stats`, `/miner/ADDR/stats`) and the miner's
//! wallet-rpc balance, once a second, against a baseline taken at start (a `--keep` state
//! already has blocks and payouts). Its one write: after each new credit it asks the payments
//! role for a cycle now (`payouts::request_run`, as `rxpool admin payments run-now` does), so
//! a credit is paid within seconds instead of at the next `payout.timer`.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::MySqlPool;
use tokio_util::sync::CancellationToken;

use crate::domain::Atomic;
use crate::store::mysql::payouts;

const POLL: Duration = Duration::from_secs(1);
/// The wallet is refreshed (a chain scan) less often than the api is read.
const WALLET_POLL: Duration = Duration::from_secs(5);

/// Where the milestones are read.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `http://127.0.0.1:PORT` of the api.
    pub api: String,
    /// The demo miner's payout address.
    pub miner_address: String,
    /// The demo miner's wallet-rpc, `http://127.0.0.1:PORT`.
    pub miner_wallet: String,
    pub db: MySqlPool,
}

/// The figures a milestone is decided on, read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    pub blocks_found: u64,
    /// Credited to the demo miner, paid or not.
    pub credited: Atomic,
    pub paid: Atomic,
    /// The demo miner's wallet balance (locked or not).
    pub received: Atomic,
}

/// Which milestones were passed, and what is new since the last reading.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    baseline: Reading,
    last: Reading,
    block: bool,
    credit: bool,
    payout: bool,
    received: bool,
}

/// A milestone passed by a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    FirstBlock,
    FirstCredit(Atomic),
    FirstPayout(Atomic),
    FirstReceived(Atomic),
}

impl Progress {
    pub fn new(baseline: Reading) -> Progress {
        Progress {
            baseline,
            last: baseline,
            ..Progress::default()
        }
    }

    /// The milestones `now` passes for the first time, and whether it has a new credit.
    pub fn observe(&mut self, now: Reading) -> (Vec<Milestone>, bool) {
        let base = self.baseline;
        let mut passed = Vec::new();
        if !self.block && now.blocks_found > base.blocks_found {
            self.block = true;
            passed.push(Milestone::FirstBlock);
        }
        // The gain over the baseline, when there is one and the milestone is not passed yet.
        let first = |done: &mut bool, now: Atomic, then: Atomic| {
            let gain = now.0.checked_sub(then.0).filter(|d| !*done && *d > 0)?;
            *done = true;
            Some(Atomic(gain))
        };
        if let Some(gain) = first(&mut self.credit, now.credited, base.credited) {
            passed.push(Milestone::FirstCredit(gain));
        }
        if let Some(gain) = first(&mut self.payout, now.paid, base.paid) {
            passed.push(Milestone::FirstPayout(gain));
        }
        if let Some(gain) = first(&mut self.received, now.received, base.received) {
            passed.push(Milestone::FirstReceived(gain));
        }
        let new_credit = now.credited > self.last.credited;
        self.last = now;
        (passed, new_credit)
    }

    pub fn all_passed(&self) -> bool {
        self.block && self.credit && self.payout && self.received
    }
}

/// Logs the milestones until all are passed or `shutdown`.
pub async fn run(sources: Sources, started: Instant, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "sandbox milestones: no HTTP client");
            return;
        }
    };
    let mut wallet_read = Instant::now();
    let mut reading = read(&client, &sources, Reading::default(), true).await;
    let mut progress = Progress::new(reading);
    while !progress.all_passed() {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
        let with_wallet = wallet_read.elapsed() >= WALLET_POLL;
        if with_wallet {
            wallet_read = Instant::now();
        }
        reading = read(&client, &sources, reading, with_wallet).await;
        let (passed, new_credit) = progress.observe(reading);
        let secs = started.elapsed().as_secs();
        for milestone in passed {
            match milestone {
                Milestone::FirstBlock => tracing::info!("first block found after {secs} s"),
                Milestone::FirstCredit(xmr) => {
                    tracing::info!(%xmr, "first credit to the demo miner after {secs} s")
                }
                Milestone::FirstPayout(xmr) => {
                    tracing::info!(%xmr, "first payout to the demo miner after {secs} s")
                }
                Milestone::FirstReceived(xmr) => {
                    tracing::info!(%xmr, "the demo miner's wallet received its first payout after {secs} s")
                }
            }
        }
        if new_credit && let Err(e) = payouts::request_run(&sources.db).await {
            tracing::warn!(error = %e, "sandbox: cannot ask for a payout cycle");
        }
    }
}

/// A reading; a figure that cannot be read keeps its value from `last`.
async fn read(
    client: &reqwest::Client,
    sources: &Sources,
    last: Reading,
    with_wallet: bool,
) -> Reading {
    let get = |path: String| async move {
        let response = client
            .get(format!("{}{path}", sources.api))
            .send()
            .await
            .ok()?;
        response.json::<Value>().await.ok()
    };
    let mut now = last;
    let stats = get("/pool/stats".to_owned()).await.unwrap_or_default();
    if let Some(found) = stats["pool_statistics"]["totalBlocksFound"].as_u64() {
        now.blocks_found = found;
    }
    let path = format!("/miner/{}/stats", sources.miner_address);
    let miner = get(path).await.unwrap_or_default();
    if let (Some(due), Some(paid)) = (miner["amtDue"].as_u64(), miner["amtPaid"].as_u64()) {
        now.credited = Atomic(due.saturating_add(paid));
        now.paid = Atomic(paid);
    }
    if with_wallet && let Some(balance) = wallet_balance(&sources.miner_wallet).await {
        now.received = balance;
    }
    now
}

async fn wallet_balance(url: &str) -> Option<Atomic> {
    let rpc = |method: &'static str, params: Value| {
        crate::devnet::json_rpc(
            "monero-wallet-rpc",
            url,
            method,
            params,
            Duration::from_secs(30),
        )
    };
    rpc("refresh", serde_json::json!({})).await.ok()?;
    let balance = rpc("get_balance", serde_json::json!({"account_index": 0}))
        .await
        .ok()?;
    balance["balance"].as_u64().map(Atomic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(blocks_found: u64, credited: u64, paid: u64, received: u64) -> Reading {
        Reading {
            blocks_found,
            credited: Atomic(credited),
            paid: Atomic(paid),
            received: Atomic(received),
        }
    }

    #[test]
    fn each_milestone_is_passed_once_against_the_baseline_of_a_kept_state() {
        let mut progress = Progress::new(reading(3, 100, 50, 50));
        assert_eq!(progress.observe(reading(3, 100, 50, 50)), (vec![], false));
        assert_eq!(
            progress.observe(reading(4, 100, 50, 50)),
            (vec![Milestone::FirstBlock], false)
        );
        assert_eq!(
            progress.observe(reading(5, 130, 50, 50)),
            (vec![Milestone::FirstCredit(Atomic(30))], true)
        );
        // A second credit is news (a payout is asked for) but not a milestone.
        assert_eq!(progress.observe(reading(6, 160, 50, 50)), (vec![], true));
        assert_eq!(
            progress.observe(reading(6, 160, 160, 160)),
            (
                vec![
                    Milestone::FirstPayout(Atomic(110)),
                    Milestone::FirstReceived(Atomic(110))
                ],
                false
            )
        );
        assert!(progress.all_passed());
    }

    #[test]
    fn a_figure_below_its_baseline_passes_nothing() {
        let mut progress = Progress::new(reading(3, 100, 50, 50));
        assert_eq!(progress.observe(reading(0, 0, 0, 0)), (vec![], false));
        assert!(!progress.all_passed());
    }
}
