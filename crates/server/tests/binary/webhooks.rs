//! `coffre serve` delivers webhooks: a receiver on loopback answers 500 once and then 200, and
//! gets the event of an account opened, signed as the Standard Webhooks reference library
//! verifies, on the second attempt of the schedule `COFFRE_WEBHOOK_RETRY_SCHEDULE` set.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{coffre, run_with_stdin, start};

const PASSWORD: &str = "a long enough password";

/// How long the test waits for a delivery.
const PATIENCE: Duration = Duration::from_secs(30);

/// One request read off a connection: its headers and body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> (http::HeaderMap, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut buffer = [0_u8; 4096];
    let (head_end, length) = loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the connection closed before a whole request");
        bytes.extend_from_slice(&buffer[..read]);
        if let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |value| value.trim().parse::<usize>().unwrap());
            break (end + 4, length);
        }
    };
    while bytes.len() < head_end + length {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the connection closed before the whole body");
        bytes.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut headers = http::HeaderMap::new();
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(
                http::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
    }
    (headers, bytes[head_end..head_end + length].to_vec())
}

#[tokio::test]
async fn serve_delivers_signed_events_and_retries() {
    let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", receiver.local_addr().unwrap());
    let received = tokio::spawn(async move {
        let mut got = Vec::new();
        for status in ["500 Internal Server Error", "200 OK"] {
            let (mut stream, _) = receiver.accept().await.unwrap();
            got.push((Instant::now(), read_request(&mut stream).await));
            let answer =
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            stream.write_all(answer.as_bytes()).await.unwrap();
        }
        got
    });

    let dir = tempfile::tempdir().unwrap();
    let created = run_with_stdin(
        coffre(dir.path()).args([
            "admin",
            "create",
            "--email",
            "ops@coffre.test",
            "--password-stdin",
        ]),
        PASSWORD,
    );
    assert!(created.status.success(), "{created:?}");
    let mut command = coffre(dir.path());
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("COFFRE_WEBHOOK_ALLOW_INSECURE", "true")
        .env("COFFRE_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("COFFRE_WEBHOOK_RETRY_SCHEDULE", "300ms,1h");
    let server = start(command).await;

    let login = json!({"email": "ops@coffre.test", "password": PASSWORD}).to_string();
    let (status, body) = server
        .request("POST", "/v1/auth/login", &[], Some(&login))
        .await;
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let auth = [("authorization", bearer.as_str())];
    let subscribe = json!({"url": hook, "event_types": ["account.created"]}).to_string();
    let (status, body) = server
        .request("POST", "/v1/webhook-endpoints", &auth, Some(&subscribe))
        .await;
    assert_eq!(status, 201, "{body}");
    let endpoint: Value = serde_json::from_str(&body).unwrap();
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let (status, body) = server
        .request("POST", "/v1/accounts", &auth, Some(r#"{"currency":"EUR"}"#))
        .await;
    assert_eq!(status, 201, "{body}");
    let account: Value = serde_json::from_str(&body).unwrap();

    let got = tokio::time::timeout(PATIENCE, received)
        .await
        .expect("two attempts within the patience")
        .unwrap();
    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    for (_, (headers, body)) in &got {
        verifier.verify(body, headers).unwrap();
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["type"], "account.created");
        assert_eq!(event["data"]["object"], account);
        assert_eq!(headers["webhook-id"], event["id"].as_str().unwrap());
    }
    let gap = got[1].0 - got[0].0;
    assert!(
        gap >= Duration::from_millis(270),
        "the retry waited {gap:?}"
    );

    let path = format!(
        "/v1/webhook-endpoints/{}/deliveries",
        endpoint["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = server.request("GET", &path, &auth, None).await;
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        if page["data"][0]["status"] == "succeeded" {
            let codes: Vec<&Value> = page["data"][0]["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|attempt| &attempt["response_code"])
                .collect();
            assert_eq!(codes, [&json!(500), &json!(200)]);
            break;
        }
        assert!(Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.kill().await;
}
