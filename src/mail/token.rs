//! Signed links for e-mail: confirm an address, approve a change of address, unsubscribe.
//!
//! A token is URL-safe base64 (no padding) of `version, purpose, issued-at (ms), a digest of
//! the address it is for, the miner` followed by an HMAC-SHA256 tag over all of it under the
//! pool's link secret. The address itself is not in the link, only a keyed digest, so a link
//! names no address; a token verifies only for its own purpose, miner and address, unchanged,
//! and (confirm, approve) within [`LINK_TTL`]. The tag is checked in constant time.
//!
//! The secret is 32 random bytes kept in MySQL `mail_secret`: inserted once if absent and read
//! back, so every role and host signs and checks with the same key. It is never logged
//! (`Debug` masks it). The api honours links with this same code.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore as _;
use sha2::Sha256;

use crate::domain::UnixMillis;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const DIGEST_LEN: usize = 16;
const TAG_LEN: usize = 32;
const HEADER_LEN: usize = 1 + 1 + 8 + DIGEST_LEN;
/// How long a confirmation or approval link works.
pub const LINK_TTL: u64 = 7 * 24 * 3600 * 1000;
/// Clock skew tolerated between the host that signed and the one that checks.
const SKEW: u64 = 5 * 60 * 1000;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Confirm,
    Unsubscribe,
    ApproveChange,
}

impl Purpose {
    fn code(self) -> u8 {
        match self {
            Purpose::Confirm => 1,
            Purpose::Unsubscribe => 2,
            Purpose::ApproveChange => 3,
        }
    }

    fn from_code(code: u8) -> Option<Purpose> {
        [
            Purpose::Confirm,
            Purpose::Unsubscribe,
            Purpose::ApproveChange,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }

    /// Unsubscribe links work for as long as the address is subscribed.
    fn ttl(self) -> Option<u64> {
        match self {
            Purpose::Confirm | Purpose::ApproveChange => Some(LINK_TTL),
            Purpose::Unsubscribe => None,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is damaged or incomplete")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link is not for this action")]
    WrongPurpose,
    #[error("the link has expired; ask for a new one")]
    Expired,
    #[error("the link is for another miner or another address, or was superseded")]
    NotForThis,
}

/// The key links are signed with. `Debug` never shows it.
#[derive(Clone)]
pub struct LinkSecret([u8; 32]);

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(***)")
    }
}

impl LinkSecret {
    pub fn from_bytes(bytes: [u8; 32]) -> LinkSecret {
        LinkSecret(bytes)
    }

    /// 32 bytes from the operating system's generator.
    pub fn generate() -> LinkSecret {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        LinkSecret(bytes)
    }

    /// The pool's secret: inserted if absent (a fresh random one), then read back, so every
    /// role and host agrees. Works inside the caller's transaction.
    pub async fn load(conn: &mut sqlx::MySqlConnection) -> Result<LinkSecret, sqlx::Error> {
        let candidate = LinkSecret::generate();
        sqlx::query("INSERT IGNORE INTO mail_secret (name, secret) VALUES ('links', ?)")
            .bind(&candidate.0[..])
            .execute(&mut *conn)
            .await?;
        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT secret FROM mail_secret WHERE name = 'links'")
                .fetch_one(&mut *conn)
                .await?;
        let bytes: [u8; 32] = stored
            .try_into()
            .map_err(|_| sqlx::Error::Decode("mail_secret.links is not 32 bytes".into()))?;
        Ok(LinkSecret(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// A keyed digest of an address (so the link carries no address).
    fn address_digest(&self, address: &str) -> [u8; DIGEST_LEN] {
        let mut mac = self.mac();
        mac.update(b"rxpool mail address\0");
        mac.update(address.as_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; DIGEST_LEN];
        out.copy_from_slice(&full[..DIGEST_LEN]);
        out
    }

    fn tag(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac();
        mac.update(b"rxpool mail link\0");
        mac.update(payload);
        mac
    }

    /// A token for `purpose`, `miner` and `address`, issued at `now`.
    pub fn sign(&self, purpose: Purpose, miner: &str, address: &str, now: UnixMillis) -> String {
        let mut payload = Vec::with_capacity(HEADER_LEN + miner.len() + TAG_LEN);
        payload.push(VERSION);
        payload.push(purpose.code());
        payload.extend_from_slice(&now.0.to_be_bytes());
        payload.extend_from_slice(&self.address_digest(address));
        payload.extend_from_slice(miner.as_bytes());
        let tag = self.tag(&payload).finalize().into_bytes();
        payload.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// Checks signature, purpose and age; the caller then checks [`Claims::is_for`] against
    /// the stored miner and address (or uses [`LinkSecret::verify_for`]).
    pub fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now: UnixMillis,
    ) -> Result<Claims, TokenError> {
        if token.len() > 2048 {
            return Err(TokenError::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Malformed)?;
        if raw.len() < HEADER_LEN + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = raw.split_at(raw.len() - TAG_LEN);
        self.tag(payload)
            .verify_slice(tag)
            .map_err(|_| TokenError::BadSignature)?;
        if payload[0] != VERSION {
            return Err(TokenError::Malformed);
        }
        let got = Purpose::from_code(payload[1]).ok_or(TokenError::Malformed)?;
        if got != purpose {
            return Err(TokenError::WrongPurpose);
        }
        let issued_at = UnixMillis(u64::from_be_bytes(
            payload[2..10]
                .try_into()
                .map_err(|_| TokenError::Malformed)?,
        ));
        if issued_at.0 > now.0.saturating_add(SKEW) {
            return Err(TokenError::Malformed);
        }
        if purpose
            .ttl()
            .is_some_and(|ttl| now.0.saturating_sub(issued_at.0) > ttl)
        {
            return Err(TokenError::Expired);
        }
        let mut address_digest = [0u8; DIGEST_LEN];
        address_digest.copy_from_slice(&payload[10..HEADER_LEN]);
        let miner = std::str::from_utf8(&payload[HEADER_LEN..])
            .map_err(|_| TokenError::Malformed)?
            .to_owned();
        Ok(Claims {
            purpose,
            miner,
            address_digest,
            issued_at,
        })
    }

    /// [`LinkSecret::verify`] and [`Claims::is_for`] in one.
    pub fn verify_for(
        &self,
        token: &str,
        purpose: Purpose,
        miner: &str,
        address: &str,
        now: UnixMillis,
    ) -> Result<Claims, TokenError> {
        let claims = self.verify(token, purpose, now)?;
        if claims.is_for(self, miner, address) {
            Ok(claims)
        } else {
            Err(TokenError::NotForThis)
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub purpose: Purpose,
    pub miner: String,
    address_digest: [u8; DIGEST_LEN],
    pub issued_at: UnixMillis,
}

impl Claims {
    /// Whether the token was issued for this miner and this address.
    pub fn is_for(&self, secret: &LinkSecret, miner: &str, address: &str) -> bool {
        self.miner == miner && self.address_matches(secret, address)
    }

    /// Whether the token was issued for this address.
    pub fn address_matches(&self, secret: &LinkSecret, address: &str) -> bool {
        let want = secret.address_digest(address);
        // Constant time, like the tag check.
        want.iter()
            .zip(self.address_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINER: &str = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
    const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

    fn secret() -> LinkSecret {
        LinkSecret::from_bytes([7; 32])
    }

    #[test]
    fn a_token_verifies_for_its_purpose_miner_and_address() {
        let s = secret();
        let t = s.sign(Purpose::Confirm, MINER, "me@example.org", NOW);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let c = s
            .verify_for(&t, Purpose::Confirm, MINER, "me@example.org", NOW)
            .unwrap();
        assert_eq!(c.miner, MINER);
        assert_eq!(c.issued_at, NOW);
        assert!(!t.contains("example"));
    }

    #[test]
    fn a_token_is_refused_for_another_purpose_miner_or_address() {
        let s = secret();
        let t = s.sign(Purpose::Confirm, MINER, "me@example.org", NOW);
        assert_eq!(
            s.verify(&t, Purpose::Unsubscribe, NOW),
            Err(TokenError::WrongPurpose)
        );
        assert_eq!(
            s.verify(&t, Purpose::ApproveChange, NOW),
            Err(TokenError::WrongPurpose)
        );
        assert_eq!(
            s.verify_for(&t, Purpose::Confirm, "other", "me@example.org", NOW),
            Err(TokenError::NotForThis)
        );
        assert_eq!(
            s.verify_for(&t, Purpose::Confirm, MINER, "you@example.org", NOW),
            Err(TokenError::NotForThis)
        );
    }

    #[test]
    fn a_tampered_token_or_another_key_is_refused() {
        let s = secret();
        let t = s.sign(Purpose::Unsubscribe, MINER, "me@example.org", NOW);
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        for i in [0, 1, 5, 12, 30, raw.len() - 1] {
            raw[i] ^= 1;
            let bad = URL_SAFE_NO_PAD.encode(&raw);
            assert!(
                s.verify(&bad, Purpose::Unsubscribe, NOW).is_err(),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        assert_eq!(
            LinkSecret::from_bytes([8; 32]).verify(&t, Purpose::Unsubscribe, NOW),
            Err(TokenError::BadSignature)
        );
        for junk in ["", "abc", "!!!!", &t[..t.len() - 3]] {
            assert!(s.verify(junk, Purpose::Unsubscribe, NOW).is_err(), "{junk}");
        }
    }

    #[test]
    fn confirm_links_expire_unsubscribe_links_do_not() {
        let s = secret();
        let c = s.sign(Purpose::Confirm, MINER, "me@example.org", NOW);
        let later = UnixMillis(NOW.0 + LINK_TTL + 1);
        assert_eq!(
            s.verify(&c, Purpose::Confirm, later),
            Err(TokenError::Expired)
        );
        assert!(
            s.verify(&c, Purpose::Confirm, UnixMillis(NOW.0 + LINK_TTL))
                .is_ok()
        );
        let u = s.sign(Purpose::Unsubscribe, MINER, "me@example.org", NOW);
        assert!(s.verify(&u, Purpose::Unsubscribe, later).is_ok());
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        assert_eq!(format!("{:?}", secret()), "LinkSecret(***)");
    }
}
