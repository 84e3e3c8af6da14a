//! Miner e-mail end to end against a throwaway MariaDB, the devnet SMTP sink and the api's
//! real link routes over HTTP: double opt-in, no redirection of a confirmed address, the
//! outbox's exactly-once queueing, delivery with retries, permanent refusals, the hourly cap,
//! hostile addresses, unsubscribe links (GET and one-click POST), refused tokens, and
//! `rxpool admin mail list|retry|purge`.

#[path = "support/api.rs"]
#[expect(dead_code, reason = "this binary uses a subset of the fixtures")]
mod api_support;
#[path = "support/mailbox.rs"]
mod mailbox;

use std::time::Duration;

use mailbox::{body, fast, header, headers_of, link, smtp_config, token_of};
use rxpool::config::Settings;
use rxpool::devnet::{MariaDb, ReceivedMail, Smtp, free_port};
use rxpool::domain::{Clock, SystemClock, UnixMillis};
use rxpool::mail::outbox::{self, Enqueued};
use rxpool::mail::sender;
use rxpool::mail::subscriptions::{self, RequestOutcome};
use rxpool::mail::token::{LinkSecret, Purpose};
use rxpool::mail::{MailError, MailKind};
use rxpool::store::mysql;
use sqlx::MySqlPool;
use tokio_util::sync::CancellationToken;

const MINER: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
const OTHER_MINER: &str = "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge";

struct Fixture {
    url: String,
    db: MySqlPool,
    settings: Settings,
    api: String,
    stop: CancellationToken,
    _lmdb: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A fresh migrated database and the api's routes served on a free port.
async fn fixture(name: &str) -> Fixture {
    let maria = MariaDb::shared().await.expect("mariadb starts");
    let url = maria.create_database(name).await.unwrap();
    let db = mysql::connect(&url).await.unwrap();
    mysql::migrate(&db).await.unwrap();
    // The api's URL is in its settings (mail links lead there), so bind first.
    let (listener, api) = api_support::listener().await;
    let mut settings = Settings::defaults();
    settings.general.public_url = api.clone();
    settings.general.pool_name = "TestPool".into();
    settings.general.email_sig = "The TestPool team".into();
    let stop = CancellationToken::new();
    let lmdb = tempfile::tempdir().unwrap();
    api_support::serve_on(
        listener,
        api_support::ApiSetup::offline(&url, lmdb.path()),
        &db,
        settings.clone(),
        &stop,
    );
    Fixture {
        url,
        db,
        settings,
        api,
        stop,
        _lmdb: lmdb,
    }
}

/// Runs the sender against `smtp` until the fixture stops.
fn spawn_sender(f: &Fixture, smtp: &Smtp) {
    let (_tx, rx) = tokio::sync::watch::channel(f.settings.clone());
    let db = f.db.clone();
    let config = smtp_config(smtp.port());
    let stop = f.stop.clone();
    tokio::spawn(async move {
        let _keep = _tx;
        sender::run_with(db, config, rx, fast(), stop).await
    });
}

fn now() -> UnixMillis {
    SystemClock.now()
}

/// The body of the newest outbox row of `kind` for `recipient`.
async fn outbox_body(db: &MySqlPool, recipient: &str, kind: &str) -> String {
    sqlx::query_scalar(
        "SELECT body FROM mail_outbox WHERE recipient = ? AND kind = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(recipient)
    .bind(kind)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Subscribes `miner` to `email` through request + the confirmation link (no SMTP).
async fn subscribe(f: &Fixture, miner: &str, email: &str) {
    let at = UnixMillis(now().0 - 2 * 24 * 3600 * 1000);
    assert_eq!(
        subscriptions::request(&f.db, &f.settings, miner, email, at)
            .await
            .unwrap(),
        RequestOutcome::ConfirmationQueued
    );
    let token = token_of(&link(
        &outbox_body(&f.db, email, "confirm").await,
        "/user/confirmEmail/",
    ));
    subscriptions::confirm(&f.db, &token, now()).await.unwrap();
    // The confirmation mail is not part of what the test looks at.
    sqlx::query("DELETE FROM mail_outbox")
        .execute(&f.db)
        .await
        .unwrap();
}

async fn enqueue(
    f: &Fixture,
    miner: &str,
    kind: MailKind,
    event_at: u64,
    subject: &str,
    body: &str,
) -> Enqueued {
    let mut tx = f.db.begin().await.unwrap();
    let r = outbox::enqueue_to_miner(
        &mut tx,
        &f.settings,
        miner,
        kind,
        UnixMillis(event_at),
        subject,
        body,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    r
}

async fn states(db: &MySqlPool) -> Vec<(u64, String, u32)> {
    sqlx::query_as("SELECT id, CAST(state AS CHAR), attempts FROM mail_outbox ORDER BY id")
        .fetch_all(db)
        .await
        .unwrap()
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post(url: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_request_sends_one_confirmation_and_a_second_address_cannot_redirect() {
    let f = fixture("mail_optin").await;
    let smtp = Smtp::start().await.unwrap();
    spawn_sender(&f, &smtp);

    // Three hours ago, so that the change below is not within the hour.
    let t0 = UnixMillis(now().0 - 3 * 3600 * 1000);
    let first = subscriptions::request(&f.db, &f.settings, MINER, "me@example.org", t0)
        .await
        .unwrap();
    assert_eq!(first, RequestOutcome::ConfirmationQueued);
    // Logging in again and again sends nothing more (one confirmation per recipient a day).
    for _ in 0..3 {
        let again = subscriptions::request(&f.db, &f.settings, MINER, "me@example.org", now())
            .await
            .unwrap();
        assert_eq!(again, RequestOutcome::Throttled);
    }
    let mails = smtp
        .wait_for_messages(1, Duration::from_secs(20))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = if smtp.messages().unwrap().len() > mails.len() {
        smtp.messages().unwrap()
    } else {
        mails
    };
    assert_eq!(mails.len(), 1, "exactly one confirmation");
    assert_eq!(mails[0].rcpt_tos, ["me@example.org"]);
    let text = body(&mails[0]);
    assert!(text.contains(MINER), "{text}");
    assert!(text.contains("The TestPool team"), "{text}");
    assert!(
        subscriptions::confirmed(&f.db, MINER)
            .await
            .unwrap()
            .is_none(),
        "nothing is confirmed before the link is opened"
    );
    let confirm = link(&text, "/user/confirmEmail/");
    assert!(confirm.starts_with(&f.api), "{confirm}");
    let (status, page) = get(&confirm).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("confirmed"), "{page}");
    let sub = subscriptions::confirmed(&f.db, MINER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.email, "me@example.org");
    assert!(sub.worker_alerts && sub.payments && !sub.solo_blocks);
    let users: (String, i8) =
        sqlx::query_as("SELECT email, enable_email FROM users WHERE username = ?")
            .bind(MINER)
            .fetch_one(&f.db)
            .await
            .unwrap();
    assert_eq!(users, ("me@example.org".to_owned(), 1));
    // Opening it again is harmless.
    assert_eq!(get(&confirm).await.0, 200);

    // Another login names another address for the same miner: the approval goes to the
    // current address, naming the new one only masked; the new address gets nothing.
    let change = subscriptions::request(&f.db, &f.settings, MINER, "thief@evil.example", now())
        .await
        .unwrap();
    assert_eq!(change, RequestOutcome::ApprovalQueued);
    let mails = smtp
        .wait_for_messages(2, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(mails[1].rcpt_tos, ["me@example.org"]);
    let approval = body(&mails[1]);
    assert!(approval.contains("t***@evil.example"), "{approval}");
    assert!(!approval.contains("thief@"), "{approval}");
    assert!(
        !mails
            .iter()
            .any(|m| m.rcpt_tos.iter().any(|r| r.contains("thief"))),
        "the new address gets nothing before the approval"
    );
    let sub = subscriptions::confirmed(&f.db, MINER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sub.email, "me@example.org", "alerts are not redirected");
    // The approval link does not confirm; a confirm route refuses it.
    let approve = link(&approval, "/user/approveEmail/");
    let (status, _) = get(&format!(
        "{}/user/confirmEmail/{}",
        f.api,
        token_of(&approve)
    ))
    .await;
    assert_eq!(status, 400);

    // The current owner approves: only now the new address gets its own confirmation.
    let (status, page) = get(&approve).await;
    assert_eq!(status, 200, "{page}");
    let mails = smtp
        .wait_for_messages(3, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(mails[2].rcpt_tos, ["thief@evil.example"]);
    assert_eq!(
        subscriptions::confirmed(&f.db, MINER)
            .await
            .unwrap()
            .unwrap()
            .email,
        "me@example.org",
        "only the new address's confirmation switches"
    );
    let (status, _) = get(&link(&body(&mails[2]), "/user/confirmEmail/")).await;
    assert_eq!(status, 200);
    assert_eq!(
        subscriptions::confirmed(&f.db, MINER)
            .await
            .unwrap()
            .unwrap()
            .email,
        "thief@evil.example"
    );
    let many = subscriptions::confirmed_many(&f.db, &[MINER, OTHER_MINER])
        .await
        .unwrap();
    assert_eq!(many.len(), 1);
    assert_eq!(many[MINER].email, "thief@evil.example");
}

#[tokio::test]
async fn confirmations_are_limited_per_recipient_per_day() {
    let f = fixture("mail_confirm_cap").await;
    let t0 = now();
    assert_eq!(
        subscriptions::request(&f.db, &f.settings, MINER, "shared@example.org", t0)
            .await
            .unwrap(),
        RequestOutcome::ConfirmationQueued
    );
    // Another miner naming the same address the same day: nothing goes to it.
    assert_eq!(
        subscriptions::request(&f.db, &f.settings, OTHER_MINER, "shared@example.org", t0)
            .await
            .unwrap(),
        RequestOutcome::Throttled
    );
    // A day later it may.
    let next_day = UnixMillis(t0.0 + 24 * 3600 * 1000 + 1);
    assert_eq!(
        subscriptions::request(
            &f.db,
            &f.settings,
            OTHER_MINER,
            "shared@example.org",
            next_day
        )
        .await
        .unwrap(),
        RequestOutcome::ConfirmationQueued
    );
}

#[tokio::test]
async fn the_same_event_is_queued_once_and_only_to_subscribed_miners() {
    let f = fixture("mail_dedup").await;
    subscribe(&f, MINER, "me@example.org").await;
    let e = 1_800_000_000_000;
    assert_eq!(
        enqueue(&f, MINER, MailKind::WorkersStopped, e, "s", "b").await,
        Enqueued::Queued
    );
    assert_eq!(
        enqueue(&f, MINER, MailKind::WorkersStopped, e, "s", "b").await,
        Enqueued::Duplicate
    );
    assert_eq!(
        enqueue(&f, MINER, MailKind::WorkersResumed, e, "s", "b").await,
        Enqueued::Queued
    );
    // Solo blocks are opt-in; a miner without a confirmed address gets nothing.
    assert_eq!(
        enqueue(&f, MINER, MailKind::BlockFound, e, "s", "b").await,
        Enqueued::NotSubscribed
    );
    assert_eq!(
        enqueue(&f, OTHER_MINER, MailKind::PaymentSent, e, "s", "b").await,
        Enqueued::NotSubscribed
    );
    subscriptions::set_switches(&f.db, MINER, true, true, true)
        .await
        .unwrap();
    assert_eq!(
        enqueue(&f, MINER, MailKind::BlockFound, e, "s", "b").await,
        Enqueued::Queued
    );
    // A rolled-back transaction queues nothing.
    let mut tx = f.db.begin().await.unwrap();
    outbox::enqueue_to_miner(
        &mut tx,
        &f.settings,
        MINER,
        MailKind::PaymentSent,
        UnixMillis(e),
        "s",
        "b",
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(states(&f.db).await.len(), 3);
    // Operator mail: one per alert and time; none without an admin address.
    let mut s = f.settings.clone();
    let mut tx = f.db.begin().await.unwrap();
    let none = outbox::enqueue_to_admin(&mut tx, &s, "daemon", UnixMillis(e), "s", "b")
        .await
        .unwrap();
    assert_eq!(none, Enqueued::NotSubscribed);
    s.general.admin_email = "ops@example.org".into();
    let a = outbox::enqueue_to_admin(&mut tx, &s, "daemon", UnixMillis(e), "s", "b")
        .await
        .unwrap();
    let b = outbox::enqueue_to_admin(&mut tx, &s, "daemon", UnixMillis(e), "s", "b")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((a, b), (Enqueued::Queued, Enqueued::Duplicate));
    assert_eq!(states(&f.db).await.len(), 4);
}

#[tokio::test]
async fn smtp_down_the_mail_waits_and_is_delivered_once_when_it_is_back() {
    let f = fixture("mail_retry").await;
    subscribe(&f, MINER, "me@example.org").await;
    assert_eq!(
        enqueue(&f, MINER, MailKind::PaymentSent, 1, "Payment", "paid").await,
        Enqueued::Queued
    );
    let from: lettre::message::Mailbox = "TestPool <pool@example.org>".parse().unwrap();
    let options = fast();
    // Nobody listens on this port: a transient failure, retried later.
    let down = sender::transport(&smtp_config(free_port().unwrap())).unwrap();
    let t = now();
    sender::deliver_due(&f.db, &down, &from, &f.settings, &options, t)
        .await
        .unwrap();
    let s = states(&f.db).await;
    assert_eq!(s[0].1, "queued");
    assert_eq!(s[0].2, 1);
    let next: u64 = sqlx::query_scalar("SELECT next_attempt_at FROM mail_outbox")
        .fetch_one(&f.db)
        .await
        .unwrap();
    assert!(next > t.0, "backoff");
    let health = outbox::health(&f.db).await.unwrap();
    assert_eq!((health.pending, health.retrying, health.failed), (1, 1, 0));
    assert!(health.retrying_since.is_some());
    // Not due yet: nothing is claimed.
    assert_eq!(
        sender::deliver_due(&f.db, &down, &from, &f.settings, &options, t)
            .await
            .unwrap(),
        0
    );
    let t = UnixMillis(next);
    sender::deliver_due(&f.db, &down, &from, &f.settings, &options, t)
        .await
        .unwrap();
    assert_eq!(states(&f.db).await[0].2, 2);

    // SMTP is back: delivered, once.
    let smtp = Smtp::start().await.unwrap();
    let up = sender::transport(&smtp_config(smtp.port())).unwrap();
    let later = UnixMillis(now().0 + 3_600_000);
    sender::deliver_due(&f.db, &up, &from, &f.settings, &options, later)
        .await
        .unwrap();
    sender::deliver_due(&f.db, &up, &from, &f.settings, &options, later)
        .await
        .unwrap();
    let mails = smtp
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().unwrap().len(), 1);
    assert_eq!(mails[0].rcpt_tos, ["me@example.org"]);
    assert_eq!(states(&f.db).await[0].1, "sent");
    assert_eq!(
        outbox::health(&f.db).await.unwrap(),
        outbox::OutboxHealth::default()
    );

    // A crash after claiming leaves the row `sending`: it goes out again after the lease, with
    // the same Message-ID.
    assert_eq!(
        enqueue(&f, MINER, MailKind::PaymentSent, 2, "Payment", "paid").await,
        Enqueued::Queued
    );
    let id: u64 = sqlx::query_scalar("SELECT MAX(id) FROM mail_outbox")
        .fetch_one(&f.db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE mail_outbox SET state = 'sending', attempts = 1, next_attempt_at = ? WHERE id = ?",
    )
    .bind(later.0 + 1000)
    .bind(id)
    .execute(&f.db)
    .await
    .unwrap();
    sender::deliver_due(&f.db, &up, &from, &f.settings, &options, later)
        .await
        .unwrap();
    assert_eq!(smtp.messages().unwrap().len(), 1, "leased: not sent twice");
    sender::deliver_due(
        &f.db,
        &up,
        &from,
        &f.settings,
        &options,
        UnixMillis(later.0 + 1000),
    )
    .await
    .unwrap();
    let mails = smtp
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    let message_id: String = sqlx::query_scalar("SELECT message_id FROM mail_outbox WHERE id = ?")
        .bind(id)
        .fetch_one(&f.db)
        .await
        .unwrap();
    assert_eq!(
        header(&headers_of(&mails[1]), "Message-ID").as_deref(),
        Some(message_id.as_str())
    );
}

/// A scripted SMTP server that refuses every recipient with `550`.
async fn refusing_smtp() -> u16 {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 refuse.example ESMTP\r\n").await.ok()?;
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "RCPT" => b"550 5.1.1 mailbox unavailable\r\n",
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 ok\r\n",
                    };
                    w.write_all(reply).await.ok()?;
                    if verb == "QUIT" {
                        break;
                    }
                }
                Some(())
            });
        }
    });
    port
}

fn rxpool_cli(f: &Fixture, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mysql]\nurl = \"{}\"\n[lmdb]\npath = \"{}\"\n[daemon]\nurls = [\"http://127.0.0.1:1\"]\n\
             [wallet]\nurl = \"http://127.0.0.1:2\"\n[pool]\nbind = \"127.0.0.1\"\npool_id = 1\nhostname = \"test\"\n",
            f.url,
            dir.join("lmdb").display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rxpool"))
        .arg("--config")
        .arg(&config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_row_and_admin_mail_retries_and_purges() {
    let f = fixture("mail_refused").await;
    subscribe(&f, MINER, "me@example.org").await;
    enqueue(&f, MINER, MailKind::PaymentSent, 1, "Payment", "paid").await;
    let from: lettre::message::Mailbox = "TestPool <pool@example.org>".parse().unwrap();
    let refusing = sender::transport(&smtp_config(refusing_smtp().await)).unwrap();
    sender::deliver_due(&f.db, &refusing, &from, &f.settings, &fast(), now())
        .await
        .unwrap();
    let s = states(&f.db).await;
    assert_eq!((s[0].1.as_str(), s[0].2), ("failed", 1));
    let error: String = sqlx::query_scalar("SELECT last_error FROM mail_outbox")
        .fetch_one(&f.db)
        .await
        .unwrap();
    assert!(error.contains("550"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = rxpool_cli(&f, dir.path(), &["admin", "mail", "list"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("failed") && out.contains("m***@example.org"),
        "{out}"
    );
    assert!(!out.contains("me@example.org"), "masked by default: {out}");
    let (ok, out) = rxpool_cli(
        &f,
        dir.path(),
        &["admin", "mail", "list", "--state", "sent"],
    );
    assert!(ok && out.trim().is_empty(), "{out}");
    let (ok, out) = rxpool_cli(
        &f,
        dir.path(),
        &["admin", "mail", "list", "--state", "nope"],
    );
    assert!(!ok, "{out}");

    let id = s[0].0.to_string();
    let (ok, out) = rxpool_cli(&f, dir.path(), &["admin", "mail", "retry", &id]);
    assert!(ok, "{out}");
    assert_eq!(states(&f.db).await[0].1, "queued");
    let smtp = Smtp::start().await.unwrap();
    let up = sender::transport(&smtp_config(smtp.port())).unwrap();
    sender::deliver_due(&f.db, &up, &from, &f.settings, &fast(), now())
        .await
        .unwrap();
    smtp.wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(states(&f.db).await[0].1, "sent");
    let (ok, out) = rxpool_cli(&f, dir.path(), &["admin", "mail", "retry", &id]);
    assert!(!ok, "a sent mail is not retried: {out}");

    // --failed puts every failed row back.
    enqueue(&f, MINER, MailKind::PaymentSent, 2, "Payment", "paid").await;
    enqueue(&f, MINER, MailKind::PaymentSent, 3, "Payment", "paid").await;
    sender::deliver_due(&f.db, &refusing, &from, &f.settings, &fast(), now())
        .await
        .unwrap();
    let (ok, out) = rxpool_cli(&f, dir.path(), &["admin", "mail", "retry", "--failed"]);
    assert!(ok && out.contains("2 failed"), "{out}");

    // Purge: sent rows older than N days, or one row by id.
    let (ok, out) = rxpool_cli(
        &f,
        dir.path(),
        &["admin", "mail", "purge", "--sent-before", "1"],
    );
    assert!(ok && out.contains("0 sent"), "{out}");
    sqlx::query("UPDATE mail_outbox SET sent_at = sent_at - 2 * 86400000 WHERE state = 'sent'")
        .execute(&f.db)
        .await
        .unwrap();
    let (ok, out) = rxpool_cli(
        &f,
        dir.path(),
        &["admin", "mail", "purge", "--sent-before", "1"],
    );
    assert!(ok && out.contains("1 sent"), "{out}");
    let remaining = states(&f.db).await;
    assert_eq!(remaining.len(), 2);
    let (ok, out) = rxpool_cli(
        &f,
        dir.path(),
        &["admin", "mail", "purge", &remaining[0].0.to_string()],
    );
    assert!(ok, "{out}");
    assert_eq!(states(&f.db).await.len(), 1);
}

#[tokio::test]
async fn the_hourly_cap_makes_mail_wait_never_drops_it() {
    let mut f = fixture("mail_cap").await;
    f.settings.email.hourly_cap = 2;
    subscribe(&f, MINER, "me@example.org").await;
    for e in 1..=3 {
        enqueue(&f, MINER, MailKind::WorkersStopped, e, "Stopped", "rig").await;
    }
    let smtp = Smtp::start().await.unwrap();
    let from: lettre::message::Mailbox = "TestPool <pool@example.org>".parse().unwrap();
    let up = sender::transport(&smtp_config(smtp.port())).unwrap();
    let t = now();
    sender::deliver_due(&f.db, &up, &from, &f.settings, &fast(), t)
        .await
        .unwrap();
    sender::deliver_due(
        &f.db,
        &up,
        &from,
        &f.settings,
        &fast(),
        UnixMillis(t.0 + 200),
    )
    .await
    .unwrap();
    smtp.wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    let s: Vec<String> = states(&f.db).await.into_iter().map(|r| r.1).collect();
    assert_eq!(s, ["sent", "sent", "queued"]);
    assert_eq!(smtp.messages().unwrap().len(), 2);
    let next: u64 =
        sqlx::query_scalar("SELECT next_attempt_at FROM mail_outbox WHERE state = 'queued'")
            .fetch_one(&f.db)
            .await
            .unwrap();
    assert!(next >= t.0 + 3_590_000, "waits for the hour to pass");
    sender::deliver_due(&f.db, &up, &from, &f.settings, &fast(), UnixMillis(next))
        .await
        .unwrap();
    smtp.wait_for_messages(3, Duration::from_secs(10))
        .await
        .unwrap();
}

#[tokio::test]
async fn hostile_addresses_are_refused_and_hostile_texts_never_redirect_a_mail() {
    let f = fixture("mail_hostile").await;
    let long = format!("{}@example.org", "a".repeat(10_000));
    for bad in [
        "me@example.org\r\nBcc: victim@example.org",
        "me@example.org\nTo: victim@example.org",
        "a@b>,c@d.org",
        "a@example.org,victim@example.org",
        "\"quoted\"@example.org",
        "x'\"<>@example.org",
        "ünï@example.org",
        "a@b@example.org",
        long.as_str(),
    ] {
        let r = subscriptions::request(&f.db, &f.settings, MINER, bad, now()).await;
        assert!(
            matches!(r, Err(MailError::InvalidAddress(_))),
            "{bad:?}: {r:?}"
        );
    }
    assert!(states(&f.db).await.is_empty());
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_subscriptions")
        .fetch_one(&f.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);

    // Hostile subject and body through the outbox, and a hostile recipient written straight
    // into the table (as a broken tool might): one clean mail to the one address, and the
    // bad row fails without reaching the server.
    subscribe(&f, MINER, "me@example.org").await;
    let subject = "Status\r\nBcc: victim@example.org\r\nX-Evil: 1 \"'ü";
    let body = format!(
        "line\r\nBcc: victim@example.org\r\n.\r\nRCPT TO:<victim@example.org>\r\n{}",
        "ünicode ".repeat(1500)
    );
    enqueue(&f, MINER, MailKind::WorkersStopped, 1, subject, &body).await;
    sqlx::query(
        "INSERT INTO mail_outbox (miner, dedup_key, recipient, kind, event_at, subject, body, message_id, \
         state, attempts, next_attempt_at, created_at) VALUES (NULL, 'admin:x', ?, 'operator', 1, 's', 'b', \
         '<x@y.example>', 'queued', 0, 0, 0)",
    )
    .bind("ops@example.org>,victim@example.org")
    .execute(&f.db)
    .await
    .unwrap();
    let smtp = Smtp::start().await.unwrap();
    let from: lettre::message::Mailbox = "TestPool <pool@example.org>".parse().unwrap();
    let up = sender::transport(&smtp_config(smtp.port())).unwrap();
    sender::deliver_due(&f.db, &up, &from, &f.settings, &fast(), now())
        .await
        .unwrap();
    let mails = smtp
        .wait_for_messages(1, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().unwrap().len(), 1);
    assert_eq!(mails[0].rcpt_tos, ["me@example.org"]);
    let headers = headers_of(&mails[0]);
    for l in headers.lines() {
        let l = l.to_ascii_lowercase();
        assert!(
            !l.starts_with("bcc") && !l.starts_with("x-evil"),
            "{headers}"
        );
    }
    assert!(body_contains_all(
        &mails[0],
        &["ünicode", "Bcc: victim@example.org"]
    ));
    let s: Vec<String> = states(&f.db).await.into_iter().map(|r| r.1).collect();
    assert_eq!(s, ["sent", "failed"]);
}

fn body_contains_all(mail: &ReceivedMail, parts: &[&str]) -> bool {
    let b = body(mail);
    parts.iter().all(|p| b.contains(p))
}

#[tokio::test]
async fn unsubscribe_links_stop_everything_and_bad_tokens_are_refused() {
    let f = fixture("mail_unsub").await;
    subscribe(&f, MINER, "me@example.org").await;
    subscribe(&f, OTHER_MINER, "other@example.org").await;
    enqueue(&f, MINER, MailKind::WorkersStopped, 1, "Stopped", "rig").await;
    enqueue(
        &f,
        OTHER_MINER,
        MailKind::WorkersStopped,
        1,
        "Stopped",
        "rig",
    )
    .await;

    let smtp = Smtp::start().await.unwrap();
    let from: lettre::message::Mailbox = "TestPool <pool@example.org>".parse().unwrap();
    let up = sender::transport(&smtp_config(smtp.port())).unwrap();
    sender::deliver_due(&f.db, &up, &from, &f.settings, &fast(), now())
        .await
        .unwrap();
    let mails = smtp
        .wait_for_messages(2, Duration::from_secs(10))
        .await
        .unwrap();
    let mine = mails
        .iter()
        .find(|m| m.rcpt_tos == ["me@example.org"])
        .unwrap();
    let theirs = mails
        .iter()
        .find(|m| m.rcpt_tos == ["other@example.org"])
        .unwrap();
    let list_unsub = header(&headers_of(mine), "List-Unsubscribe").unwrap();
    assert_eq!(
        header(&headers_of(mine), "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let one_click = list_unsub
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    let in_body = link(&body(theirs), "/user/unsubscribeEmail/");

    // Tampered, other-purpose and expired tokens are refused with a clear 400.
    let token = token_of(&one_click);
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 5;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, page) = get(&format!("{}/user/unsubscribeEmail/{tampered}", f.api)).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("cannot be used"), "{page}");
    let (status, _) = get(&format!("{}/user/confirmEmail/{token}", f.api)).await;
    assert_eq!(status, 400, "an unsubscribe token does not confirm");
    let (status, _) = get(&format!("{}/user/approveEmail/{token}", f.api)).await;
    assert_eq!(status, 400);
    let mut conn = f.db.acquire().await.unwrap();
    let secret = LinkSecret::load(&mut conn).await.unwrap();
    let old = UnixMillis(now().0 - 8 * 24 * 3600 * 1000);
    let expired = secret.sign(Purpose::Confirm, MINER, "me@example.org", old);
    let (status, page) = get(&format!("{}/user/confirmEmail/{expired}", f.api)).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");
    let wrong_miner = secret.sign(Purpose::Unsubscribe, MINER, "other@example.org", now());
    let (status, _) = get(&format!("{}/user/unsubscribeEmail/{wrong_miner}", f.api)).await;
    assert_eq!(status, 200, "nothing to stop, said plainly");
    assert!(
        subscriptions::confirmed(&f.db, OTHER_MINER)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        subscriptions::confirmed(&f.db, MINER)
            .await
            .unwrap()
            .is_some()
    );

    // Queued mail is stopped with the subscription.
    enqueue(&f, MINER, MailKind::PaymentSent, 2, "Paid", "x").await;
    let (status, page) = post(&one_click).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("unsubscribed"), "{page}");
    assert!(
        subscriptions::confirmed(&f.db, MINER)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        enqueue(&f, MINER, MailKind::WorkersStopped, 3, "Stopped", "rig").await,
        Enqueued::NotSubscribed
    );
    let enable: i8 = sqlx::query_scalar("SELECT enable_email FROM users WHERE username = ?")
        .bind(MINER)
        .fetch_one(&f.db)
        .await
        .unwrap();
    assert_eq!(enable, 0);
    // GET on the other miner's body link works the same way.
    let (status, _) = get(&in_body).await;
    assert_eq!(status, 200);
    assert!(
        subscriptions::confirmed(&f.db, OTHER_MINER)
            .await
            .unwrap()
            .is_none()
    );
    // Even a retried row is not sent after an unsubscribe.
    sqlx::query(
        "UPDATE mail_outbox SET state = 'queued', next_attempt_at = 0 WHERE state = 'failed'",
    )
    .execute(&f.db)
    .await
    .unwrap();
    sender::deliver_due(&f.db, &up, &from, &f.settings, &fast(), now())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        smtp.messages().unwrap().len(),
        2,
        "nothing more after unsubscribing"
    );
    // The login does not resubscribe the same address.
    assert_eq!(
        subscriptions::request(&f.db, &f.settings, MINER, "me@example.org", now())
            .await
            .unwrap(),
        RequestOutcome::AlreadyConfirmed
    );
}
