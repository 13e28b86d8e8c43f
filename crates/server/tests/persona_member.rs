//! Levels 3 and 4 from the device over loopback (issue 18, "3 member",
//! "4 known"): a history, and at 4 the identity the person typed, are
//! taken only while the pseudonym's level change granted them; they
//! become ordinary fineline events of `persona:<pseudonym>` (export,
//! sealed properties), the shop recommends from them, and after a
//! withdrawal nothing more is taken.

mod common;

use common::{backends, persona_shop, TestServer};
use fineline_core::{ItemId, Timestamp};
use fineline_ledger::{verify_receipt, LedgerEntry, Receipt};
use fineline_persona::{Disclosure, Persona, PublicModel, Terms, TrustLevel};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn field(b: &Value) -> Option<&str> {
    b["error"]["field"].as_str()
}

/// Posts `body` to `path` and checks it is refused with `code`, naming `name`.
async fn refused(s: &TestServer, path: &str, body: &Value, code: u16, name: &str) {
    let (st, e) = s.public_post(path, body).await;
    assert_eq!((st, field(&e)), (code, Some(name)), "{path}: {e}");
}

/// The device's level change, sent and its receipts kept.
async fn change(s: &TestServer, p: &mut Persona, terms: &Terms, to: TrustLevel) {
    let from = p.level(&terms.business);
    let (seq, _) = p.set_level(&terms.business, to, Timestamp::now());
    let mut body = json!({"business": terms.business, "pseudonym": p.pseudonym(&terms.business).to_hex(),
        "from": from.number(), "to": to.number()});
    if to.number() >= 2 {
        body["erasure_key"] = hex::encode(p.erasure_key(&terms.business).as_bytes()).into();
    }
    let (st, answer) = s.public_post("/v1/persona/level", &body).await;
    assert_eq!(st, 201, "{answer}");
    let key = s.state.ledger_key();
    for r in answer["receipts"].as_array().unwrap() {
        let receipt: Receipt = serde_json::from_value(r.clone()).unwrap();
        p.log_mut()
            .attach_receipt(seq.unwrap(), receipt, &key)
            .unwrap();
    }
}

/// What the device would send at `level`, made by the reference client on
/// a copy of the persona (a device whose level the shop never recorded).
fn disclosure_at(p: &Persona, terms: &Terms, model: &PublicModel, level: TrustLevel) -> Value {
    let mut copy = p.clone();
    copy.set_level(&terms.business, level, Timestamp::now());
    let d = copy
        .disclose(terms, model, Timestamp::now(), &[0u8; 64])
        .unwrap();
    serde_json::to_value(&d).unwrap()
}

/// A request for the shop's recommendations, signed on the device at `at`.
fn ask_at(p: &Persona, terms: &Terms, at: Timestamp) -> Value {
    json!({"business": terms.business, "pseudonym": p.pseudonym(&terms.business).to_hex(), "n": 5,
        "at": at.millis(), "signature": p.sign_recommendations(&terms.business, at, 5)})
}

/// At a level under 3 the shop takes no history and opens no
/// recommendations, each refusal naming the pseudonym.
async fn below_member_refused(s: &TestServer, p: &Persona, terms: &Terms, history: &Value) {
    let ask = ask_at(p, terms, Timestamp::now());
    refused(
        s,
        "/v1/persona/disclosures",
        history,
        400,
        "payload.pseudonym",
    )
    .await;
    refused(s, "/v1/persona/recommendations", &ask, 400, "pseudonym").await;
}

fn empty_model() -> PublicModel {
    // Levels 3 and 4 read no model: the disclosure is the history itself.
    PublicModel {
        version: 0,
        min_support: 10,
        items: vec![],
        digest: [0; 32],
    }
}

#[tokio::test]
async fn a_member_history_is_taken_only_under_its_grant_and_stops_after_withdrawal() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        persona_shop(&s).await;
        let (st, body) = s.post("/v1/recs/train", &s.admin, &json!({})).await;
        assert_eq!(st, 200, "{body}");
        let (_, offer) = {
            let r = reqwest::get(s.url("/v1/persona/offer")).await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        };
        let terms = Terms {
            business: offer["offer"]["business"].as_str().unwrap().into(),
            taxonomy: serde_json::from_value(offer["offer"]["taxonomy"].clone()).unwrap(),
            report_epsilon_micro: offer["offer"]["report_epsilon_micro"].as_u64().unwrap(),
        };
        let model = empty_model();
        let key = s.state.ledger_key();
        let mut p = Persona::new("everyday", [3; 32]);
        let pseudonym = p.pseudonym(&terms.business);
        for item in ["boots", "mug", "boots"] {
            p.record(ItemId::new(item).unwrap());
        }
        // No key registered yet: the signature has nothing to verify under.
        refused(
            &s,
            "/v1/persona/recommendations",
            &ask_at(&p, &terms, Timestamp::now()),
            401,
            "pseudonym",
        )
        .await;

        // No level change yet, then level 2 only: refused, naming the pseudonym.
        let history = disclosure_at(&p, &terms, &model, TrustLevel::Member);
        assert_eq!(
            history["payload"],
            json!({"kind": "history", "pseudonym": pseudonym.to_hex(), "items": ["boots", "mug"]})
        );
        refused(
            &s,
            "/v1/persona/disclosures",
            &history,
            400,
            "payload.pseudonym",
        )
        .await;
        change(&s, &mut p, &terms, TrustLevel::Regular).await;
        below_member_refused(&s, &p, &terms, &history).await;
        let subject = s.state.persona_subject(&pseudonym);
        assert!(s
            .state
            .database()
            .events_for(&subject)
            .await
            .unwrap()
            .is_empty());

        // Level 3: taken, receipted, and the receipt binds what was sent.
        change(&s, &mut p, &terms, TrustLevel::Member).await;
        let d = p
            .disclose(&terms, &model, Timestamp::now(), &[0u8; 64])
            .unwrap();
        let sent = serde_json::to_value(&d).unwrap();
        let (st, body) = s.public_post("/v1/persona/disclosures", &sent).await;
        assert_eq!(st, 201, "{body}");
        let receipt: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
        verify_receipt(&receipt, Some(&key)).unwrap();
        let LedgerEntry::PersonaDisclosure { level, digest, .. } = &receipt.entry else {
            panic!("{:?}", receipt.entry)
        };
        assert_eq!(*level, 3);
        let mut h = Sha256::new();
        h.update(hex::decode(body["nonce"].as_str().unwrap()).unwrap());
        h.update(serde_json::to_vec(&d).unwrap());
        assert_eq!(digest.0, <[u8; 32]>::from(h.finalize()));
        let seq = p.log().entries().len() as u64 - 1;
        p.log_mut().attach_receipt(seq, receipt, &key).unwrap();

        // Ordinary events of the subject: one per item, once, even when sent again.
        let items = |events: Vec<fineline_db::EventRow>| -> Vec<(String, String)> {
            let mut v: Vec<_> = events
                .into_iter()
                .map(|e| {
                    (
                        e.kind.as_str().to_string(),
                        e.item.map(|i| i.as_str().to_string()).unwrap_or_default(),
                    )
                })
                .collect();
            v.sort();
            v
        };
        let held = items(s.state.database().events_for(&subject).await.unwrap());
        assert_eq!(
            held,
            [
                ("view".to_string(), "boots".to_string()),
                ("view".to_string(), "mug".to_string())
            ]
        );
        let (st, body) = s.public_post("/v1/persona/disclosures", &sent).await;
        assert_eq!(st, 201, "{body}");
        assert_eq!(
            items(s.state.database().events_for(&subject).await.unwrap()),
            held
        );

        // Only the device opens them: the pseudonym alone, another
        // persona's signature, a changed `n` or a stale request are refused.
        let mut forged = ask_at(&p, &terms, Timestamp::now());
        forged["signature"] = Persona::new("other", [9; 32])
            .sign_recommendations(&terms.business, Timestamp::now(), 5)
            .into();
        let mut more = ask_at(&p, &terms, Timestamp::now());
        more["n"] = 50.into();
        let mut bare = ask_at(&p, &terms, Timestamp::now());
        bare.as_object_mut().unwrap().remove("signature");
        let stale = ask_at(&p, &terms, Timestamp(Timestamp::now().millis() - 600_000));
        for (ask, code, fieldname) in [
            (forged, 401, "signature"),
            (more, 401, "signature"),
            (stale, 400, "at"),
            (bare, 400, "signature"),
        ] {
            refused(&s, "/v1/persona/recommendations", &ask, code, fieldname).await;
        }
        // The shop recommends from it: boots were viewed with laces.
        let (st, recs) = s
            .public_post(
                "/v1/persona/recommendations",
                &ask_at(&p, &terms, Timestamp::now()),
            )
            .await;
        assert_eq!(st, 200, "{recs}");
        assert_eq!(recs["tier"], "personalized", "{recs}");
        let ids: Vec<&str> = recs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"laces"), "{recs}");

        // Identity needs level 4: refused at 3, naming the identity.
        p.set_identity(
            &terms.business,
            [
                ("email".to_string(), "kim@example.org".to_string()),
                ("shoe_size".to_string(), "42".to_string()),
            ]
            .into(),
        );
        let known = disclosure_at(&p, &terms, &model, TrustLevel::Known);
        refused(
            &s,
            "/v1/persona/disclosures",
            &known,
            400,
            "payload.identity",
        )
        .await;
        change(&s, &mut p, &terms, TrustLevel::Known).await;
        let (st, body) = s.public_post("/v1/persona/disclosures", &known).await;
        assert_eq!(st, 201, "{body}");
        // Kept as the sealed properties of an `identity` event: the export
        // opens them; the data directory does not hold them in the clear.
        let (st, doc) = s
            .get(
                &format!("/v1/subjects/persona:{}/export", pseudonym.to_hex()),
                &s.admin,
            )
            .await;
        assert_eq!(st, 200, "{doc}");
        let identity: Vec<&Value> = doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "identity")
            .collect();
        assert_eq!(identity.len(), 1, "{doc}");
        assert_eq!(
            identity[0]["properties"],
            json!({"email": "kim@example.org", "shoe_size": "42"})
        );
        if matches!(backend, common::Backend::Sqlite) {
            for entry in std::fs::read_dir(s.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap_or_default();
                assert!(
                    memchr::memmem::find(&bytes, b"kim@example.org").is_none(),
                    "{} holds the e-mail address in the clear",
                    path.display()
                );
            }
        }

        // Bad input names the field.
        let mut bad = known.clone();
        bad["payload"]["identity"] = json!({"E-Mail": "x"});
        refused(&s, "/v1/persona/disclosures", &bad, 400, "payload.identity").await;
        let mut bad = known.clone();
        bad["payload"]["items"] = json!(["no spaces allowed"]);
        refused(&s, "/v1/persona/disclosures", &bad, 400, "payload.items").await;
        let mut bad = history.clone();
        bad["level"] = json!(4);
        refused(&s, "/v1/persona/disclosures", &bad, 400, "payload").await;
        let mut bad = history.clone();
        bad["reporter"] = json!(pseudonym.to_hex());
        refused(&s, "/v1/persona/disclosures", &bad, 400, "reporter").await;

        // Lowering to 2 withdraws: the history and recommendations stop
        // (level 2 still grants personalization, for interests only).
        change(&s, &mut p, &terms, TrustLevel::Regular).await;
        below_member_refused(&s, &p, &terms, &history).await;
        // And to 0: nothing is taken from the withdrawn pseudonym.
        change(&s, &mut p, &terms, TrustLevel::Stranger).await;
        for d in [&history, &known] {
            refused(&s, "/v1/persona/disclosures", d, 400, "payload.pseudonym").await;
        }
        assert!(p.log().unreceipted_changes(&terms.business).is_empty());
        let events = s.state.database().events_for(&subject).await.unwrap().len();
        assert_eq!(
            events, 3,
            "two views and one identity, nothing after the withdrawal"
        );
    }
}

/// A disclosure type check: the wire payloads are exactly the reference
/// client's (`Disclosure` round-trips through the JSON the server takes).
#[test]
fn level_3_and_4_payloads_round_trip() {
    let mut p = Persona::new("everyday", [4; 32]);
    p.record(ItemId::new("tent").unwrap());
    let terms = Terms {
        business: "b".into(),
        taxonomy: vec!["camping".into()],
        report_epsilon_micro: 1_000_000,
    };
    p.set_identity("b", [("name".to_string(), "Kim".to_string())].into());
    let v = disclosure_at(&p, &terms, &empty_model(), TrustLevel::Known);
    let back: Disclosure = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), v);
}
