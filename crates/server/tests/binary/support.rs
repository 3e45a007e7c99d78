//! Running the binary: with a clean environment, to completion, or as a server to talk to.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command as AsyncCommand};

pub mod cluster;
pub mod load;
pub mod proxy;
pub mod tmpfs;

const BINARY: &str = env!("CARGO_BIN_EXE_coffre");

/// Every environment variable the binary reads.
const ENV_SETTINGS: [&str; 19] = [
    "COFFRE_LISTEN",
    "COFFRE_METRICS_LISTEN",
    "DATABASE_URL",
    "COFFRE_DATA_DIR",
    "COFFRE_JWT_SECRET",
    "COFFRE_ACCESS_TOKEN_TTL_SECS",
    "COFFRE_AUTHORIZATION_TTL_SECS",
    "COFFRE_RATE_LIMIT_AUTH",
    "COFFRE_RATE_LIMIT_API",
    "COFFRE_TRUSTED_PROXIES",
    "REDIS_URL",
    "COFFRE_DB_MAX_CONNECTIONS",
    "COFFRE_CHECKPOINT_KEY",
    "COFFRE_CHECKPOINT_FILE",
    "COFFRE_WEBHOOK_ALLOW_INSECURE",
    "COFFRE_WEBHOOK_ALLOW_PRIVATE",
    "COFFRE_WEBHOOK_RETRY_SCHEDULE",
    "COFFRE_LOG_FORMAT",
    "RUST_LOG",
];

/// A command that never outlives this, even when the binary wrongly starts serving.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// The binary in `dir`, inheriting none of the settings of the environment running the tests.
/// Its metrics listener takes a free port rather than the default one, which the servers of
/// parallel tests would fight over.
pub fn coffre(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir);
    for name in ENV_SETTINGS {
        command.env_remove(name);
    }
    command.env("COFFRE_METRICS_LISTEN", "127.0.0.1:0");
    command
}

/// Runs to the end with `input` on stdin.
pub fn run_with_stdin(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let written = child.stdin.take().unwrap().write_all(input.as_bytes());
    // A command that refuses its arguments exits without reading stdin; writing to it then
    // fails with a broken pipe, which is that command's answer, not the test's failure.
    if let Err(error) = written {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    child.wait_with_output().unwrap()
}

/// Runs to the end, with nothing on stdin.
pub fn run(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > RUN_LIMIT {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {RUN_LIMIT:?}: {command:?}\n{output:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Asserts the process refused to start with exactly one stderr line, and returns that line.
pub fn refusal(output: &Output, exit_code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(exit_code), "{output:?}");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr.trim_end().to_owned()
}

/// A running server and where it listens.
pub struct Server {
    child: Child,
    pub addr: String,
    /// Its stdout up to and including the `listening on` line.
    pub log: Vec<String>,
}

/// Starts the server and waits for its `listening on ADDR` line.
pub async fn start(command: Command) -> Server {
    let mut command = AsyncCommand::from(command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    let addr = tokio::time::timeout(RUN_LIMIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let addr = listening_addr(&line);
            log.push(line);
            if let Some(addr) = addr {
                return addr;
            }
        }
        panic!("the server exited before listening: {log:#?}");
    })
    .await
    .expect("the server did not log its address in time");
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, addr, log }
}

/// A loopback port free right now, for a server that must come back on the same address.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// How long a request may take before [`send`] gives up on it: past the server's own 20 s
/// deadline, so a server that keeps its promise always answers first.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// A plain HTTP/1.1 request to `addr` on a connection of its own, with extra headers and an
/// optional JSON body; returns the status and the body (the server answers bodies with a
/// Content-Length and closes). An error means no complete answer: the server refused the
/// connection, closed it early, or took longer than [`REQUEST_DEADLINE`].
pub async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: coffre\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = json {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        request.push_str("\r\n");
    }
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(REQUEST_DEADLINE, exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))??;
    let incomplete = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "cut-off answer");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(incomplete)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(incomplete)?;
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok());
    if length.is_some_and(|length| length != body.len()) {
        return Err(incomplete());
    }
    Ok((status, body.to_owned()))
}

/// The address in a `listening on ADDR` line, pretty or JSON.
fn listening_addr(line: &str) -> Option<String> {
    let message = match serde_json::from_str::<serde_json::Value>(line) {
        Ok(event) => event["message"].as_str()?.to_owned(),
        Err(_) => line.to_owned(),
    };
    let (_, addr) = message.split_once("listening on ")?;
    Some(addr.split_whitespace().next()?.to_owned())
}

impl Server {
    /// Where the metrics listener serves, from its `metrics served on ADDR` line.
    pub fn metrics_addr(&self) -> Option<String> {
        self.log.iter().find_map(|line| {
            let (_, rest) = line.split_once("metrics served on ")?;
            Some(rest.split(['"', ' ']).next()?.to_owned())
        })
    }

    /// A plain HTTP/1.1 GET; returns the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &[], None).await
    }

    /// A plain HTTP/1.1 request with extra headers and an optional JSON body; returns the
    /// status and the body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        json: Option<&str>,
    ) -> (u16, String) {
        send(&self.addr, method, path, headers, json)
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    /// Kills the process with SIGKILL, as a crash or the OOM killer would, and reaps it.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Sends `signal` (TERM, INT) and returns how the process ended, which must be soon.
    pub async fn stop_with(mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().unwrap().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the server did not stop within 10 s of SIG{signal}"))
            .unwrap()
    }
}

#[test]
fn the_address_is_read_from_either_log_format() {
    assert_eq!(
        listening_addr("2026-01-01T00:00:00Z  INFO coffre: listening on 127.0.0.1:4000").as_deref(),
        Some("127.0.0.1:4000")
    );
    assert_eq!(
        listening_addr(r#"{"level":"INFO","message":"listening on [::1]:4000","target":"coffre"}"#)
            .as_deref(),
        Some("[::1]:4000")
    );
    assert_eq!(listening_addr("migrations applied"), None);
}
