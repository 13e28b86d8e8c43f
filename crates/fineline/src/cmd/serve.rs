use fineline_app::analytics::Engine;
use std::net::SocketAddr;

use fineline_core::Role;

use crate::DatabaseArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// A hot standby of the PostgreSQL database (streaming replication)
    /// that serves the reads able to go there: exports, summaries and the
    /// rows insights queries scan, each once the standby has replayed every
    /// write acknowledged before the request (else the primary serves it).
    #[arg(long, env = "FINELINE_READ_DATABASE_URL")]
    pub read_database_url: Option<String>,
    /// How long a read may wait for the standby to catch up with the
    /// primary before the primary serves it, in ms.
    #[arg(long, env = "FINELINE_READ_DATABASE_WAIT_MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub read_database_wait_ms: u64,
    /// Answer partner insights from a columnar analytic dataset: committed
    /// analytic rows are copied there as Parquet (partitioned by day and
    /// person bucket) and queries are scanned, bounded and pre-aggregated on
    /// Apache DataFusion. A directory, a file:// URL or s3://BUCKET[/PREFIX]
    /// (credentials, region and endpoint from the AWS_* variables); without
    /// it, insights read the database.
    #[arg(long, env = "FINELINE_ANALYTICS")]
    pub analytics: Option<String>,
    /// Run insights queries over the analytic dataset on an Apache Ballista
    /// cluster, `ballista://HOST:PORT` (its scheduler and executors are
    /// `fineline analytics scheduler|executor` with the same --analytics
    /// location). Needs a build with the `ballista` feature.
    #[arg(long, env = "FINELINE_ANALYTICS_CLUSTER", requires = "analytics")]
    pub analytics_cluster: Option<String>,
    /// Seconds a query may take on the cluster before it fails with 503
    /// (the engine waits forever when its executors are gone).
    #[arg(long, env = "FINELINE_ANALYTICS_DEADLINE", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub analytics_deadline: u64,
    #[command(flatten)]
    pub recs: crate::RecsArgs,
    /// Address to listen on (loopback by default: put a TLS proxy in front
    /// before exposing it).
    #[arg(long, env = "FINELINE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seed a demo shop (policy, customers, consents, events) on first start
    /// and print keys to try the API with.
    #[arg(long)]
    pub demo: bool,
    /// Customers in the demo shop (with `--demo`); fewer make a quicker
    /// shop for tests.
    #[arg(long, env = "FINELINE_DEMO_CUSTOMERS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub demo_customers: u32,
    /// Train the recommender at start and then every this many seconds
    /// (0: only on `POST /v1/recs/train`).
    #[arg(long, env = "FINELINE_RECS_TRAIN_EVERY", default_value_t = 3600)]
    pub recs_train_every: u64,
    /// Token-bucket limits, CLASS=RATE[/BURST] requests per second (burst
    /// defaults to twice the rate; 0 or off: none), per API key of a role
    /// (admin, ingest, analyst; a key may have its own), per subject token
    /// (subject) or per client address without a credential (public).
    /// Defaults: admin=off ingest=1000/2000 analyst=50/100 subject=20/40
    /// public=1000/2000.
    #[arg(
        long = "rate-limit",
        env = "FINELINE_RATE_LIMITS",
        value_delimiter = ','
    )]
    pub rate_limits: Vec<String>,
    /// Smallest group of distinct people any partner insights release may
    /// show (queries, app usage, heatmaps, the console). Queries may ask for
    /// more, never less. At least 100: what the privacy policy promises.
    #[arg(long, env = "FINELINE_INSIGHTS_FLOOR", default_value_t = fineline_insights::query::MIN_FLOOR,
          value_parser = clap::value_parser!(u64).range(fineline_insights::query::MIN_FLOOR..))]
    pub insights_floor: u64,
    /// Take the client address for `public` limits from this header's last
    /// entry (e.g. X-Forwarded-For) — only behind a proxy you run that sets it.
    #[arg(long, env = "FINELINE_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Longest lifetime of a subject token (at most 7d): longer ttls are
    /// refused at issue, and tokens with more life left are refused at use.
    #[arg(long, env = "FINELINE_TOKEN_MAX_TTL", default_value = "7d")]
    pub token_max_ttl: String,
    /// The business id persona devices derive their per-business
    /// pseudonym from (published in `/v1/persona/offer`).
    #[arg(long, env = "FINELINE_PERSONA_BUSINESS", default_value = "fineline")]
    pub persona_business: String,
    /// ε of each persona level-1 report, in nats (at most 8).
    #[arg(long, env = "FINELINE_PERSONA_REPORT_EPSILON", default_value_t = 1.0)]
    pub persona_report_epsilon: f64,
    /// Lifetime ε the offer asks each device to cap this business at, in nats.
    #[arg(long, env = "FINELINE_PERSONA_LIFETIME_CAP", default_value_t = 4.0)]
    pub persona_lifetime_cap: f64,
}

/// Nats → micro-nats, rounding down (a device never spends more than stated).
fn micro(nats: f64, flag: &str) -> anyhow::Result<u64> {
    if !nats.is_finite() || nats <= 0.0 || nats > 1e6 {
        anyhow::bail!("{flag}: a positive number of nats");
    }
    Ok((nats * 1e6).floor() as u64)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut limits = fineline_server::rate_limit::RateLimitConfig {
        client_ip_header: args.client_ip_header.clone(),
        ..Default::default()
    };
    for assignment in &args.rate_limits {
        limits.set(assignment)?;
    }
    use fineline_app::tokens::{parse_ttl, MAX_TTL_MS};
    let token_max_ttl = parse_ttl(&args.token_max_ttl, MAX_TTL_MS)
        .map_err(|e| anyhow::anyhow!("--token-max-ttl: {e}"))?;
    if args.read_database_url.is_some() && args.database.database_url.is_none() {
        anyhow::bail!("--read-database-url: a standby needs a PostgreSQL --database-url");
    }
    let app = super::open_app(&args.database).await?;
    if let Some(url) = &args.read_database_url {
        let wait = std::time::Duration::from_millis(args.read_database_wait_ms);
        app.set_standby(fineline_app::open_standby(url)?, wait)
            .await?;
    }
    if let Some(location) = &args.analytics {
        let engine = engine(args.analytics_cluster.as_deref(), args.analytics_deadline)?;
        let analytics = fineline_app::analytics::Analytics::open(location, engine)
            .await
            .map_err(|e| anyhow::anyhow!("--analytics: {e}"))?;
        if let Some(rows) = app.enable_analytics(analytics).await? {
            println!("analytic dataset at {location}: filled from stored events ({rows} rows)");
        }
    }
    let state = fineline_server::AppState::new(app);
    state.tokens().set_max_ttl(token_max_ttl);
    state.set_recs_config(args.recs.config());
    state.rate_limits().configure(limits);
    state
        .set_insights_floor(args.insights_floor)
        .map_err(anyhow::Error::msg)?;
    state
        .set_persona_config(fineline_app::persona::PersonaConfig {
            business: args.persona_business.clone(),
            report_epsilon_micro: micro(args.persona_report_epsilon, "--persona-report-epsilon")?,
            lifetime_cap_micro: micro(args.persona_lifetime_cap, "--persona-lifetime-cap")?,
            storefront: args.demo,
        })
        .map_err(anyhow::Error::msg)?;
    state.set_training_schedule(
        (args.recs_train_every > 0).then(|| std::time::Duration::from_secs(args.recs_train_every)),
    );
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(fineline_server::serve_on(
        state.clone(),
        listener,
        shutdown_signal(),
    ));
    if args.demo {
        let started = std::time::Instant::now();
        let admin = fineline_app::api_keys::create_key(state.database(), Role::Admin).await?;
        let ingest = fineline_app::api_keys::create_key(state.database(), Role::Ingest).await?;
        let base = format!("http://{addr}");
        let summary =
            super::demo::seed_server(&base, &admin, &ingest, args.demo_customers as usize, 42)
                .await?;
        if !summary.seeded {
            // A restarted demo: train now rather than at the schedule.
            state.request_retrain();
        }
        let token = state.tokens().issue(
            &state.pseudonymize(&summary.example_subject),
            fineline_core::Timestamp::now().plus_millis(24 * 3_600_000),
        );
        println!("fineline demo shop at {base}");
        println!("  {summary}");
        println!(
            "  ready in {:.1} s (seeded through the API, recommender trained)",
            started.elapsed().as_secs_f64()
        );
        println!("  admin key:  {admin}");
        println!("  ingest key: {ingest}");
        println!("  privacy center: {base}/privacy#token={token}");
        println!("  store kiosk opt-out: {base}/optout");
        println!("  business console: {base}/console (sign in with the admin key)");
        println!("  guided tour: docs/tour.md");
        println!("  try: curl {base}/v1/policy");
        println!("  try: curl {base}/v1/items/sku-00100/similar?n=3");
        // `me`: a subject token names its own person, so no email is needed.
        println!("  try: curl -H 'Authorization: Bearer {token}' {base}/v1/subjects/me/consents");
        println!(
            "  try: curl -H 'Authorization: Bearer {token}' '{base}/v1/subjects/me/recommendations?n=5'"
        );
    }
    server.await??;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: draining in-flight requests");
}

/// Where insights queries over the dataset run: in-process, or on the
/// Ballista cluster at `cluster`.
pub fn engine(cluster: Option<&str>, deadline_secs: u64) -> anyhow::Result<Engine> {
    let Some(url) = cluster else {
        return Ok(Engine::InProcess);
    };
    if !url.starts_with("ballista://") {
        anyhow::bail!("--analytics-cluster: expected ballista://HOST:PORT, not {url:?}");
    }
    #[cfg(feature = "ballista")]
    {
        Ok(Engine::Ballista {
            url: url.to_string(),
            deadline: std::time::Duration::from_secs(deadline_secs),
        })
    }
    #[cfg(not(feature = "ballista"))]
    {
        let _ = deadline_secs;
        anyhow::bail!(
            "--analytics-cluster: this build has no Ballista client; build with \
             `--features ballista` (scripts/ballista.sh does)"
        )
    }
}
