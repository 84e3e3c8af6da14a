//! The web dashboard for miners and operators, served by the api itself from files built into
//! the binary (`src/api/dashboard/assets/`, embedded with `include_bytes!`): `GET /` is the
//! page and `GET /assets/NAME` its scripts, styles and the vendored chart library (uPlot, MIT,
//! see `assets/vendor/README`). No CDN, font or third-party request: the Content-Security-Policy
//! sent with the page allows this origin alone.
//!
//! The page is a small single-page application in plain JavaScript (no Node build): it reads
//! only this api's public REST routes, its `/ws` push and, behind the admin login, its `/admin`
//! routes, all with **relative** URLs, so it works unchanged behind nginx or Caddy under a path
//! prefix. Its views are chosen by the URL's fragment (`#/miner/ADDR`, `#/admin/blocks`), so
//! the server has one page to serve whatever the view.
//!
//! This module owns no data and no state: it serves bytes, with an `ETag` (the content's hash)
//! so a browser revalidates cheaply and always sees the files of the running binary. It is off
//! when `[api] dashboard = false`.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::ApiError;

/// One embedded file.
#[derive(Debug)]
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("dashboard/assets/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page's files under `/assets/`, in the order the page loads them.
static ASSETS: [Asset; 10] = [
    asset!("vendor/uPlot.min.css", CSS),
    asset!("app.css", CSS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("core.js", JS),
    asset!("pool.js", JS),
    asset!("miner.js", JS),
    asset!("admin.js", JS),
    asset!("main.js", JS),
    asset!("icon.svg", "image/svg+xml"),
    asset!("vendor/uPlot.LICENSE", "text/plain; charset=utf-8"),
];

/// The page itself.
static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

/// What the page may load and connect to: this origin only (its websocket included). Styles
/// set from scripts (uPlot sizes its canvas) are not inline styles and need no exception.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes (empty when `[api] dashboard = false`).
pub fn routes(enabled: bool) -> Router {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*name}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => serve(asset, &headers),
        None => ApiError::not_found("no such dashboard file").into_response(),
    }
}

/// The strong validator of `asset`: a hash of its bytes, computed once per file.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        std::iter::once(&INDEX)
            .chain(ASSETS.iter())
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.bytes))[..32]))
            .collect()
    });
    let index = std::iter::once(&INDEX)
        .chain(ASSETS.iter())
        .position(|a| std::ptr::eq(a, asset))
        .unwrap_or_default();
    &tags[index]
}

/// `asset` with its headers, or 304 when the browser's copy is current.
fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let tag = etag(asset);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::ETAG, HeaderValue::from_static(tag));
    // Revalidate every time: a restart with a new binary shows its own files at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_loads_is_embedded() {
        let page = std::str::from_utf8(INDEX.bytes).unwrap();
        for asset in ASSETS.iter().filter(|a| !a.name.ends_with("LICENSE")) {
            assert!(
                page.contains(&format!("\"assets/{}\"", asset.name)),
                "index.html does not load {}",
                asset.name
            );
        }
    }

    #[test]
    fn the_page_names_no_other_origin() {
        for asset in
            std::iter::once(&INDEX).chain(ASSETS.iter().filter(|a| !a.name.starts_with("vendor/")))
        {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for scheme in ["http://", "https://", "//cdn", "//fonts"] {
                let outside = text
                    .match_indices(scheme)
                    .map(|(i, _)| &text[i..(i + 60).min(text.len())])
                    .find(|s| !s.starts_with("http://www.w3.org"));
                assert!(outside.is_none(), "{} names {outside:?}", asset.name);
            }
        }
    }

    #[test]
    fn etags_differ_per_file_and_revalidate() {
        let a = etag(&ASSETS[0]);
        let b = etag(&ASSETS[1]);
        assert_ne!(a, b);
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(a));
        assert_eq!(
            serve(&ASSETS[0], &headers).status(),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(serve(&ASSETS[1], &headers).status(), StatusCode::OK);
    }
}
