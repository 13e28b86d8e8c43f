//! In-store check-in over loopback (issue 18): the kiosk's token needs a
//! store device's key; a phone's check-in from the reference client is
//! counted (no identifier below level 2, a verified receipt above);
//! stale, forged and replayed check-ins are refused naming the field;
//! the kiosk page is served with a strict CSP.

mod common;

use common::{Backend, TestServer};
use fineline_core::Timestamp;
use fineline_ledger::Receipt;
use fineline_persona::{Persona, TrustLevel};
use serde_json::{json, Value};

fn field(b: &Value) -> &str {
    b["error"]["field"].as_str().unwrap_or("")
}

#[tokio::test]
async fn a_phone_checks_in_with_the_kiosk_token_and_forgeries_are_refused() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.publish_demo_policy(1).await;
    let day = json!({"open": "00:00", "close": "24:00"});
    let store = json!({"store_id": "berlin", "sensors": ["s1"],
        "opening_hours": [day, day, day, day, day, day, day], "time_zone": "UTC"});
    let (st, b) = s.post("/v1/footfall/stores", &s.admin, &store).await;
    assert_eq!(st, 201, "{b}");

    // The token is for the store's kiosk: its device key, not the public or analysts.
    let path = "/v1/footfall/stores/berlin/checkin-token";
    let (st, _) = s.get(path, &s.analyst).await;
    assert_eq!(st, 403);
    let r = s.http.get(s.url(path)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (st, t) = s.get(path, &s.ingest).await;
    assert_eq!(st, 200, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    assert!(t["rotates_at"].as_i64().unwrap() > Timestamp::now().millis());
    let (st, _) = s
        .get("/v1/footfall/stores/nowhere/checkin-token", &s.ingest)
        .await;
    assert_eq!(st, 404);

    // Level 0: counted only; nothing names the phone.
    let business = s.state.persona_config().business;
    let mut phone = Persona::new("everyday", [5; 32]);
    let c = phone
        .check_in(&business, "berlin", &token, Timestamp::now(), &[1; 16])
        .unwrap();
    let sent = serde_json::to_value(&c).unwrap();
    let mut keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["at", "business", "level", "nonce", "store", "token"]);
    let (st, b) = s.public_post("/v1/footfall/checkins", &sent).await;
    assert_eq!(st, 201, "{b}");
    assert!(b["receipt"].is_null(), "{b}");
    // The same request again counts once.
    let (st, b) = s.public_post("/v1/footfall/checkins", &sent).await;
    assert_eq!((st, field(&b)), (409, "nonce"), "{b}");

    // Forged, stale and malformed tokens name the field.
    let (window, tag) = token.split_once('-').unwrap();
    let window: u64 = window.parse().unwrap();
    let other = format!("{}-{}", window, "0".repeat(32));
    let stale = format!("{}-{}", window - 5, tag);
    for (bad, why) in [
        (other, "not this store"),
        (stale, "expired"),
        ("x".into(), "window"),
    ] {
        let mut body = sent.clone();
        body["token"] = json!(bad);
        body["nonce"] = json!("ab".repeat(16));
        let (st, b) = s.public_post("/v1/footfall/checkins", &body).await;
        assert_eq!((st, field(&b)), (400, "token"), "{b}");
        assert!(b["error"]["message"].as_str().unwrap().contains(why), "{b}");
    }
    let mut body = sent.clone();
    body["level"] = json!(9);
    let (st, b) = s.public_post("/v1/footfall/checkins", &body).await;
    assert_eq!((st, field(&b)), (400, "level"), "{b}");

    // Level 2: under the pseudonym, once consent is recorded; a receipt the device keeps.
    let mut regular = Persona::new("everyday", [6; 32]);
    regular.set_level(&business, TrustLevel::Regular, Timestamp::now());
    let pseudonym = regular.pseudonym(&business).to_hex();
    let change = json!({"business": business, "pseudonym": pseudonym, "from": 0, "to": 2});
    let (st, b) = s.public_post("/v1/persona/level", &change).await;
    assert_eq!(st, 201, "{b}");
    let c = regular
        .check_in(&business, "berlin", &token, Timestamp::now(), &[2; 16])
        .unwrap();
    let (st, b) = s
        .public_post("/v1/footfall/checkins", &serde_json::to_value(&c).unwrap())
        .await;
    assert_eq!(st, 201, "{b}");
    let receipt: Receipt = serde_json::from_value(b["receipt"].clone()).unwrap();
    let seq = regular.log().entries().len() as u64 - 1;
    regular
        .log_mut()
        .attach_receipt(seq, receipt, &s.state.ledger_key())
        .unwrap();
    // A pseudonym that never raised its level is refused.
    let mut body = sent.clone();
    body["level"] = json!(2);
    body["pseudonym"] = json!("11".repeat(32));
    body["nonce"] = json!("cd".repeat(16));
    let (st, b) = s.public_post("/v1/footfall/checkins", &body).await;
    assert_eq!((st, field(&b)), (400, "pseudonym"), "{b}");

    // The console counts the regular at level 2; check-ins only once published.
    let (st, f) = s.get("/v1/console/persona", &s.admin).await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(f["levels"][2]["devices"], 1, "{f}");
    assert_eq!(f["withdrawals"], 0, "{f}");
    assert_eq!(f["checkins"][0]["store_id"], "berlin", "{f}");
    let (st, _) = s.get("/v1/console/persona", &s.analyst).await;
    assert_eq!(st, 403);

    // The kiosk page: served compiled in, same-origin only.
    for (p, ty) in [
        ("/kiosk", "text/html"),
        ("/kiosk/kiosk.js", "text/javascript"),
        ("/kiosk/kiosk.css", "text/css"),
    ] {
        let r = s.http.get(s.url(p)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{p}");
        let h = r.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with(ty), "{p}");
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{p}"
        );
    }
}

/// Rasterises the kiosk's QR SVG (qrcode's renderer: one `<path>` of
/// `M{x} {y}h{w}v{h}H{x}V{y}` rectangles on a white `<rect>`) and decodes
/// it as a phone camera would, with rqrr.
fn decode_qr_svg(svg: &str) -> String {
    let attr = |name: &str| -> usize {
        let at = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[at..].split('"').next().unwrap().parse().unwrap()
    };
    let (w, h) = (attr("width"), attr("height"));
    let d_at = svg.find(" d=\"").unwrap() + 4;
    let d = svg[d_at..].split('"').next().unwrap();
    let mut dark = vec![false; w * h];
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let n: Vec<usize> = rect
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let (x, y, rw, rh) = (n[0], n[1], n[2], n[3]);
        for yy in y..y + rh {
            for xx in x..x + rw {
                dark[yy * w + xx] = true;
            }
        }
    }
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            h,
            |x, y| {
                if dark[y * w + x] {
                    0
                } else {
                    255
                }
            },
        );
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn the_kiosk_qr_code_carries_exactly_the_check_in_link() {
    let s = TestServer::start(Backend::Sqlite).await;
    let day = json!({"open": "00:00", "close": "24:00"});
    let store = json!({"store_id": "berlin", "sensors": ["s1"],
        "opening_hours": [day, day, day, day, day, day, day], "time_zone": "UTC"});
    let (st, b) = s.post("/v1/footfall/stores", &s.admin, &store).await;
    assert_eq!(st, 201, "{b}");
    let origin = "https://shop.example:8443";
    let path = format!("/v1/footfall/stores/berlin/checkin-qr?origin={origin}");

    // The same keys as the token: the store device's, or admin.
    let r = s.http.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (st, _) = s.get(&path, &s.analyst).await;
    assert_eq!(st, 403);
    let (st, b) = s
        .get(
            &format!("/v1/footfall/stores/nowhere/checkin-qr?origin={origin}"),
            &s.ingest,
        )
        .await;
    assert_eq!(st, 404, "{b}");
    // The origin is a scheme and a host: nothing that changes what the phone opens.
    for bad in [
        "",
        "?origin=javascript:alert(1)",
        "?origin=https://shop.example/evil",
        "?origin=https://shop.example%23x",
        "?origin=https://",
    ] {
        let (st, b) = s
            .get(
                &format!("/v1/footfall/stores/berlin/checkin-qr{bad}"),
                &s.ingest,
            )
            .await;
        assert_eq!((st, field(&b)), (400, "origin"), "{bad}: {b}");
    }

    for (i, key) in [&s.ingest, &s.admin].into_iter().enumerate() {
        // The window may turn between the two requests: the code is then the next one.
        let (_, before) = s.get("/v1/footfall/stores/berlin/checkin-token", key).await;
        let r = s
            .http
            .get(s.url(&path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "image/svg+xml");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let svg = r.text().await.unwrap();
        let (_, after) = s.get("/v1/footfall/stores/berlin/checkin-token", key).await;
        let link = decode_qr_svg(&svg);
        let expected = |t: &Value| {
            format!(
                "{origin}/shop#checkin=berlin:{}",
                t["token"].as_str().unwrap()
            )
        };
        assert!(
            link == expected(&before) || link == expected(&after),
            "{link}"
        );
        // And that link checks a phone in: the token is the kiosk's.
        let code = link.split_once("#checkin=berlin:").unwrap().1;
        let business = s.state.persona_config().business;
        let mut phone = Persona::new("everyday", [9; 32]);
        let c = phone
            .check_in(
                &business,
                "berlin",
                code,
                Timestamp::now(),
                &[i as u8 + 40; 16],
            )
            .unwrap();
        let (st, b) = s
            .public_post("/v1/footfall/checkins", &serde_json::to_value(&c).unwrap())
            .await;
        assert_eq!(st, 201, "{b}");
    }

    // The kiosk may show the image only as a blob: URL it made itself.
    let r = s.http.get(s.url("/kiosk")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("img-src blob:;"), "{csp}");
    assert!(
        !csp.contains("img-src 'self'") && !csp.contains("img-src *"),
        "{csp}"
    );
}
