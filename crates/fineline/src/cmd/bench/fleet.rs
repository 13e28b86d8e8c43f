//! Replicas for `bench load --replicas N`: N `fineline serve` processes
//! (this very binary) on one fresh PostgreSQL schema, sharing a data
//! directory as replicas on one host do, each on its own loopback port.
//! Separate processes, not servers in the benchmark's own process: each
//! has its own runtime, pool and leader connection, and its CPU time is
//! its own to report.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use fineline_core::{Role, Timestamp};
use fineline_db::PostgresDatabase;

pub struct Fleet {
    pub bases: Vec<String>,
    pub admin: String,
    pub ingest: String,
    children: Vec<Option<Child>>,
    schema: Option<PostgresDatabase>,
}

impl Fleet {
    /// A fresh schema with the demo policy and an admin and an ingest key,
    /// then `n` servers on it, once every one answers `/healthz`.
    pub async fn start(n: usize, url: &str, dir: &Path) -> anyhow::Result<Fleet> {
        let schema = PostgresDatabase::open_isolated(url).await?;
        let url = schema
            .isolated_url(url)
            .ok_or_else(|| anyhow::anyhow!("no isolated schema"))?;
        let (admin, ingest) = {
            let database = Arc::new(PostgresDatabase::connect(&url).await?);
            let vault = fineline_vault::Vault::open_or_create(dir)?;
            let app = fineline_app::App::load(database, vault).await?;
            app.publish_policy(fineline_consent::demo_policy(1, Timestamp::now()), None)
                .await?;
            let admin =
                fineline_app::api_keys::create_key_with_limit(app.database(), Role::Admin, None)
                    .await?;
            let ingest =
                fineline_app::api_keys::create_key_with_limit(app.database(), Role::Ingest, None)
                    .await?;
            app.resign_leadership().await;
            (admin, ingest)
        };
        let mut fleet = Fleet {
            bases: Vec::new(),
            admin,
            ingest,
            children: Vec::new(),
            schema: Some(schema),
        };
        let exe = std::env::current_exe()?;
        for i in 0..n {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let log = std::fs::File::create(dir.join(format!("replica-{i}.log")))?;
            let child = Command::new(&exe)
                .args(["serve", "--data-dir"])
                .arg(dir)
                .args(["--database-url", &url])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--recs-train-every", "0"])
                .env("FINELINE_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?;
            fleet.children.push(Some(child));
            fleet.bases.push(format!("http://127.0.0.1:{port}"));
        }
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for base in &fleet.bases {
            loop {
                let up = http.get(format!("{base}/healthz")).send().await;
                if up.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "replica {base} did not start; see {}",
                    dir.display()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(fleet)
    }

    /// Process ids of the replicas still running, by position.
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.children
            .iter()
            .map(|c| c.as_ref().map(Child::id))
            .collect()
    }

    /// Stop the replicas (SIGTERM, a graceful shutdown each) and drop the schema.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for child in self.children.iter().flatten() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
        }
        for mut child in self.children.drain(..).flatten() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if let Some(schema) = self.schema.take() {
            schema.drop_isolated().await?;
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::as_mut) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Which of `bases` leads now (its `/metrics` says `fineline_leader 1`).
pub fn leader(bases: &[String]) -> Option<usize> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .ok()?;
    bases.iter().position(|base| {
        http.get(format!("{base}/metrics"))
            .send()
            .and_then(|r| r.text())
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "fineline_leader 1"))
    })
}

/// CPU seconds (user + system) a process has used, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // /proc counts in USER_HZ, which Linux fixes at 100 for user space.
    Some(ticks / 100.0)
}

/// CPU seconds of every PostgreSQL process on this machine (the server
/// and its backends), as far as /proc shows them: backends that exited
/// between two readings take their time with them.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return f64::NAN;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(cpu_seconds)
        .sum()
}

/// SIGKILL a process, as a machine dying would: no goodbye to PostgreSQL.
fn kill(pid: u32) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "could not kill {pid}");
    Ok(())
}

/// Watches a run from its own thread: CPU time of every process over the
/// measured part, and, when asked, the leader's SIGKILL and how long the
/// survivors take to elect another.
pub struct Watch {
    killed: Arc<OnceLock<Instant>>,
    done: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<anyhow::Result<Watched>>,
}

struct Watched {
    seconds: f64,
    replicas: Vec<Option<f64>>,
    postgres: f64,
    generator: f64,
    failover: Option<String>,
}

/// CPU seconds of each replica, PostgreSQL and this process, now.
fn cpu_now(pids: &[Option<u32>]) -> (Vec<Option<f64>>, f64, f64) {
    (
        pids.iter().map(|p| p.and_then(cpu_seconds)).collect(),
        postgres_cpu_seconds(),
        cpu_seconds(std::process::id()).unwrap_or(f64::NAN),
    )
}

impl Watch {
    /// Start watching `fleet`; measuring starts at `measure_from`, and the
    /// leader dies `kill_after` later if given.
    pub fn start(fleet: &Fleet, measure_from: Instant, kill_after: Option<Duration>) -> Watch {
        let killed = Arc::new(OnceLock::new());
        let (done, wait) = mpsc::channel();
        let (pids, bases) = (fleet.pids(), fleet.bases.clone());
        let mark = killed.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
            let started = Instant::now();
            let (r0, pg0, gen0) = cpu_now(&pids);
            let mut failover = None;
            if let Some(after) = kill_after {
                std::thread::sleep(
                    (measure_from + after).saturating_duration_since(Instant::now()),
                );
                let old = leader(&bases).ok_or_else(|| anyhow::anyhow!("no leader to kill"))?;
                let pid = pids[old].ok_or_else(|| anyhow::anyhow!("leader has no process"))?;
                kill(pid)?;
                let at = Instant::now();
                let _ = mark.set(at);
                let survivors: Vec<String> = (0..bases.len())
                    .filter(|i| *i != old)
                    .map(|i| bases[i].clone())
                    .collect();
                let new = loop {
                    if let Some(i) = leader(&survivors) {
                        break i;
                    }
                    anyhow::ensure!(
                        at.elapsed() < Duration::from_secs(60),
                        "no new leader within 60 s"
                    );
                    std::thread::sleep(Duration::from_millis(10));
                };
                failover = Some(format!(
                    "failover: leader {} SIGKILLed {} s into the measured run; {} leads after {:.0} ms",
                    bases[old],
                    after.as_secs(),
                    survivors[new],
                    at.elapsed().as_secs_f64() * 1e3
                ));
            }
            let _ = wait.recv();
            let (r1, pg1, gen1) = cpu_now(&pids);
            Ok(Watched {
                seconds: started.elapsed().as_secs_f64(),
                replicas: r0
                    .iter()
                    .zip(&r1)
                    .map(|(a, b)| Some(b.unwrap_or(f64::NAN) - (*a)?))
                    .collect(),
                postgres: pg1 - pg0,
                generator: gen1 - gen0,
                failover,
            })
        });
        Watch {
            killed,
            done,
            thread,
        }
    }

    /// When the leader was killed, once it was.
    pub fn killed_at(&self) -> Arc<OnceLock<Instant>> {
        self.killed.clone()
    }

    /// End the watch after the run; `answered` requests per second were
    /// answered. Says where the CPU time went.
    pub fn finish(self, answered: f64) -> anyhow::Result<String> {
        let _ = self.done.send(());
        let w = self
            .thread
            .join()
            .map_err(|_| anyhow::anyhow!("watch thread panicked"))??;
        let secs = w.seconds.max(1e-9);
        // A killed replica's time died with it (NaN): counted as unknown.
        let per_replica: Vec<String> = w
            .replicas
            .iter()
            .map(|c| match c {
                Some(c) if c.is_finite() => format!("{:.2}", c / secs),
                _ => "killed".into(),
            })
            .collect();
        let replicas: f64 = w.replicas.iter().flatten().filter(|c| c.is_finite()).sum();
        let cores = (replicas + w.postgres + w.generator) / secs;
        let mut out = format!(
            "CPU over the measured run, in cores busy: replicas {} (sum {:.2}), PostgreSQL {:.2}, load generator {:.2}; total {:.2} of {} cores: {:.0} answered req/s per busy core",
            per_replica.join(" / "),
            replicas / secs,
            w.postgres / secs,
            w.generator / secs,
            cores,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            answered / cores.max(1e-9),
        );
        if let Some(f) = w.failover {
            out.push('\n');
            out.push_str(&f);
        }
        Ok(out)
    }
}
