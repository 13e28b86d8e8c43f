//! The persona's server side over loopback (issue 18): the public model is
//! signed and in the ledger once per version, the offer is signed and
//! versioned, disclosures from the reference client are taken and answered
//! with receipts the device verifies, no raw identifier is stored, and the
//! level-1 aggregate estimates totals.

mod common;

use common::{backends, persona_shop, TestServer};
use fineline_core::{ItemId, Timestamp};
use fineline_ledger::{verify_document, verify_receipt, LedgerEntry, Receipt, Signature};
use fineline_persona::{Payload, Persona, PublicModel, Terms, TrustLevel};
use fineline_recs::PublicItem;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn train(s: &TestServer) {
    let (st, body) = s.post("/v1/recs/train", &s.admin, &json!({})).await;
    assert_eq!(st, 200, "{body}");
}

async fn public_get(s: &TestServer, path: &str) -> (u16, Value) {
    let r = reqwest::get(s.url(path)).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn signature(v: &Value) -> Signature {
    let bytes: [u8; 64] = hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    Signature::from_bytes(&bytes)
}

fn model_of(body: &Value) -> PublicModel {
    let items = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| PublicItem {
            id: ItemId::new(it["id"].as_str().unwrap()).unwrap(),
            categories: serde_json::from_value(it["categories"].clone()).unwrap(),
            popularity: it["popularity"].as_u64().unwrap() as u32,
            neighbours: serde_json::from_value::<Vec<(u32, i32)>>(it["neighbours"].clone())
                .unwrap()
                .into_iter()
                .collect(),
        })
        .collect();
    let mut digest = [0u8; 32];
    hex::decode_to_slice(body["digest"].as_str().unwrap(), &mut digest).unwrap();
    PublicModel {
        version: body["version"].as_u64().unwrap(),
        min_support: body["min_support"].as_u64().unwrap() as u32,
        items,
        digest,
    }
}

fn terms_of(offer: &Value) -> Terms {
    Terms {
        business: offer["business"].as_str().unwrap().into(),
        taxonomy: serde_json::from_value(offer["taxonomy"].clone()).unwrap(),
        report_epsilon_micro: offer["report_epsilon_micro"].as_u64().unwrap(),
    }
}

#[tokio::test]
async fn the_public_model_is_signed_and_published_in_the_ledger_once_per_version() {
    for backend in backends() {
        // No training at start: the model must not exist before `train`.
        let s = TestServer::start_with(backend, |s| s.set_training_schedule(None)).await;
        let (st, body) = public_get(&s, "/v1/persona/model").await;
        assert_eq!(st, 404, "{body}");
        assert_eq!(body["error"]["code"], "not_found", "{body}");
        persona_shop(&s).await;
        train(&s).await;
        let key = s.state.ledger_key();

        let (st, body) = public_get(&s, "/v1/persona/model").await;
        assert_eq!(st, 200, "{body}");
        let model = model_of(&body);
        assert!(model.is_well_formed(), "digest or structure broken");
        assert!(model.items.len() >= 4, "{body}");
        assert!(verify_document(
            &key,
            "public-model",
            &model.canonical_bytes(),
            &signature(&body["signature"])
        ));
        // The signature covers the content: another version does not verify.
        let mut other = model.clone();
        other.version += 1;
        assert!(!verify_document(
            &key,
            "public-model",
            &other.canonical_bytes(),
            &signature(&body["signature"])
        ));
        let receipt: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
        verify_receipt(&receipt, Some(&key)).unwrap();
        assert_eq!(
            receipt.entry,
            LedgerEntry::ModelPublished {
                version: model.version,
                digest: fineline_ledger::Hash(model.digest),
                at: receipt.entry.at(),
            }
        );
        let index = body["ledger_index"].as_u64().unwrap();
        assert_eq!(receipt.leaf_index, index);

        // Asking again publishes nothing new.
        let size = s.state.tree_head().tree_head.size;
        let (_, again) = public_get(&s, "/v1/persona/model").await;
        assert_eq!(again["ledger_index"].as_u64(), Some(index));
        assert_eq!(s.state.tree_head().tree_head.size, size);

        // A new training is a new version with its own entry.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        train(&s).await;
        let (_, next) = public_get(&s, "/v1/persona/model").await;
        assert!(
            next["version"].as_u64() > body["version"].as_u64(),
            "{next}"
        );
        assert!(next["ledger_index"].as_u64().unwrap() > index);
    }
}

#[tokio::test]
async fn the_offer_is_signed_versioned_and_maps_levels_onto_purposes() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    persona_shop(&s).await;
    let key = s.state.ledger_key();
    let (st, body) = public_get(&s, "/v1/persona/offer").await;
    assert_eq!(st, 200, "{body}");
    let offer = &body["offer"];
    // Keys sorted, compact: `Value` without preserve_order writes exactly that.
    let canonical = serde_json::to_vec(offer).unwrap();
    assert!(verify_document(
        &key,
        "persona-offer",
        &canonical,
        &signature(&body["signature"])
    ));
    assert_eq!(offer["taxonomy"], json!(["camping", "coffee", "running"]));
    assert_eq!(offer["report_epsilon_micro"], 1_000_000);
    assert_eq!(offer["lifetime_cap_micro"], 4_000_000);
    let levels = offer["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 5);
    assert_eq!(levels[0]["purposes"], json!([]));
    assert_eq!(
        levels[1]["purposes"],
        json!([{"purpose": "analytics", "categories": ["ldp_reports"]}])
    );
    for (n, l) in levels.iter().enumerate() {
        let want = TrustLevel::try_from(n as u8).unwrap().grants();
        assert_eq!(l["purposes"].as_array().unwrap().len(), want.len(), "{l}");
    }
    let version = offer["version"].as_u64().unwrap();
    assert_eq!(version, 1);
    let (_, same) = public_get(&s, "/v1/persona/offer").await;
    assert_eq!(same["offer"]["version"].as_u64(), Some(version));
    // A new category changes the offer: a new version.
    let (st, _) = s
        .post(
            "/v1/items",
            &s.admin,
            &json!([{"item": "kettle", "category": "tea"}]),
        )
        .await;
    assert_eq!(st, 200);
    let (_, next) = public_get(&s, "/v1/persona/offer").await;
    assert_eq!(next["offer"]["version"].as_u64(), Some(version + 1));
    assert!(verify_document(
        &key,
        "persona-offer",
        &serde_json::to_vec(&next["offer"]).unwrap(),
        &signature(&next["signature"])
    ));
}

#[tokio::test]
async fn disclosures_are_receipted_counted_and_never_stored_raw() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        persona_shop(&s).await;
        train(&s).await;
        let key = s.state.ledger_key();
        let (_, offer) = public_get(&s, "/v1/persona/offer").await;
        let terms = terms_of(&offer["offer"]);
        let version = offer["offer"]["version"].as_u64().unwrap();
        let (_, model) = public_get(&s, "/v1/persona/model").await;
        let model = model_of(&model);

        // Level 1: forty devices, all holding running items.
        let mut sent = 0;
        for d in 0..40u8 {
            let mut p = Persona::new("everyday", [d; 32]);
            p.record(ItemId::new("boots").unwrap());
            p.set_level(&terms.business, TrustLevel::Crowd, Timestamp(1));
            let coins: Vec<u8> = (0..64)
                .map(|i| d.wrapping_mul(31).wrapping_add(i))
                .collect();
            let d1 = p
                .disclose(&terms, &model, Timestamp::now(), &coins)
                .unwrap();
            assert!(matches!(d1.payload, Payload::Crowd { .. }));
            let mut sent_body = serde_json::to_value(&d1).unwrap();
            sent_body["reporter"] = json!(p.reporter(&terms.business, version).to_hex());
            let (st, body) = s.public_post("/v1/persona/disclosures", &sent_body).await;
            assert_eq!(st, 201, "{body}");
            sent += 1;
            let receipt: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
            // The device's own check keeps it.
            let seq = p.log().entries().len() as u64 - 1;
            p.log_mut()
                .attach_receipt(seq, receipt.clone(), &key)
                .unwrap();
            // And the entry binds exactly what was sent.
            let nonce = hex::decode(body["nonce"].as_str().unwrap()).unwrap();
            let mut h = Sha256::new();
            h.update(&nonce);
            h.update(serde_json::to_vec(&d1).unwrap());
            let LedgerEntry::PersonaDisclosure { level, digest, .. } = receipt.entry else {
                panic!("not a disclosure entry: {:?}", receipt.entry)
            };
            assert_eq!(level, 1);
            assert_eq!(digest.0, <[u8; 32]>::from(h.finalize()));
        }

        // Level 2: approved interests under the pseudonym, once the level
        // change is recorded as consent.
        let mut p = Persona::new("everyday", [200; 32]);
        p.set_level(&terms.business, TrustLevel::Regular, Timestamp(1));
        let raise = json!({"business": terms.business,
            "pseudonym": p.pseudonym(&terms.business).to_hex(), "from": 0, "to": 2});
        let (st, body) = s.public_post("/v1/persona/level", &raise).await;
        assert_eq!(st, 201, "{body}");
        p.approve_interests(&terms, vec!["camping".into(), "coffee".into()])
            .unwrap();
        let coins = [0u8; 64];
        let d2 = p
            .disclose(&terms, &model, Timestamp::now(), &coins)
            .unwrap();
        let Payload::Interests { topics, pseudonym } = &d2.payload else {
            panic!("{d2:?}")
        };
        let (st, body) = s
            .public_post(
                "/v1/persona/disclosures",
                &serde_json::to_value(&d2).unwrap(),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        let receipt: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
        let seq = p.log().entries().len() as u64 - 1;
        p.log_mut().attach_receipt(seq, receipt, &key).unwrap();
        assert_eq!(
            s.state
                .persona_interests(&pseudonym.to_hex())
                .await
                .unwrap(),
            Some(topics.clone())
        );

        // Bad input: 4xx naming the field.
        let mut bad = serde_json::to_value(&d2).unwrap();
        bad["payload"]["topics"] = json!(["knitting"]);
        let (st, e) = s.public_post("/v1/persona/disclosures", &bad).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("payload.topics")),
            "{e}"
        );
        bad["payload"]["pseudonym"] = json!("zz");
        let (st, e) = s.public_post("/v1/persona/disclosures", &bad).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("payload.pseudonym")),
            "{e}"
        );
        // Level 0 sends nothing; interests are no level-3 payload.
        for (level, field) in [(0, "level"), (3, "payload")] {
            let mut bad = serde_json::to_value(&d2).unwrap();
            bad["level"] = json!(level);
            let (st, e) = s.public_post("/v1/persona/disclosures", &bad).await;
            assert_eq!(
                (st, e["error"]["field"].as_str()),
                (400, Some(field)),
                "{e}"
            );
        }
        let crowd = json!({"business": terms.business, "level": 1, "at": 1,
            "payload": {"kind": "crowd", "category": "knitting", "epsilon_micro": 1_000_000}});
        let (st, e) = s.public_post("/v1/persona/disclosures", &crowd).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("payload.category")),
            "{e}"
        );
        let mut other = crowd.clone();
        other["payload"]["category"] = json!("running");
        other["payload"]["epsilon_micro"] = json!(4_000_000);
        let (st, e) = s.public_post("/v1/persona/disclosures", &other).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("payload.epsilon_micro")),
            "{e}"
        );
        other["payload"]["epsilon_micro"] = json!(1_000_000);
        other["business"] = json!("someone-else");
        let (st, e) = s.public_post("/v1/persona/disclosures", &other).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("business")),
            "{e}"
        );

        // Beyond per-address limits: one reporter token spends at most the
        // offer's lifetime cap (4 reports at ε 1), the same report under a
        // fresh token is taken, and a report without a token is refused.
        // A running holder whose randomized answer is the truth, so the
        // repeated report leaves the estimate's truth at `sent`.
        let (p, d1) = (0u8..)
            .find_map(|seed| {
                let mut p = Persona::new("everyday", [77; 32]);
                p.record(ItemId::new("boots").unwrap());
                p.set_level(&terms.business, TrustLevel::Crowd, Timestamp(1));
                let d = p
                    .disclose(&terms, &model, Timestamp::now(), &[seed; 64])
                    .unwrap();
                matches!(&d.payload, Payload::Crowd { category, .. } if category == "running")
                    .then_some((p, d))
            })
            .unwrap();
        let mut body = serde_json::to_value(&d1).unwrap();
        let (st, e) = s.public_post("/v1/persona/disclosures", &body).await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("reporter")),
            "{e}"
        );
        body["reporter"] = json!(p.reporter(&terms.business, version).to_hex());
        for _ in 0..4 {
            let (st, e) = s.public_post("/v1/persona/disclosures", &body).await;
            assert_eq!(st, 201, "{e}");
            sent += 1;
        }
        let (st, e) = s.public_post("/v1/persona/disclosures", &body).await;
        assert_eq!(st, 429, "the fifth report under one token: {e}");
        assert_eq!(e["error"]["code"], "budget_exhausted", "{e}");
        body["reporter"] = json!(p.reporter(&terms.business, version + 1).to_hex());
        let (st, e) = s.public_post("/v1/persona/disclosures", &body).await;
        assert_eq!(st, 201, "{e}");
        sent += 1;

        // The aggregate: analysts only; every accepted report counted.
        let r = reqwest::get(s.url("/v1/persona/aggregate")).await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let (st, agg) = s.get("/v1/persona/aggregate", &s.analyst).await;
        assert_eq!(st, 200, "{agg}");
        assert_eq!(agg["reports"].as_u64(), Some(sent), "{agg}");
        let cats = agg["categories"].as_array().unwrap();
        assert_eq!(cats.len(), 4, "taxonomy plus (none): {agg}");
        let running = cats.iter().find(|c| c["category"] == "running").unwrap();
        let (low, high) = (
            running["low"].as_f64().unwrap(),
            running["high"].as_f64().unwrap(),
        );
        assert!(low <= sent as f64 && sent as f64 <= high, "{running}");

        // No raw pseudonym in the data directory (SQLite only: PostgreSQL's
        // files are not ours to read).
        if matches!(backend, common::Backend::Sqlite) {
            let needle = pseudonym.to_hex();
            for entry in std::fs::read_dir(s.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap_or_default();
                assert!(
                    memchr::memmem::find(&bytes, needle.as_bytes()).is_none(),
                    "{} holds the raw pseudonym",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn the_browser_client_modules_are_served_as_javascript() {
    let s = TestServer::start(common::Backend::Sqlite).await;
    for name in ["persona.js", "receipt.js", "store.js"] {
        let r = reqwest::get(s.url(&format!("/persona/{name}")))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert_eq!(
            r.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let text = r.text().await.unwrap();
        assert!(text.contains("export "), "{name}");
    }
    let r = reqwest::get(s.url("/persona/secret.txt")).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn the_offer_says_what_the_admin_configured_and_refuses_what_devices_would() {
    use fineline_app::persona::PersonaConfig;
    let s = TestServer::start(common::Backend::Sqlite).await;
    let config = |business: &str, eps: u64, cap: u64| PersonaConfig {
        business: business.into(),
        report_epsilon_micro: eps,
        lifetime_cap_micro: cap,
        storefront: false,
    };
    assert!(s.state.set_persona_config(config("", 1, 1)).is_err());
    assert!(s.state.set_persona_config(config("shop", 0, 1)).is_err());
    assert!(s
        .state
        .set_persona_config(config("shop", 9_000_000, 9_000_000))
        .is_err());
    assert!(s
        .state
        .set_persona_config(config("shop", 2_000_000, 1_000_000))
        .is_err());
    s.state
        .set_persona_config(config("outfitter.example", 500_000, 2_000_000))
        .unwrap();
    let (_, body) = public_get(&s, "/v1/persona/offer").await;
    assert_eq!(body["offer"]["business"], "outfitter.example");
    assert_eq!(body["offer"]["report_epsilon_micro"], 500_000);
    assert_eq!(body["offer"]["lifetime_cap_micro"], 2_000_000);
}

#[tokio::test]
async fn lowering_a_level_is_a_withdrawal_with_receipts_the_device_keeps() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        persona_shop(&s).await;
        train(&s).await;
        let key = s.state.ledger_key();
        let (_, offer) = public_get(&s, "/v1/persona/offer").await;
        let terms = terms_of(&offer["offer"]);
        let (_, model) = public_get(&s, "/v1/persona/model").await;
        let model = model_of(&model);
        let mut p = Persona::new("everyday", [7; 32]);
        let pseudonym = p.pseudonym(&terms.business);
        let send = |from: u8, to: u8| json!({"business": terms.business, "pseudonym": pseudonym.to_hex(), "from": from, "to": to});

        // Raise 0 → 2: the grants, each with a receipt the device keeps.
        let (seq, steps) = p.set_level(&terms.business, TrustLevel::Regular, Timestamp(1));
        let (st, body) = s.public_post("/v1/persona/level", &send(0, 2)).await;
        assert_eq!(st, 201, "{body}");
        assert_eq!(body["steps"], serde_json::to_value(&steps).unwrap());
        for r in body["receipts"].as_array().unwrap() {
            let receipt: Receipt = serde_json::from_value(r.clone()).unwrap();
            p.log_mut()
                .attach_receipt(seq.unwrap(), receipt, &key)
                .unwrap();
        }
        assert!(p.log().unreceipted_changes(&terms.business).is_empty());
        p.approve_interests(&terms, vec!["camping".into()]).unwrap();
        let d2 = p
            .disclose(&terms, &model, Timestamp::now(), &[0u8; 64])
            .unwrap();
        let (st, body) = s
            .public_post(
                "/v1/persona/disclosures",
                &serde_json::to_value(&d2).unwrap(),
            )
            .await;
        assert_eq!(st, 201, "{body}");
        assert!(s
            .state
            .persona_interests(&pseudonym.to_hex())
            .await
            .unwrap()
            .is_some_and(|t| !t.is_empty()));

        // Lower 2 → 0: both purposes withdrawn, in the ledger, receipts kept;
        // the interests are no longer held.
        let (seq, steps) = p.set_level(&terms.business, TrustLevel::Stranger, Timestamp(2));
        assert!(steps.iter().all(|s| !s.granted));
        let (st, body) = s.public_post("/v1/persona/level", &send(2, 0)).await;
        assert_eq!(st, 201, "{body}");
        let receipts = body["receipts"].as_array().unwrap();
        assert_eq!(receipts.len(), steps.len(), "{body}");
        for r in receipts {
            let receipt: Receipt = serde_json::from_value(r.clone()).unwrap();
            verify_receipt(&receipt, Some(&key)).unwrap();
            let LedgerEntry::ConsentChange { state, source, .. } = &receipt.entry else {
                panic!("not a consent change: {:?}", receipt.entry)
            };
            assert_eq!(*state, fineline_ledger::ConsentState::Withdrawn);
            assert_eq!(source, "persona");
            p.log_mut()
                .attach_receipt(seq.unwrap(), receipt, &key)
                .unwrap();
        }
        assert!(p.log().unreceipted_changes(&terms.business).is_empty());
        assert_eq!(
            s.state
                .persona_interests(&pseudonym.to_hex())
                .await
                .unwrap(),
            Some(vec![])
        );
        // And the shop takes no more interests from that pseudonym.
        let (st, e) = s
            .public_post(
                "/v1/persona/disclosures",
                &serde_json::to_value(&d2).unwrap(),
            )
            .await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (400, Some("payload.pseudonym")),
            "{e}"
        );
        // They are fineline consent records of that subject, so the rights
        // (export, erasure) apply: the last word on each purpose is withdrawn.
        let subject = s.state.persona_subject(&pseudonym);
        let records = s.state.stored_consents(&subject).await.unwrap();
        assert_eq!(records.len(), 4, "two grants, two withdrawals");
        let last = |purpose: fineline_core::Purpose| {
            records
                .iter()
                .filter(|r| r.record.purpose == purpose)
                .max_by_key(|r| r.ledger_index)
                .map(|r| r.record.state)
        };
        for purpose in [
            fineline_core::Purpose::Personalization,
            fineline_core::Purpose::Analytics,
        ] {
            assert_eq!(
                last(purpose),
                Some(fineline_consent::ConsentState::Withdrawn)
            );
        }

        // 3 → 2 narrows personalization: withdrawn then granted again.
        let (st, body) = s.public_post("/v1/persona/level", &send(3, 2)).await;
        assert_eq!(st, 201, "{body}");
        let states: Vec<(String, bool)> = body["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["purpose"].as_str().unwrap().to_string(),
                    s["granted"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(states[0], ("personalization".into(), false), "{body}");
        assert_eq!(body["receipts"].as_array().unwrap().len(), states.len());

        // Bad input: 400 naming the field; 0 ↔ 1 carries no identifier.
        for (body, field) in [
            (send(0, 1), "to"),
            (send(2, 2), "to"),
            (send(2, 9), "to"),
            (send(7, 2), "from"),
            (
                json!({"business": "elsewhere", "pseudonym": pseudonym.to_hex(), "from": 0, "to": 2}),
                "business",
            ),
            (
                json!({"business": terms.business, "pseudonym": "zz", "from": 0, "to": 2}),
                "pseudonym",
            ),
        ] {
            let (st, e) = s.public_post("/v1/persona/level", &body).await;
            assert_eq!(
                (st, e["error"]["field"].as_str()),
                (400, Some(field)),
                "{body} → {e}"
            );
        }
    }
}

#[tokio::test]
async fn the_storefront_is_served_with_demo_only() {
    use fineline_app::persona::PersonaConfig;
    let s = TestServer::start(common::Backend::Sqlite).await;
    persona_shop(&s).await;
    let r = reqwest::get(s.url("/shop")).await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        404,
        "no storefront on a business's real server"
    );
    s.state
        .set_persona_config(PersonaConfig {
            storefront: true,
            ..PersonaConfig::default()
        })
        .unwrap();
    for (path, kind) in [
        ("/shop", "text/html"),
        ("/shop/shop.js", "text/javascript"),
        ("/shop/shop.css", "text/css"),
    ] {
        let r = reqwest::get(s.url(path)).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
    }
    assert_eq!(
        reqwest::get(s.url("/shop/other.js"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    // The catalogue the shop window shows: public, titles and categories.
    let (st, items) = public_get(&s, "/v1/persona/catalogue").await;
    assert_eq!(st, 200, "{items}");
    assert_eq!(items.as_array().unwrap().len(), 5);
    assert_eq!(items[0]["id"], "boots");
    assert_eq!(items[0]["category"], "running");
}
