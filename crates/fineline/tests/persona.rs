//! `fineline persona …`, the device simulator, against the real binary
//! serving the demo shop: recommendations on the device, a level raised
//! to 2 with receipts, the approved interests sent, the level lowered
//! (a withdrawal whose receipts the device keeps), and after that nothing
//! leaves; a second persona checks in and then has the shop erase it.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::{cli, ok_stdout, Server};

fn persona(file: &Path, args: &[&str]) -> String {
    let mut all = vec!["persona", "--file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    ok_stdout(cli(&all))
}

#[test]
fn the_simulator_raises_discloses_lowers_and_keeps_verified_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--demo", "--demo-customers", "200"]);
    let shop = server.base.as_str();
    // The demo seeds and trains after the server listens: wait for the model.
    let deadline = Instant::now() + Duration::from_secs(120);
    while reqwest::blocking::get(format!("{shop}/v1/persona/model"))
        .map(|r| r.status() != 200)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "no public model");
        std::thread::sleep(Duration::from_millis(200));
    }
    let file = dir.path().join("phone.json");
    assert!(persona(&file, &["init"]).contains("created"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds the secret");
    }

    // Level 0: recommendations on the device; nothing leaves.
    persona(&file, &["record", "sku-00100", "sku-00101"]);
    let recs = persona(&file, &["recommend", shop, "-n", "5"]);
    let lines: Vec<&str> = recs.lines().collect();
    assert_eq!(lines.len(), 5, "{recs}");
    assert!(lines
        .iter()
        .all(|l| !l.starts_with("sku-00100\t") && !l.starts_with("sku-00101\t")));
    assert!(recs.contains("because you viewed"), "{recs}");
    assert_eq!(
        persona(&file, &["disclose", shop]).trim(),
        "level 0: nothing leaves"
    );

    // Raise to 2: consent granted, receipts verified and kept.
    let out = persona(&file, &["set-level", shop, "2"]);
    assert!(
        out.contains("personalization granted: receipt verified"),
        "{out}"
    );
    assert!(out.contains("analytics granted: receipt verified"), "{out}");
    let offer: serde_json::Value = reqwest::blocking::get(format!("{shop}/v1/persona/offer"))
        .unwrap()
        .json()
        .unwrap();
    let taxonomy: Vec<String> = serde_json::from_value(offer["offer"]["taxonomy"].clone()).unwrap();
    persona(&file, &["approve", shop, &taxonomy[0], &taxonomy[1]]);
    let out = persona(&file, &["disclose", shop]);
    assert!(
        out.contains("\"kind\":\"interests\"") && out.contains("receipt verified"),
        "{out}"
    );
    assert!(!out.contains("sku-"), "no item leaves at level 2: {out}");

    // Lower to 0: a withdrawal with receipts; then nothing leaves again.
    let out = persona(&file, &["set-level", shop, "0"]);
    assert!(
        out.contains("personalization withdrawn: receipt verified"),
        "{out}"
    );
    assert!(
        out.contains("analytics withdrawn: receipt verified"),
        "{out}"
    );
    assert_eq!(
        persona(&file, &["disclose", shop]).trim(),
        "level 0: nothing leaves"
    );

    let log = persona(&file, &["receipts"]);
    assert_eq!(log.matches("receipt: ledger entry").count(), 5, "{log}");
    assert!(log.contains("level 2 → 0 (2 step(s))"), "{log}");
    assert!(!log.contains("without a receipt"), "{log}");

    // In the store: the kiosk's code checks the phone in at its level,
    // counted only at 0; a regular's check-in has a verified receipt.
    let admin = common::create_key(dir.path(), "admin", &[]);
    let (st, t) = server.call(
        "GET",
        "/v1/footfall/stores/demo-store/checkin-token",
        &admin,
        None,
    );
    assert_eq!(st, 200, "{t}");
    let code = format!("demo-store:{}", t["token"].as_str().unwrap());
    let out = persona(&file, &["checkin", shop, &code]);
    assert!(
        out.contains("counted only: no identifier was sent"),
        "{out}"
    );
    persona(&file, &["init", "--label", "regular"]);
    let as_regular = |args: &[&str]| {
        let mut all = vec!["--persona", "regular"];
        all.extend_from_slice(args);
        persona(&file, &all)
    };
    as_regular(&["set-level", shop, "2"]);
    let link = format!("{shop}/shop#checkin={code}");
    let out = as_regular(&["checkin", shop, &link]);
    assert!(
        out.contains("under your pseudonym; receipt verified"),
        "{out}"
    );
    assert!(
        as_regular(&["receipts"]).contains("check-in at demo-store at level 2 under the pseudonym")
    );

    // Level 4: the history and the identity given for this shop leave
    // together, after the level change's receipts; the shop answers with
    // its own recommendations from them.
    as_regular(&["record", "sku-00100", "sku-00101", "sku-00100"]);
    as_regular(&["identity", shop, "shoe_size=42"]);
    let out = as_regular(&["set-level", shop, "4"]);
    assert!(out.contains("receipt verified"), "{out}");
    let out = as_regular(&["disclose", shop]);
    assert!(out.contains("\"kind\":\"identified\""), "{out}");
    assert!(
        out.contains("\"items\":[\"sku-00100\",\"sku-00101\"]"),
        "distinct items, as recorded: {out}"
    );
    assert!(out.contains("\"shoe_size\":\"42\""), "{out}");
    assert!(out.contains("receipt verified"), "{out}");
    let picks: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("the shop's recommendations"))
        .skip(1)
        .collect();
    assert_eq!(picks.len(), 10, "{out}");
    assert!(
        picks
            .iter()
            .all(|l| l.starts_with("sku-") && l.contains("\tbecause you viewed")),
        "the shop's picks come from the history it was given: {out}"
    );
    let bad = cli(&[
        "persona",
        "--file",
        file.to_str().unwrap(),
        "identity",
        shop,
        "size",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("KEY=VALUE"));

    // The device has the shop erase it: the signed request is taken, the
    // erasure receipt verified and kept, and the level is 0 again. Sent
    // again, it is refused: the shop holds nothing under the pseudonym.
    let out = as_regular(&["erase", shop]);
    assert!(out.contains("receipt verified (valid: erasure"), "{out}");
    assert!(out.contains("level 0 at"), "{out}");
    let log = as_regular(&["receipts"]);
    assert!(log.contains("erasure request, signed"), "{log}");
    assert!(!log.contains("without a receipt"), "{log}");
    let again = cli(&[
        "persona",
        "--file",
        file.to_str().unwrap(),
        "--persona",
        "regular",
        "erase",
        shop,
    ]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("401") && err.contains("pseudonym"), "{err}");
    assert_eq!(
        as_regular(&["disclose", shop]).trim(),
        "level 0: nothing leaves"
    );

    // A second shop key for the same URL is refused (the key is pinned).
    let text = std::fs::read_to_string(&file).unwrap();
    let mut f: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pinned = f["shops"][shop]["log_key"].as_str().unwrap().to_string();
    f["shops"][shop]["log_key"] = serde_json::json!("00".repeat(32));
    std::fs::write(&file, serde_json::to_vec(&f).unwrap()).unwrap();
    let out = cli(&[
        "persona",
        "--file",
        file.to_str().unwrap(),
        "recommend",
        shop,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("another key"));
    assert_eq!(pinned.len(), 64);
}
