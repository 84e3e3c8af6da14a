//! The pool's share counters end to end: a pool in this process (regtest monerod, light-mode
//! RandomX, LMDB in a temp dir) refuses low-difficulty, duplicate, malformed and stale shares
//! and counts each for the miner's worker with its reason, and counts a valid share in
//! `valid` and `hashes`, under the host's `pool_id`.

#[path = "support/stratum.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod stratum;

use rxpool::devnet::{Monerod, MonerodOptions};
use rxpool::domain::Height;
use rxpool::store::lmdb::{CounterKey, Counters, InvalidReason};
use serde_json::{Value, json};

use stratum::{ADDR, TestPool, connect, error_of, mine, start_pool_with, test_settings};

const HOST: u32 = 7;

fn submit_params(job: &Value, nonce: &str, result: &str) -> Value {
    json!({"id": job["id"], "job_id": job["job_id"], "nonce": nonce, "result": result, "algo": "rx/0"})
}

async fn counters(pool: &TestPool, key: CounterKey) -> Counters {
    pool.shared.sink.flush().await.unwrap();
    let snap = pool.store.read().unwrap();
    snap.counters(key).unwrap().expect("counted")
}

fn invalid(counters: &Counters, reason: InvalidReason) -> u64 {
    counters.invalid[reason as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_shares_are_counted_for_the_worker_by_reason_and_a_valid_one_in_valid_and_hashes() {
    let monerod = Monerod::start(MonerodOptions {
        fixed_difficulty: 1_000_000,
    })
    .await
    .unwrap();
    let pool = start_pool_with(&[monerod.rpc_url()], test_settings(), 50, None, |shared| {
        shared.pool_id = HOST;
    })
    .await;
    let mut c = connect(&pool).await;
    let r = c
        .call(
            "login",
            json!({"login": ADDR, "pass": "x", "agent": "XMRig/6.26.0", "rigid": "rig1", "algo": ["rx/0"]}),
        )
        .await;
    assert_eq!(error_of(&r), None, "{r}");
    let job = r["result"]["job"].clone();

    // Before any valid share the miner is not interned: only the pool and host count it.
    let (low_nonce, low_result) = mine(&pool.verifier, &job, false).await;
    let r = c
        .call("submit", submit_params(&job, &low_nonce, &low_result))
        .await;
    assert_eq!(error_of(&r), Some("Low difficulty share"));
    let host = counters(&pool, CounterKey::Host(HOST)).await;
    assert_eq!(invalid(&host, InvalidReason::LowDifficulty), 1);
    assert_eq!(host.valid, 0);
    assert_eq!(pool.store.read().unwrap().miner_id(ADDR).unwrap(), None);

    let (ok_nonce, ok_result) = mine(&pool.verifier, &job, true).await;
    let r = c
        .call("submit", submit_params(&job, &ok_nonce, &ok_result))
        .await;
    assert_eq!(error_of(&r), None, "{r}");
    pool.shared.sink.flush().await.unwrap();
    let (miner, worker, credited, mode) = {
        let snap = pool.store.read().unwrap();
        let miner = snap
            .miner_id(ADDR)
            .unwrap()
            .expect("interned by the valid share");
        let workers = snap.workers_of(miner).unwrap();
        assert_eq!(workers.len(), 1);
        let (_, share) = snap
            .shares_in(Height(0)..=Height(u64::from(u32::MAX)))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        (
            miner,
            workers[0].0,
            share.difficulty(),
            share.pool_type().unwrap(),
        )
    };
    let w = counters(&pool, CounterKey::Worker(worker)).await;
    assert_eq!((w.valid, w.hashes, w.invalid_total()), (1, credited, 0));
    assert!(w.last_share.is_some());

    // Share faults after the miner is known, each with its reason.
    let r = c
        .call("submit", submit_params(&job, &low_nonce, &low_result))
        .await;
    assert_eq!(error_of(&r), Some("Duplicate share"));
    // `mine` always starts at nonce 0: look for another low one past the nonces used.
    let mut low = None;
    for n in 0u32..1000 {
        let hex_nonce = hex::encode(n.to_le_bytes());
        if hex_nonce == low_nonce || hex_nonce == ok_nonce {
            continue;
        }
        let blob = stratum_blob(&job, n);
        let seed = job["seed_hash"].as_str().unwrap().parse().unwrap();
        let hash = pool
            .verifier
            .hash(rxpool::monero::pow::PowAlgo::RandomX, seed, blob)
            .await
            .unwrap();
        let target =
            rxpool::domain::Target::difficulty_of_hex(job["target"].as_str().unwrap()).unwrap();
        if !target.is_met_by(&hash) {
            low = Some((hex_nonce, hash.to_string()));
            break;
        }
    }
    let (low_nonce2, low_result2) = low.expect("a low-difficulty nonce");
    let r = c
        .call("submit", submit_params(&job, &low_nonce2, &low_result2))
        .await;
    assert_eq!(error_of(&r), Some("Low difficulty share"));
    let r = c
        .call("submit", submit_params(&job, "xyz", &"00".repeat(32)))
        .await;
    assert_eq!(error_of(&r), Some("Duplicate share"), "malformed nonce");
    let r = c
        .call(
            "submit",
            submit_params(
                &json!({"id": job["id"], "job_id": "ffffffffffffffff"}),
                "00000000",
                &"00".repeat(32),
            ),
        )
        .await;
    assert_eq!(error_of(&r), Some("Invalid job id"), "a job no longer kept");
    // Not share faults: nothing counted.
    let r = c.call("submit", json!({"job_id": job["job_id"]})).await;
    assert_eq!(error_of(&r), Some("Invalid or missing parameters"));

    let w = counters(&pool, CounterKey::Worker(worker)).await;
    let expected = [
        (InvalidReason::LowDifficulty, 1),
        (InvalidReason::WrongHash, 0),
        (InvalidReason::Duplicate, 1),
        (InvalidReason::Stale, 1),
        (InvalidReason::Malformed, 1),
        (InvalidReason::Other, 0),
    ];
    for (reason, n) in expected {
        assert_eq!(invalid(&w, reason), n, "worker {reason}");
    }
    assert_eq!((w.valid, w.hashes), (1, credited));
    assert!(w.last_invalid >= w.last_share);
    let m = counters(&pool, CounterKey::Miner(miner)).await;
    assert_eq!(m, w, "one worker: the miner's counters are the worker's");
    let p = counters(&pool, CounterKey::Pool).await;
    assert_eq!(
        invalid(&p, InvalidReason::LowDifficulty),
        2,
        "one before interning"
    );
    assert_eq!(p.invalid_total(), 5);
    assert_eq!((p.valid, p.hashes), (1, credited));
    let hosts = pool.store.read().unwrap().host_counters().unwrap();
    assert_eq!(hosts, vec![(HOST, p)]);
    let by_mode = counters(&pool, CounterKey::Mode(mode)).await;
    assert_eq!(
        (by_mode.valid, by_mode.hashes, by_mode.invalid_total()),
        (1, credited, 0)
    );
    let log: Vec<_> = pool
        .store
        .read()
        .unwrap()
        .log_since(None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].1.host, log[0].1.worker, log[0].1.difficulty),
        (HOST, worker, credited)
    );
}

/// The job's hashing blob with `nonce` in place (as `stratum::mine` builds it).
fn stratum_blob(job: &Value, nonce: u32) -> Vec<u8> {
    let mut blob = hex::decode(job["blob"].as_str().unwrap()).unwrap();
    blob[39..43].copy_from_slice(&nonce.to_le_bytes());
    blob
}
