//! The web apps (`web/<app>/` at the repo root: customer, store, operator,
//! and `web/common/`) served by the HTTP function itself at
//! `GET /app/{path+}`, so they work the same on Lambda and on the local
//! stack. The files are compiled in; each is gzipped once, on first use,
//! and served with an `ETag` and `Cache-Control: no-cache` (the browser
//! revalidates with `If-None-Match`, so a deploy is seen at once and an
//! unchanged file costs a 304).
//!
//! `GET /app/config.js` is generated: where the apps find the WebSocket
//! API (`WEB_SOCKET_URL`, set by the template at deploy time; unset on the
//! local stack, whose apps use their own origin's `/ws`). The HTTP API is
//! the origin that served the page.
//!
//! Every answer carries a strict `Content-Security-Policy`: scripts,
//! styles, images and fonts only from this origin (no inline script or
//! `style=` attribute), connections only to this origin and the WebSocket
//! API, no plugins, frames or foreign form targets.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::OnceLock;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use flate2::Compression;
use flate2::write::GzEncoder;
use http::HeaderValue;
use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION, VARY,
};
use include_dir::{Dir, include_dir};

use super::error::{ApiError, error_response};

static WEB: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../web");

/// The generated configuration script's path under `/app/`.
pub const CONFIG_PATH: &str = "config.js";

/// One file as served: its bytes, gzipped bytes, type and tag.
struct Asset {
    plain: &'static [u8],
    gzipped: Vec<u8>,
    content_type: &'static str,
    etag: String,
}

/// Answers `GET /app/{path+}`; `path` is the greedy path parameter (e.g.
/// `customer/`, `customer/app.js`).
#[must_use]
pub fn serve(request: &ApiGatewayV2httpRequest, base_path: &str) -> ApiGatewayV2httpResponse {
    let path = request.path_parameters.get("path").map_or("", String::as_str);
    if path == CONFIG_PATH {
        return config_script(request, base_path);
    }
    // `/app/customer` has no trailing slash: the page's relative links
    // need one.
    if !path.is_empty() && !path.contains('/') && WEB.get_dir(path).is_some() {
        let mut response = empty(308);
        if let Ok(location) = HeaderValue::from_str(&format!("{base_path}/app/{path}/")) {
            response.headers.insert(LOCATION, location);
        }
        return response;
    }
    let file = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    match asset(&file) {
        Some(asset) => respond(request, asset),
        None => error_response(&ApiError::new(404, "not_found", "no such file")),
    }
}

/// The file at `path`, gzipped on first use. Paths with `..` or empty
/// segments are never looked up.
fn asset(path: &str) -> Option<&'static Asset> {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, &'static Asset>>> = OnceLock::new();
    if path.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return None;
    }
    let file = WEB.get_file(path)?;
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(asset) = cache.get(path) {
        return Some(asset);
    }
    let plain = file.contents();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, plain);
    let tag: String = digest.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect();
    // Built once per file per process and kept for its life, as the
    // embedded bytes are.
    let asset: &'static Asset = Box::leak(Box::new(Asset {
        plain,
        gzipped: gzip(plain),
        content_type: content_type(path),
        etag: format!("\"{tag}\""),
    }));
    cache.insert(path.to_string(), asset);
    Some(asset)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    // Writing to a Vec cannot fail.
    if encoder.write_all(bytes).is_err() {
        return Vec::new();
    }
    encoder.finish().unwrap_or_default()
}

/// The media type by extension (the files are ours: a short table).
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn accepts_gzip(request: &ApiGatewayV2httpRequest) -> bool {
    request
        .headers
        .get(ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
        })
}

fn respond(request: &ApiGatewayV2httpRequest, asset: &Asset) -> ApiGatewayV2httpResponse {
    let not_modified = request
        .headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == asset.etag));
    let mut response = if not_modified {
        empty(304)
    } else {
        let mut response = empty(200);
        // Gzip only when it is smaller (tiny files are not).
        if accepts_gzip(request) && asset.gzipped.len() < asset.plain.len() {
            response.body = Some(Body::Binary(asset.gzipped.clone()));
            response
                .headers
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        } else {
            response.body = Some(Body::Binary(asset.plain.to_vec()));
        }
        response.is_base64_encoded = true;
        response
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        response
    };
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        response.headers.insert(ETAG, etag);
    }
    secure(request, &mut response);
    response
}

/// `window.APP_CONFIG`: the HTTP API's base path on this origin and the
/// WebSocket URL (null: the page's own origin at `/ws`, the local stack's).
fn config_script(request: &ApiGatewayV2httpRequest, base_path: &str) -> ApiGatewayV2httpResponse {
    let ws = web_socket_url();
    let config = serde_json::json!({ "http": base_path, "ws": ws });
    let mut response = empty(200);
    response.body = Some(Body::Text(format!("window.APP_CONFIG = {config};\n")));
    response
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    secure(request, &mut response);
    response
}

/// The deployment's WebSocket API URL, when the template set one: read
/// once per process, as the rest of the configuration is.
fn web_socket_url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| std::env::var("WEB_SOCKET_URL").ok().filter(|url| !url.is_empty()))
        .as_deref()
}

/// The policy for the apps: everything from this origin only; sockets to
/// the deployment's WebSocket API, or (locally) to this host's `/ws`,
/// named with both schemes as a bare `'self'` does not cover `ws:` in
/// every browser.
fn content_security_policy(request: &ApiGatewayV2httpRequest) -> String {
    let sockets = match web_socket_url() {
        Some(url) => socket_origin(url).unwrap_or_default(),
        None => request
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|host| host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
            .map(|host| format!("ws://{host} wss://{host}"))
            .unwrap_or_default(),
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self' {sockets}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// `wss://abc.execute-api…/prod` → `wss://abc.execute-api…` (a CSP
/// source is an origin; a path would narrow it to that path only).
fn socket_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next()?;
    let clean = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    (clean(scheme) && clean(host)).then(|| format!("{scheme}://{host}"))
}

fn secure(request: &ApiGatewayV2httpRequest, response: &mut ApiGatewayV2httpResponse) {
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(request)) {
        response.headers.insert(http::header::CONTENT_SECURITY_POLICY, policy);
    }
    let headers = &mut response.headers;
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

fn empty(status: u16) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response
}

/// Every file under `web/`, for tests and size figures.
#[cfg(test)]
fn files() -> Vec<&'static str> {
    fn walk(dir: &'static Dir<'static>, out: &mut Vec<&'static str>) {
        for file in dir.files() {
            if let Some(path) = file.path().to_str() {
                out.push(path);
            }
        }
        for sub in dir.dirs() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&WEB, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, headers: &[(&'static str, &str)]) -> ApiGatewayV2httpResponse {
        let mut request = ApiGatewayV2httpRequest::default();
        request.path_parameters.insert("path".into(), path.into());
        for (name, value) in headers {
            request
                .headers
                .insert(*name, HeaderValue::from_str(value).expect("header"));
        }
        serve(&request, "")
    }

    #[test]
    fn pages_are_served_gzipped_with_their_type_and_revalidated_by_etag() {
        let page = get("customer/", &[("accept-encoding", "gzip, br")]);
        assert_eq!(page.status_code, 200);
        assert_eq!(page.headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(page.headers[CONTENT_ENCODING], "gzip");
        let etag = page.headers[ETAG].to_str().expect("etag").to_string();
        let again = get("customer/", &[("if-none-match", &etag)]);
        assert_eq!(again.status_code, 304);
        assert!(again.body.is_none());
        let plain = get("customer/index.html", &[]);
        assert!(!plain.headers.contains_key(CONTENT_ENCODING));
        match plain.body {
            Some(Body::Binary(bytes)) => assert!(String::from_utf8_lossy(&bytes).contains("<html")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            get("store/app.js", &[]).headers[CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[test]
    fn a_folder_without_its_slash_redirects_and_strangers_get_404() {
        let moved = get("customer", &[]);
        assert_eq!(moved.status_code, 308);
        assert_eq!(moved.headers[LOCATION], "/app/customer/");
        for path in [
            "nowhere.js",
            "../Cargo.toml",
            "customer/../../Cargo.toml",
            "customer//app.js",
        ] {
            let missing = get(path, &[]);
            assert_eq!(missing.status_code, 404, "{path}");
        }
    }

    #[test]
    fn every_answer_carries_a_strict_content_security_policy() {
        let page = get("customer/", &[("host", "127.0.0.1:8080")]);
        let policy = page.headers[http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        for part in [
            "default-src 'self'",
            "script-src 'self';",
            "style-src 'self';",
            "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(part), "{part} in {policy}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
        // A forged host cannot add sources.
        let forged = get("customer/", &[("host", "evil.example; script-src *")]);
        let policy = forged.headers[http::header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii");
        assert!(policy.contains("connect-src 'self' ;"), "{policy}");
        assert!(
            get(CONFIG_PATH, &[])
                .headers
                .contains_key(http::header::CONTENT_SECURITY_POLICY)
        );
        assert_eq!(
            socket_origin("wss://abc.execute-api.ap-south-1.amazonaws.com/prod").as_deref(),
            Some("wss://abc.execute-api.ap-south-1.amazonaws.com")
        );
    }

    #[test]
    fn no_page_has_inline_script_or_style() {
        for path in files() {
            if !(path.ends_with(".html") || path.ends_with(".js")) {
                continue;
            }
            let text = String::from_utf8_lossy(WEB.get_file(path).expect("listed").contents()).to_string();
            for inline in ["style=", "style:", "<style", " onclick=", "javascript:"] {
                assert!(!text.contains(inline), "{path} has inline {inline}");
            }
            if path.ends_with(".html") {
                assert!(!text.contains("<script>"), "{path} has an inline script");
            }
        }
    }

    #[test]
    fn the_config_names_the_websocket_url_or_null() {
        let config = get(CONFIG_PATH, &[]);
        assert_eq!(config.status_code, 200);
        match config.body {
            Some(Body::Text(text)) => assert!(text.starts_with("window.APP_CONFIG = {"), "{text}"),
            other => panic!("{other:?}"),
        }
    }
}
