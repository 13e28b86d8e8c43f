//! The real binary, as an operator runs it: CLI calls and a server process
//! on a loopback port over a data dir.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_fineline");

pub fn cli(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// Stdout of a command that must succeed.
pub fn ok_stdout(out: Output) -> String {
    assert!(
        out.status.success(),
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn create_key(dir: &Path, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--role", role, "--data-dir"];
    args.push(dir.to_str().unwrap());
    args.extend_from_slice(extra);
    ok_stdout(cli(&args)).trim().to_string()
}

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    /// `fineline serve` on `dir` (log in `dir/server.log`, level warn,
    /// scheduled training off), once healthy.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["--recs-train-every", "0"];
        args.extend_from_slice(extra);
        Server::start_logged(dir, &dir.join("server.log"), "warn", &args)
    }

    /// `fineline serve` on `dir` with exactly `extra` added, its log (at
    /// `level`) appended to `log`, once healthy.
    #[allow(clippy::zombie_processes)] // Drop kills and waits.
    pub fn start_logged(dir: &Path, log: &Path, level: &str, extra: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--data-dir", dir.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .env("FINELINE_LOG", level)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::blocking::get(format!("{base}/healthz")).is_ok_and(|r| r.status() == 200) {
                return Server { child, base };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not start");
    }

    /// One request with `key`; the status and the JSON answer (null if none).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = http()
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(serde_json::Value::Null))
    }

    /// SIGTERM and wait: the graceful shutdown an operator's stop sends.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap();
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client for the tests' requests.
pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// Publish the demo policy as version 1 (the first thing most tests need).
pub fn publish_policy(base: &str, admin: &str) {
    let policy = fineline_consent::demo_policy(1, fineline_core::Timestamp::now());
    let r = http()
        .post(format!("{base}/v1/policy"))
        .bearer_auth(admin)
        .json(&policy)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

/// Change a person's consent as the admin; the answer with its receipts.
pub fn consent(
    base: &str,
    admin: &str,
    subject: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = http()
        .post(format!("{base}/v1/subjects/{subject}/consents"))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.json().unwrap()
}
