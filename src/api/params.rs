//! Path and query input of the public routes, parsed into types with a clear 400 for anything
//! else:
//!
//! - [`MinerKey`]: the `:address` of `/miner/:address/...` and `/user/...`: a standard
//!   address, a subaddress, an integrated address, or `address.<16-hex payment id>`, which is
//!   the integrated address the two make (as the pool keys the miner who logs in with it).
//! - [`Paging`]: `?limit=&page=` (page 0-based, as nodejs-pool), with a default and a cap per
//!   route; negative, huge or non-numeric values are refused, not clamped silently.
//! - [`JsonBody`]: a JSON request body whose every rejection (wrong content type, malformed or
//!   mistyped JSON, too large) is an [`ApiError`] in JSON rather than axum's plain text.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;
use crate::domain::Network;
use crate::domain::address::WalletAddress;

/// Longest `:address` text accepted (an integrated address with a dot and 64 hex is far less).
pub const MAX_ADDRESS_TEXT: usize = 256;

/// A miner's payout key as the pool stores it (the LMDB miner key and the MySQL
/// `balance.payment_address`): the address text, or the integrated address an
/// `address.<payment id>` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerKey {
    pub address: WalletAddress,
}

impl MinerKey {
    /// Parses `text` for `network`.
    pub fn parse(text: &str, network: Network) -> Result<MinerKey, ApiError> {
        if text.len() > MAX_ADDRESS_TEXT {
            return Err(ApiError::bad_request(format!(
                "address: longer than {MAX_ADDRESS_TEXT} characters"
            )));
        }
        let address = WalletAddress::parse_payout_key(text, network)
            .map_err(|e| ApiError::bad_request(format!("address: {e}")))?;
        Ok(MinerKey { address })
    }

    /// The key text (what LMDB and MySQL hold).
    pub fn as_str(&self) -> &str {
        &self.address.text
    }
}

/// `?limit=&page=` of a list route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: u32,
    /// 0-based.
    pub page: u32,
}

/// Highest page number accepted (with the limit cap, the deepest offset a list reaches).
pub const MAX_PAGE: u32 = 100_000;

impl Paging {
    /// Reads `limit` and `page` from `query`: `limit` defaults to `default` and must be
    /// 1..=`max`; `page` defaults to 0 and must be 0..=[`MAX_PAGE`].
    pub fn from_query(query: &Query, default: u32, max: u32) -> Result<Paging, ApiError> {
        let limit = match query.get("limit") {
            None => default,
            Some(text) => parse_bounded("limit", text, 1, max)?,
        };
        let page = match query.get("page") {
            None => 0,
            Some(text) => parse_bounded("page", text, 0, MAX_PAGE)?,
        };
        Ok(Paging { limit, page })
    }

    /// Rows to skip.
    pub fn offset(self) -> u64 {
        u64::from(self.limit) * u64::from(self.page)
    }
}

fn parse_bounded(name: &str, text: &str, min: u32, max: u32) -> Result<u32, ApiError> {
    let value: i128 = text
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{name}: {text:.32?} is not a whole number")))?;
    if value < i128::from(min) || value > i128::from(max) {
        return Err(ApiError::bad_request(format!(
            "{name}: must be between {min} and {max}"
        )));
    }
    Ok(u32::try_from(value).unwrap_or(max))
}

/// The query string's parameters (the last value of a repeated name wins). Malformed
/// encoding is a 400 in JSON, not axum's plain-text rejection.
#[derive(Debug, Clone, Default)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Query, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        if raw.len() > 2048 {
            return Err(ApiError::bad_request(
                "query string: longer than 2048 bytes",
            ));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| ApiError::bad_request(format!("query string: {e}")))?;
        Ok(Query(pairs.into_iter().collect()))
    }
}

/// A JSON body of type `T`; refusals are JSON [`ApiError`]s naming what was wrong.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "body: send JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge("body: too large".into()))
            }
            Err(e) => Err(ApiError::bad_request(format!("body: {}", e.body_text()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Query {
        Query(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn paging_takes_defaults_and_refuses_what_is_out_of_range() {
        assert_eq!(
            Paging::from_query(&query(&[]), 25, 100).unwrap(),
            Paging { limit: 25, page: 0 }
        );
        assert_eq!(
            Paging::from_query(&query(&[("limit", "7"), ("page", "3")]), 25, 100)
                .unwrap()
                .offset(),
            21
        );
        for bad in [
            ("limit", "0"),
            ("limit", "-1"),
            ("limit", "101"),
            ("limit", "1e3"),
            ("limit", "99999999999999999999999999999999999999999"),
            ("page", "-2"),
            ("page", "100001"),
            ("page", "x'; DROP TABLE users; --"),
        ] {
            let err = Paging::from_query(&query(&[bad]), 25, 100).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)), "{bad:?}");
        }
    }

    #[test]
    fn a_miner_key_refuses_garbage_and_oversized_text() {
        for bad in ["", "4abc", "ümlaut", ".", &"4".repeat(300)] {
            assert!(MinerKey::parse(bad, Network::Mainnet).is_err(), "{bad}");
        }
    }
}
