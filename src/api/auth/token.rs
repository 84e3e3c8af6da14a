//! Access tokens: short-lived JWTs (HS256, `jsonwebtoken`) naming the account, its role and
//! the session they belong to, signed with the pool's key from MySQL
//! (`store::mysql::admins::sessions::signing_key`).
//!
//! Only HS256 is accepted (`alg: none` and every other algorithm are refused by the
//! library); expiry is checked here against the api's clock, not the system's, so tests can
//! move time. A token that verifies is not enough: the caller also checks its session is
//! live. Tokens are never logged.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::UnixMillis;
use crate::store::mysql::admins::Role;
use crate::store::mysql::admins::sessions::SigningKey;

/// How long an access token works.
pub const ACCESS_TTL_SECS: u64 = 15 * 60;
/// Longest token text looked at (a real one is about 300 bytes).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The account's id (a string, as RFC 7519 has it).
    pub sub: String,
    /// The account's name when the token was issued.
    pub name: String,
    /// The account's role when the token was issued (the session's current role is what
    /// counts).
    pub role: Role,
    /// The session (`admin_sessions.id`).
    pub sid: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Expires at, Unix seconds.
    pub exp: u64,
}

impl Claims {
    /// Claims for account `id`/`name` in session `sid`, issued `now`.
    pub fn new(id: u64, name: &str, role: Role, sid: u64, now: UnixMillis) -> Claims {
        let iat = now.0 / 1000;
        Claims {
            sub: id.to_string(),
            name: name.to_owned(),
            role,
            sid,
            iat,
            exp: iat + ACCESS_TTL_SECS,
        }
    }
}

/// Why a token was refused; each answers 401 with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error(
        "missing token: send `Authorization: Bearer <token>` (or `x-access-token`) from /admin/login"
    )]
    Missing,
    #[error("malformed token: not a token this pool issued")]
    Malformed,
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired: refresh it (/admin/refresh) or log in again")]
    Expired,
    #[error("token revoked: its session ended (logout, password change or account removed)")]
    Revoked,
}

/// Signs `claims`.
pub fn sign(key: &SigningKey, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(&key.0),
    )
}

/// The claims of `token` if it is ours (HS256 under `key`) and unexpired at `now`.
pub fn verify(key: &SigningKey, token: &str, now: UnixMillis) -> Result<Claims, TokenRefusal> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(TokenRefusal::Malformed);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked below against the api's clock.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims::<&str>(&[]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&key.0), &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRefusal::BadSignature,
                _ => TokenRefusal::Malformed,
            })?;
    if data.claims.exp <= now.0 / 1000 {
        return Err(TokenRefusal::Expired);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

    fn signed() -> (SigningKey, String) {
        let key = SigningKey([7; 32]);
        let claims = Claims::new(3, "alice", Role::Admin, 9, NOW);
        (key.clone(), sign(&key, &claims).unwrap())
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let (key, token) = signed();
        let claims = verify(&key, &token, NOW).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid), ("3", 9));
        let later = UnixMillis(NOW.0 + ACCESS_TTL_SECS * 1000 - 1000);
        assert!(verify(&key, &token, later).is_ok());
        let expired = UnixMillis(NOW.0 + ACCESS_TTL_SECS * 1000);
        assert_eq!(verify(&key, &token, expired), Err(TokenRefusal::Expired));
    }

    #[test]
    fn tampered_tokens_and_other_keys_and_algorithms_are_refused() {
        let (key, token) = signed();
        assert_eq!(
            verify(&SigningKey([8; 32]), &token, NOW),
            Err(TokenRefusal::BadSignature)
        );
        let parts: Vec<&str> = token.split('.').collect();
        // A payload claiming the viewer is an admin, under the old signature.
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["sid"] = 10.into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            parts[2]
        );
        assert_eq!(verify(&key, &forged, NOW), Err(TokenRefusal::BadSignature));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert_eq!(verify(&key, &none, NOW), Err(TokenRefusal::Malformed));
        for junk in ["", "a.b.c", "....", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert!(verify(&key, junk, NOW).is_err(), "{junk:.20}");
        }
    }
}
