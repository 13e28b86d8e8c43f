//! Erasure asked by the persona's device, over loopback (issue 18): the
//! level change registers the device's erasure key, `POST
//! /v1/persona/erasure` takes only a request signed under it, answers
//! with the erasure receipt the reference client verifies and keeps, and
//! refuses everything else with a 4xx naming the field.

mod common;

use common::{backends, TestServer};
use fineline_core::Timestamp;
use fineline_ledger::Receipt;
use fineline_persona::{ErasureRequest, Persona, TrustLevel};
use serde_json::{json, Value};

async fn public_post(s: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let r = s.http.post(s.url(path)).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn field(e: &Value) -> (&str, &str) {
    (
        e["error"]["code"].as_str().unwrap_or("-"),
        e["error"]["field"].as_str().unwrap_or("-"),
    )
}

#[tokio::test]
async fn a_device_erases_itself_with_a_signed_request_and_keeps_the_receipt() {
    for backend in backends() {
        let s = TestServer::start(backend).await;
        s.publish_demo_policy(1).await;
        let business = s.state.persona_config().business;
        let key = s.state.ledger_key();
        let mut p = Persona::new("everyday", [7; 32]);
        let pseudonym = p.pseudonym(&business);
        let erasure_key = hex::encode(p.erasure_key(&business).as_bytes());

        // The key rides with the change to level 2; a malformed one is refused.
        let change = |k: &str| {
            json!({"business": business, "pseudonym": pseudonym.to_hex(),
            "from": 0, "to": 2, "erasure_key": k})
        };
        let (st, e) = public_post(&s, "/v1/persona/level", &change("zz")).await;
        assert_eq!(
            (st, field(&e)),
            (400, ("invalid_field", "erasure_key")),
            "{e}"
        );
        let (raised, _) = p.set_level(&business, TrustLevel::Regular, Timestamp::now());
        let (st, body) = public_post(&s, "/v1/persona/level", &change(&erasure_key)).await;
        assert_eq!(st, 201, "{body}");
        for r in body["receipts"].as_array().unwrap() {
            let receipt: Receipt = serde_json::from_value(r.clone()).unwrap();
            p.log_mut()
                .attach_receipt(raised.unwrap(), receipt, &key)
                .unwrap();
        }
        let subject = s.state.persona_subject(&pseudonym);
        assert_eq!(s.state.stored_consents(&subject).await.unwrap().len(), 2);

        // Refused, each naming the field, and nothing erased.
        let now = Timestamp::now();
        let good = |at: Timestamp, nonce: u8| {
            serde_json::to_value(ErasureRequest::sign(
                &[7; 32],
                &business,
                pseudonym,
                at,
                &[nonce; 16],
            ))
            .unwrap()
        };
        let forged = serde_json::to_value(ErasureRequest::sign(
            &[8; 32], &business, pseudonym, now, &[1; 16],
        ))
        .unwrap();
        let stranger = serde_json::to_value(
            Persona::new("other", [9; 32])
                .request_erasure(&business, now, &[1; 16])
                .unwrap()
                .1,
        )
        .unwrap();
        let mut extra = good(now, 1);
        extra["level"] = json!(2);
        let mut short = good(now, 1);
        short["signature"] = json!("00");
        let stale = Timestamp(now.millis() - 10 * 60 * 1000);
        for (body, want) in [
            (forged, (401, ("signature_refused", "signature"))),
            (short, (401, ("signature_refused", "signature"))),
            (stranger, (401, ("signature_refused", "pseudonym"))),
            (good(stale, 1), (400, ("invalid_field", "at"))),
            (
                json!({"business": business, "pseudonym": "zz", "at": 1, "nonce": "00", "signature": "00"}),
                (400, ("invalid_field", "pseudonym")),
            ),
            (extra, (400, ("invalid_field", "level"))),
        ] {
            let (st, e) = public_post(&s, "/v1/persona/erasure", &body).await;
            assert_eq!((st, field(&e).0), (want.0, want.1 .0), "{body} → {e}");
            if want.1 .1 != "-" {
                assert_eq!(field(&e).1, want.1 .1, "{body} → {e}");
            }
            assert_eq!(s.state.stored_consents(&subject).await.unwrap().len(), 2);
        }

        // The device's own request: erased, with a receipt it verifies and keeps.
        let (seq, request) = p.request_erasure(&business, now, &[2; 16]).unwrap();
        let body = serde_json::to_value(&request).unwrap();
        let (st, answer) = public_post(&s, "/v1/persona/erasure", &body).await;
        assert_eq!(st, 200, "{answer}");
        assert!(answer["rows_deleted"].as_u64().unwrap() >= 3, "{answer}");
        let receipt: Receipt = serde_json::from_value(answer["receipt"].clone()).unwrap();
        let summary = p.erased(seq, receipt, &key).unwrap();
        assert!(summary.starts_with("valid: "), "{summary}");
        assert_eq!(p.level(&business), TrustLevel::Stranger);
        assert!(p.log().unreceipted_changes(&business).is_empty());
        assert!(s.state.stored_consents(&subject).await.unwrap().is_empty());

        // Sent again: the key went with the erasure.
        let (st, e) = public_post(&s, "/v1/persona/erasure", &body).await;
        assert_eq!(
            (st, field(&e)),
            (401, ("signature_refused", "pseudonym")),
            "{e}"
        );
    }
}
