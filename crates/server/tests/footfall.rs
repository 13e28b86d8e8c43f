//! Foot traffic end to end over HTTP, on every configured backend:
//! simulated days in, the pipeline's exact figures equal to the simulator's
//! ground truth, one published DP report for everyone within its intervals, opt-outs with receipts, and no MAC in
//! any data file or log line.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{backends, Backend, TestServer};
use fineline_core::Timestamp;
use fineline_footfall::dp::DpReport;
use fineline_footfall::simulate::{simulate, SimConfig};
use fineline_footfall::{build_reports, DailyReport, Mac, Sighting, StoreConfig};
use fineline_ledger::LedgerEntry;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const MINUTE: i64 = 60_000;

fn store_json(cfg: &StoreConfig) -> Value {
    let hours: Vec<Value> = cfg
        .opening_hours
        .iter()
        .map(|h| match h {
            Some(h) => json!({
                "open": format!("{:02}:{:02}", h.open.hour(), h.open.minute()),
                "close": format!("{:02}:{:02}", h.close.hour(), h.close.minute()),
            }),
            None => Value::Null,
        })
        .collect();
    json!({
        "store_id": cfg.store_id,
        "sensors": cfg.sensors,
        "opening_hours": hours,
        "time_zone": cfg.time_zone,
    })
}

fn sighting_json(s: &Sighting, spelling: usize) -> Value {
    let o = s.mac.octets();
    let mac = match spelling % 3 {
        0 => s.mac.to_canonical(),
        1 => o
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join("-"),
        _ => hex::encode(o),
    };
    json!({"sensor_id": s.sensor_id, "mac": mac, "rssi": s.rssi, "timestamp": s.at.0})
}

async fn send(srv: &TestServer, batch: &[Sighting]) -> Value {
    let body: Vec<Value> = batch
        .iter()
        .enumerate()
        .map(|(i, s)| sighting_json(s, i))
        .collect();
    let (status, out) = srv
        .post("/v1/footfall/sightings", &srv.ingest, &Value::Array(body))
        .await;
    assert_eq!(status, 200, "{out}");
    out
}

async fn flush(srv: &TestServer) {
    let (status, out) = srv
        .post("/v1/footfall/flush", &srv.ingest, &json!({}))
        .await;
    assert_eq!(status, 200, "{out}");
}

/// A 14-day simulation ending two days ago, so it is inside the repeat
/// lookback and no key period it uses is retired.
fn recent_sim() -> SimConfig {
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Berlin").unwrap())
        .date();
    SimConfig {
        first_day: today.checked_sub(jiff::Span::new().days(16)).unwrap(),
        regulars: 250,
        ..SimConfig::default()
    }
}

async fn simulated_days_report_exactly_and_privately(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let cfg = recent_sim();
    let (status, body) = srv
        .post("/v1/footfall/stores", &srv.admin, &store_json(&cfg.store))
        .await;
    assert_eq!(status, 201, "{body}");
    let (sightings, truth) = simulate(7, &cfg).unwrap();
    let mut accepted = 0;
    for chunk in sightings.chunks(50_000) {
        let out = send(&srv, chunk).await;
        assert_eq!(out["rejected"], json!([]));
        assert_eq!(out["dropped"]["late"], 0);
        accepted += out["accepted"].as_u64().unwrap();
    }
    assert!(accepted > 0);
    flush(&srv).await;

    let first = truth.days.first().unwrap().day;
    let last = truth.days.last().unwrap().day;
    let path = format!(
        "/v1/footfall/stores/{}/report?from={first}&to={last}",
        cfg.store.store_id
    );
    // The pipeline's own exact figures (they never leave the server) equal
    // the ground truth: counts exactly, means and medians up to float
    // rounding.
    let exact = exact_days(&srv, &cfg.store.store_id, first, last).await;
    let got = serde_json::to_value(&exact).unwrap();
    let want = serde_json::to_value(&truth.days).unwrap();
    assert_eq!(exact.len(), truth.days.len());
    for (got, want) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
        for (k, v) in want.as_object().unwrap() {
            match (v.as_f64(), got[k].as_f64()) {
                (Some(w), Some(g)) if !v.is_u64() => {
                    assert!((w - g).abs() <= 1e-9 * w.abs(), "{k} on {}", want["day"])
                }
                _ => assert_eq!(&got[k], v, "{k} on {}", want["day"]),
            }
        }
    }
    let repeats: u64 = truth.days.iter().map(|d| d.repeat_visitors).sum();
    let randomized: u64 = truth.days.iter().map(|d| d.randomized_visitors).sum();
    assert!(repeats > 20 && randomized > 100, "{repeats} {randomized}");

    // Over HTTP everyone gets the DP release, and the same one: the admin's
    // request publishes each closed day once, the analyst reads it as is.
    // Six readers at once: each day is still noised exactly once.
    let (a, b) = (srv.admin.as_str(), srv.analyst.as_str());
    let answers = tokio::join!(
        srv.get(&path, a),
        srv.get(&path, b),
        srv.get(&path, a),
        srv.get(&path, b),
        srv.get(&path, a),
        srv.get(&path, b),
    );
    let answers = [
        answers.0, answers.1, answers.2, answers.3, answers.4, answers.5,
    ];
    let mut published = 0;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["days"], answers[0].1["days"]);
        published += body["newly_published"].as_u64().unwrap();
    }
    assert_eq!(published, truth.days.len() as u64);
    let dp = answers[0].1.clone();
    assert_eq!(dp["pending_days"], json!([]));
    assert_eq!(dp["epsilon_per_day"], 1.0);
    let releases = dp["days"].as_array().unwrap();
    assert_eq!(releases.len(), truth.days.len());
    let (mut total, mut outside) = (0, 0);
    for (r, t) in releases.iter().zip(&truth.days) {
        assert_eq!(r["day"], t.day.to_string());
        assert!(r.get("mean_dwell_min").is_none(), "no exact figure: {r}");
        let mut pairs = vec![
            (&r["visitors"], t.visitors),
            (&r["passers_by"], t.passers_by),
            (&r["repeat_visitors"], t.repeat_visitors),
            (&r["randomized_visitors"], t.randomized_visitors),
            (&r["dwell_min_clamped_sum"], t.dwell_min_clamped_sum),
        ];
        for (i, &b) in t.dwell_buckets.iter().enumerate() {
            pairs.push((&r["dwell_buckets"][i], b));
        }
        for (n, truth) in pairs {
            let (low, high) = (n["low"].as_i64().unwrap(), n["high"].as_i64().unwrap());
            total += 1;
            outside += !(low <= truth as i64 && truth as i64 <= high) as u32;
        }
    }
    // 95% intervals: about 5% miss; over 14 days x 9 values, more than 20%
    // missing is vanishingly unlikely if the intervals are right.
    assert!(outside * 100 <= total * 20, "{outside} of {total} outside");

    // Each release is committed in the ledger: its digest is SHA-256 of the
    // release's JSON, so a reader can check the figures were not changed.
    let r0 = &releases[0];
    let (s, e) = srv
        .get(&format!("/v1/ledger/entries/{}", r0["ledger_index"]), "")
        .await;
    assert_eq!(s, 200, "{e}");
    let entry: LedgerEntry = serde_json::from_value(e["entry"].clone()).unwrap();
    let LedgerEntry::Release {
        analyst,
        query_digest,
        cost_nano_rho,
        ..
    } = entry
    else {
        panic!("not a release: {e}");
    };
    assert_eq!(analyst, format!("footfall:{}", cfg.store.store_id));
    assert_eq!(cost_nano_rho, 250_000_000, "rho = 2 x 0.5^2 / 2");
    let mut body = r0.clone();
    body.as_object_mut().unwrap().remove("ledger_index");
    let release: DpReport = serde_json::from_value(body).unwrap();
    let digest: [u8; 32] = Sha256::digest(serde_json::to_vec(&release).unwrap()).into();
    assert_eq!(query_digest.0, digest);

    // The analyst reads the very same figures, at no cost to the budget;
    // the admin asking again gets them once more, not a fresh draw.
    let (_, before) = srv.get("/v1/insights/budget", &srv.analyst).await;
    let (status, seen) = srv.get(&path, &srv.analyst).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["newly_published"], 0);
    assert_eq!(seen["days"], dp["days"]);
    let (_, after) = srv.get("/v1/insights/budget", &srv.analyst).await;
    assert_eq!(before["spent_nano_rho"], after["spent_nano_rho"]);
    let (_, again) = srv.get(&path, &srv.admin).await;
    assert_eq!(again["days"], dp["days"]);
    let (status, _) = srv.get(&path, &srv.ingest).await;
    assert_eq!(status, 403);

    // Exact figures are not on offer, to anyone; old parameters say why;
    // and nobody grows the ledger by asking for ever older years.
    let ancient = format!(
        "/v1/footfall/stores/{}/report?from=1900-01-01&to=1900-01-31",
        cfg.store.store_id
    );
    let (status, e) = srv.get(&ancient, &srv.analyst).await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("from")),
        "{e}"
    );
    for (extra, field) in [("&mode=exact", "mode"), ("&epsilon=0.4", "epsilon")] {
        let (status, e) = srv.get(&format!("{path}{extra}"), &srv.admin).await;
        assert_eq!(
            (status, e["error"]["field"].as_str()),
            (400, Some(field)),
            "{e}"
        );
    }
}

/// The pipeline's exact daily figures, read beside the server through its
/// state: what the DP release is drawn from.
async fn exact_days(
    srv: &TestServer,
    store_id: &str,
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> Vec<DailyReport> {
    let footfall = &srv.state.internals().footfall;
    let shop = footfall.store(store_id).expect("a registered store");
    let sessions = footfall
        .sessions_for_report(srv.state.database(), &shop, from, to)
        .await
        .unwrap();
    build_reports(&shop, &footfall.session_config(), &sessions, from, to)
}

fn at(minutes_ago: i64) -> Timestamp {
    Timestamp(Timestamp::now().0 - minutes_ago * MINUTE)
}

/// A visit of `mac`: a sighting every 2 minutes for 20 minutes, ending
/// `ends_ago` minutes ago.
fn visit(sensor: &str, mac: Mac, ends_ago: i64) -> Vec<Sighting> {
    (0..=10)
        .map(|i| Sighting {
            sensor_id: sensor.into(),
            mac,
            rssi: -60,
            at: at(ends_ago + 20 - 2 * i),
        })
        .collect()
}

fn all_day_store(id: &str, sensor: &str) -> Value {
    let day = json!({"open": "00:00", "close": "24:00"});
    json!({
        "store_id": id,
        "sensors": [sensor],
        "opening_hours": [day, day, day, day, day, day, day],
        "time_zone": "UTC",
    })
}

async fn opt_out_drops_sightings_deletes_sessions_and_gives_a_receipt(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (s, b) = srv
        .post(
            "/v1/footfall/stores",
            &srv.admin,
            &all_day_store("kiosk-store", "k1"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let phone = Mac::parse("00:1a:2b:3c:4d:5e").unwrap();
    let other = Mac::parse("00:1a:2b:3c:4d:5f").unwrap();
    let mut feed = visit("k1", phone, 90);
    feed.extend(visit("k1", other, 90));
    send(&srv, &feed).await;
    flush(&srv).await;
    let sessions = srv
        .state
        .database()
        .visit_sessions("kiosk-store", Timestamp(0), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 2);

    // The kiosk page is served with a strict CSP and no external resources.
    let page = srv.http.get(srv.url("/optout")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<label for=\"mac\">") && !html.contains("http"));

    // Public route, another spelling of the same MAC.
    let r = srv
        .http
        .post(srv.url("/v1/footfall/optout"))
        .json(&json!({"mac": "00-1A-2B-3C-4D-5E"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["sessions_deleted"], 1);
    assert!(!body.to_string().to_lowercase().contains("1a:2b:3c"));
    let receipt: fineline_ledger::Receipt =
        serde_json::from_value(body["receipt"].clone()).unwrap();
    let key = srv.state.ledger_key();
    fineline_ledger::verify_receipt(&receipt, Some(&key)).unwrap();
    assert!(matches!(
        receipt.entry,
        fineline_ledger::LedgerEntry::DeviceOptOut { .. }
    ));
    let left = srv
        .state
        .database()
        .visit_sessions("kiosk-store", Timestamp(0), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "only the other phone's session is left");

    // Later sightings of the phone are dropped before anything is kept.
    let later = visit("k1", phone, 30);
    let out = send(&srv, &later).await;
    assert_eq!(out["dropped"]["opted_out"], later.len() as u64);
    assert_eq!(out["accepted"], 0);

    // Bad MAC: named field, 400.
    let (s, b) = srv
        .post("/v1/footfall/optout", "", &json!({"mac": "not a mac"}))
        .await;
    assert_eq!((s, b["error"]["field"].as_str()), (400, Some("mac")), "{b}");
}

async fn randomized_macs_never_repeat_and_bad_input_names_fields(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (s, _) = srv
        .post(
            "/v1/footfall/stores",
            &srv.admin,
            &all_day_store("r-store", "r1"),
        )
        .await;
    assert_eq!(s, 201);
    // The same randomized MAC (locally administered bit) on two days, and
    // a global one likewise: only the global one is a repeat visitor.
    let random = Mac::parse("02:00:00:00:00:01").unwrap();
    let global = Mac::parse("00:00:00:00:00:01").unwrap();
    let mut feed = Vec::new();
    for ends_ago in [3 * 24 * 60, 24 * 60] {
        feed.extend(visit("r1", random, ends_ago));
        feed.extend(visit("r1", global, ends_ago));
    }
    feed.sort_by_key(|s| s.at);
    send(&srv, &feed).await;
    flush(&srv).await;
    let day = |ago: i64| {
        jiff::Timestamp::from_millisecond(at(ago).0)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
    };
    let (from, to) = (day(4 * 24 * 60), day(0));
    let exact = exact_days(&srv, "r-store", from, to).await;
    let days: Vec<&DailyReport> = exact.iter().filter(|d| d.visitors != 0).collect();
    assert_eq!(days.len(), 2, "{exact:?}");
    assert_eq!(days[1].repeat_visitors, 1);
    assert_eq!(days[1].randomized_visitors, 1);
    assert_eq!(days[1].new_visitors, 0);

    // Validation names the field.
    let mut bad = all_day_store("tz-store", "t1");
    bad["time_zone"] = json!("Mars/Olympus");
    let (s, b) = srv.post("/v1/footfall/stores", &srv.admin, &bad).await;
    assert_eq!((s, b["error"]["field"].as_str()), (400, Some("time_zone")));
    let mut bad = all_day_store("hours-store", "h1");
    bad["opening_hours"][2] = json!({"open": "09:00", "close": "25:00"});
    let (s, b) = srv.post("/v1/footfall/stores", &srv.admin, &bad).await;
    assert_eq!(b["error"]["field"], "opening_hours[2].close", "{s} {b}");
    let (s, _) = srv
        .post(
            "/v1/footfall/stores",
            &srv.ingest,
            &all_day_store("x", "x1"),
        )
        .await;
    assert_eq!(s, 403);

    let rows = json!([
        {"sensor_id": "r1", "mac": "00:00:00:00:00:09", "rssi": -50, "timestamp": at(5).0},
        {"sensor_id": "r1", "mac": "zz:00:00:00:00:09", "rssi": -50, "timestamp": at(5).0},
        {"sensor_id": "r1", "mac": "00:00:00:00:00:09", "rssi": "00:00:00:00:00:09", "timestamp": at(5).0},
        {"sensor_id": "r1", "mac": "00:00:00:00:00:09", "rssi": -50},
        {"sensor_id": "nowhere", "mac": "00:00:00:00:00:09", "rssi": -50, "timestamp": at(5).0},
        {"sensor_id": "r1", "mac": "00:00:00:00:00:09", "rssi": -95, "timestamp": at(5).0},
    ]);
    let (s, out) = srv.post("/v1/footfall/sightings", &srv.ingest, &rows).await;
    assert_eq!(s, 200, "{out}");
    let fields: Vec<(u64, &str)> = out["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(fields, [(1, "mac"), (2, "rssi"), (3, "timestamp")]);
    assert!(!out.to_string().contains("00:00:00:00:00:09"), "{out}");
    assert_eq!(out["accepted"], 1);
    assert_eq!(out["dropped"]["unknown_sensor"], 1);
    assert_eq!(out["dropped"]["too_weak"], 1);
}

/// Logs of the whole test binary, captured for the MAC scan.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every spelling a MAC could leak in.
fn needles(mac: &Mac) -> Vec<Vec<u8>> {
    let o = mac.octets();
    let lower: Vec<String> = o.iter().map(|b| format!("{b:02x}")).collect();
    let upper: Vec<String> = o.iter().map(|b| format!("{b:02X}")).collect();
    let mut out = Vec::new();
    for parts in [&lower, &upper] {
        for sep in [":", "-", "", "."] {
            out.push(parts.join(sep).into_bytes());
        }
    }
    out.push(o.to_vec());
    out
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn no_mac_in_data_files_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let srv = TestServer::start(Backend::Sqlite).await;
    let (s, _) = srv
        .post(
            "/v1/footfall/stores",
            &srv.admin,
            &all_day_store("leak-store", "l1"),
        )
        .await;
    assert_eq!(s, 201);
    // Distinctive MACs, global and randomized, seen in every spelling.
    let macs: Vec<Mac> = (0..40u8)
        .map(|i| {
            Mac::from_octets([
                if i % 2 == 0 { 0x3c } else { 0x3e },
                0xa7,
                0x5d,
                0x91,
                0xc4,
                i,
            ])
        })
        .collect();
    let mut feed: Vec<Sighting> = macs
        .iter()
        .enumerate()
        .flat_map(|(i, m)| visit("l1", *m, 60 + i as i64))
        .collect();
    feed.sort_by_key(|s| s.at);
    send(&srv, &feed).await;
    // A MAC in the wrong field, and an opt-out.
    let wrong =
        json!([{"sensor_id": "l1", "mac": "x", "rssi": macs[3].to_canonical(), "timestamp": 0}]);
    srv.post("/v1/footfall/sightings", &srv.ingest, &wrong)
        .await;
    let (s, _) = srv
        .post(
            "/v1/footfall/optout",
            "",
            &json!({"mac": macs[5].to_canonical()}),
        )
        .await;
    assert_eq!(s, 201);
    flush(&srv).await;
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let (from, to) = (
        today.checked_sub(jiff::Span::new().days(300)).unwrap(),
        today,
    );
    let (s, _) = srv
        .get(
            &format!("/v1/footfall/stores/leak-store/report?from={from}&to={to}"),
            &srv.admin,
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        !srv.state
            .database()
            .visit_sessions("leak-store", Timestamp(0), Timestamp::now())
            .await
            .unwrap()
            .is_empty(),
        "the sessions must be on disk for the scan to mean anything"
    );

    let finders: Vec<(usize, memchr::memmem::Finder<'static>)> = macs
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            needles(m)
                .into_iter()
                .map(move |n| (i, memchr::memmem::Finder::new(&n).into_owned()))
        })
        .collect();
    let mut files = Vec::new();
    files_under(srv.dir.path(), &mut files);
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with("-wal")));
    let mut scanned = 0;
    // Positive control: the scan does see what was stored.
    let control = memchr::memmem::Finder::new(b"leak-store");
    let mut control_hits = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        scanned += bytes.len();
        control_hits += control.find(&bytes).is_some() as u32;
        for (i, finder) in &finders {
            assert!(
                finder.find(&bytes).is_none(),
                "MAC {i} found in {}",
                f.display()
            );
        }
    }
    assert!(scanned > 10_000 && control_hits > 0);
    let logs = logs.0.lock().unwrap().clone();
    assert!(logs.len() > 100, "logs were captured");
    for (i, finder) in &finders {
        assert!(finder.find(&logs).is_none(), "MAC {i} found in the logs");
    }
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn run() {
                    for b in super::backends() {
                        super::$name(b).await;
                    }
                }
            }
        )*
    };
}

on_every_backend!(
    simulated_days_report_exactly_and_privately,
    opt_out_drops_sightings_deletes_sessions_and_gives_a_receipt,
    randomized_macs_never_repeat_and_bad_input_names_fields,
    a_live_store_does_not_make_another_stores_import_late,
);

/// Each store keeps its own event time: the clock tick moves a store on
/// from its own newest sighting, so a store importing last week's
/// sightings is not made late by another store's live feed.
async fn a_live_store_does_not_make_another_stores_import_late(backend: Backend) {
    let srv = TestServer::start(backend).await;
    for (id, sensor) in [("live-store", "live1"), ("old-store", "old1")] {
        let (s, b) = srv
            .post(
                "/v1/footfall/stores",
                &srv.admin,
                &all_day_store(id, sensor),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let live = send(
        &srv,
        &visit("live1", Mac::parse("00:00:00:00:0a:01").unwrap(), 0),
    )
    .await;
    assert_eq!(live["accepted"], 11, "{live}");
    let old = visit(
        "old1",
        Mac::parse("00:00:00:00:0b:01").unwrap(),
        3 * 24 * 60,
    );
    let (first, rest) = old.split_at(5);
    let out = send(&srv, first).await;
    assert_eq!(
        (out["accepted"].as_u64(), out["dropped"]["late"].as_u64()),
        (Some(5), Some(0))
    );
    srv.state
        .internals()
        .footfall
        .tick(srv.state.database(), Timestamp::now())
        .await
        .unwrap();
    let out = send(&srv, rest).await;
    assert_eq!(
        (out["accepted"].as_u64(), out["dropped"]["late"].as_u64()),
        (Some(6), Some(0)),
        "the import was made late by the other store's clock: {out}"
    );
}

/// Visits still open when the server stops are stored, not lost.
#[tokio::test]
async fn graceful_shutdown_stores_open_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let database: Arc<dyn fineline_db::Database> = Arc::new(
        fineline_db::SqliteDatabase::open(dir.path().join("fineline.db"))
            .await
            .unwrap(),
    );
    let vault = fineline_vault::Vault::open_or_create(dir.path()).unwrap();
    let state = fineline_server::AppState::load(database, vault)
        .await
        .unwrap();
    let admin = fineline_app::api_keys::create_key(state.database(), fineline_core::Role::Admin)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fineline_server::serve_on(state.clone(), listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/v1/footfall/stores"))
        .bearer_auth(&admin)
        .json(&all_day_store("open-store", "o1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let feed: Vec<Value> = visit("o1", Mac::parse("00:aa:00:aa:00:aa").unwrap(), 1)
        .iter()
        .map(|s| sighting_json(s, 0))
        .collect();
    let r: Value = http
        .post(format!("{base}/v1/footfall/sightings"))
        .bearer_auth(&admin)
        .json(&feed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (r["accepted"].as_u64(), r["sessions_stored"].as_u64()),
        (Some(11), Some(0))
    );
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let stored = state
        .database()
        .visit_sessions("open-store", Timestamp(0), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].is_visit && stored[0].sightings == 11);
}
