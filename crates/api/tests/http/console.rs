//! `GET /console` (API.md §5): every file of `crates/api/console/` served as committed, with the
//! console's security headers; the page holds no inline script or style; nothing of it keeps a
//! token in the browser's storage; and paths beside it stay the API's enveloped 404.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use coffre_store::Store;
use http::{Request, StatusCode};

use crate::support::{TestResponse, app, get, send};

on_both_backends!(
    every_console_file_is_served_as_committed_with_its_headers,
    the_console_is_one_page_at_one_address_and_unknown_files_are_404,
    a_file_the_browser_already_has_is_not_sent_again,
);

/// The contract, whose §5 must give the policy as it is served.
const API_MD: &str = include_str!("../../../../docs/API.md");

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// The committed files, by name.
fn committed() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(console_dir())
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// ` onclick=`, ` onload =`…: an event handler written as an attribute.
fn has_handler_attribute(markup: &str) -> bool {
    markup.match_indices(" on").any(|(at, _)| {
        let rest = &markup[at + 3..];
        let name_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        name_len > 0 && rest[name_len..].trim_start().starts_with('=')
    })
}

#[track_caller]
fn assert_console_headers(response: &TestResponse) {
    let policy = response.headers["content-security-policy"]
        .to_str()
        .unwrap();
    let directives: BTreeSet<&str> = policy.split(';').map(str::trim).collect();
    for wanted in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ] {
        assert!(
            directives.contains(wanted),
            "{wanted} missing from {policy}"
        );
    }
    for loose in [
        "unsafe-inline",
        "unsafe-eval",
        "*",
        "http:",
        "https:",
        "data:",
        "blob:",
    ] {
        assert!(
            !policy
                .split([' ', ';'])
                .any(|token| token.trim_matches('\'') == loose),
            "{loose} in {policy}"
        );
    }
    assert!(
        API_MD.contains(&format!("`{policy}`")),
        "docs/API.md §5 does not give the policy served: {policy}"
    );
    assert_eq!(response.headers["x-content-type-options"], "nosniff");
    assert_eq!(response.headers["referrer-policy"], "no-referrer");
    assert_eq!(response.headers["x-frame-options"], "DENY");
    assert!(response.headers.contains_key("x-request-id"));
}

async fn every_console_file_is_served_as_committed_with_its_headers(store: Arc<dyn Store>) {
    let app = app(store);
    let files = committed();
    assert!(files.len() > 10, "{:?}", files.iter().map(|f| &f.0));
    for (name, content) in &files {
        let uri = if name == "index.html" {
            "/console".to_owned()
        } else {
            format!("/console/{name}")
        };
        let response = get(&app, &uri).await;
        assert_eq!(response.status, StatusCode::OK, "{uri} is not served");
        assert_eq!(&response.text(), content, "{uri} is not what is committed");
        assert_console_headers(&response);
        let content_type = response.headers["content-type"].to_str().unwrap();
        let expected = match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("a console file of an unexpected kind: {other:?}"),
        };
        assert_eq!(content_type, expected, "{uri}");

        // What the policy forbids is not written in the first place, and no token is kept
        // anywhere a reload or another script could find it.
        for forbidden in [
            "localStorage",
            "sessionStorage",
            "document.cookie",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!content.contains(forbidden), "{name} uses {forbidden}");
        }
        if name.ends_with(".html") || name.ends_with(".svg") {
            let lower = content.to_lowercase();
            assert!(!lower.contains(" style="), "{name} has an inline style");
            assert!(!lower.contains("<style"), "{name} has a style element");
            assert!(
                !has_handler_attribute(&lower),
                "{name} has an inline handler"
            );
            for script in lower.split("<script").skip(1) {
                let tag = script.split('>').next().unwrap_or_default();
                assert!(tag.contains(" src="), "{name} has an inline script");
            }
        }
    }
}

async fn the_console_is_one_page_at_one_address_and_unknown_files_are_404(store: Arc<dyn Store>) {
    let app = app(store);
    let page = get(&app, "/console").await;
    assert!(
        page.text()
            .contains(r#"<script type="module" src="/console/app.js"></script>"#)
    );

    let slash = get(&app, "/console/").await;
    assert_eq!(slash.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(slash.headers["location"], "/console");

    for path in [
        "/console/index.html",
        "/console/nothing.js",
        "/console/..%2FCargo.toml",
        "/console/api.js/more",
        "/consoles",
        "/v1/console",
    ] {
        get(&app, path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let post = send(&app, Request::post("/console").body(Body::empty()).unwrap()).await;
    post.assert_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");

    let head = send(&app, Request::head("/console").body(Body::empty()).unwrap()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_console_headers(&head);
}

async fn a_file_the_browser_already_has_is_not_sent_again(store: Arc<dyn Store>) {
    let app = app(store);
    let first = get(&app, "/console/app.js").await;
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(first.headers["cache-control"], "no-cache, private");

    let again = send(
        &app,
        Request::get("/console/app.js")
            .header("if-none-match", format!("\"other\", {etag}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.headers["etag"], etag.as_str());
    assert_console_headers(&again);

    // Another file's tag does not match this one.
    let other = send(
        &app,
        Request::get("/console/api.js")
            .header("if-none-match", etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
}
