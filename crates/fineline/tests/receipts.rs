//! Receipts and subject tokens from the command line, against the real
//! server: `verify --subject` proves a receipt names one person, and no
//! ttl unit stretches a subject token past seven days.

mod common;

use common::{cli, consent, create_key, http, publish_policy, Server};
use serde_json::{json, Value};

/// `verify --subject` proves a receipt is about one person: the entry's
/// commitment is recomputed from the receipt's salt and their pseudonym.
/// The signature and proof do not cover the salt, so a receipt with one
/// digit of it changed still passes them: only this check catches it.
#[test]
fn a_receipt_is_checked_against_its_person() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let admin = create_key(dir.path(), "admin", &[]);
    let server = Server::start(dir.path(), &[]);
    publish_policy(&server.base, &admin);
    let granted = consent(
        &server.base,
        &admin,
        "ann@example.com",
        json!({"source": "web", "grant": ["analytics"]}),
    );
    consent(
        &server.base,
        &admin,
        "bob@example.com",
        json!({"source": "web", "grant": ["analytics"]}),
    );
    let pseudonym = |who: &str| -> String {
        let export: Value = http()
            .get(format!("{}/v1/subjects/{who}/export", server.base))
            .bearer_auth(&admin)
            .send()
            .unwrap()
            .json()
            .unwrap();
        export["subject"].as_str().unwrap().to_string()
    };
    let (ann, bob) = (pseudonym("ann@example.com"), pseudonym("bob@example.com"));
    let receipt = &granted["receipts"][0];
    let path = dir.path().join("receipt.json");
    let file = path.to_str().unwrap();
    std::fs::write(&path, serde_json::to_vec(receipt).unwrap()).unwrap();
    let verify = |extra: &[&str]| {
        let out = cli(&[&["verify", file][..], extra].concat());
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };

    // Without --subject: valid, and plainly not checked for the person.
    let (ok, text) = verify(&[]);
    assert!(ok, "{text}");
    assert!(text.contains("not checked"), "{text}");
    // Ann's pseudonym, or her id with the server's keys: it names her.
    for args in [
        vec!["--subject", ann.as_str()],
        vec!["--subject", "ann@example.com", "--data-dir", data],
    ] {
        let (ok, text) = verify(&args);
        assert!(ok, "{args:?}: {text}");
        assert!(text.contains("names you"), "{text}");
        assert!(!text.contains("not checked"), "{text}");
    }
    // Bob's, by pseudonym or id: it does not.
    for args in [
        vec!["--subject", bob.as_str()],
        vec!["--subject", "bob@example.com", "--data-dir", data],
    ] {
        let (ok, text) = verify(&args);
        assert!(!ok, "{args:?}: {text}");
        assert!(text.contains("commitment does not match"), "{text}");
    }
    // A raw id without the keys cannot be checked, and says why.
    let (ok, text) = verify(&["--subject", "ann@example.com"]);
    assert!(!ok && text.contains("not a pseudonym"), "{text}");

    // One digit of the salt changed: still "valid" without --subject,
    // refused with it.
    let mut altered = receipt.clone();
    let salt = receipt["subject_salt"].as_str().unwrap();
    let digit = if salt.starts_with('0') { "1" } else { "0" };
    altered["subject_salt"] = json!(format!("{digit}{}", &salt[1..]));
    std::fs::write(&path, serde_json::to_vec(&altered).unwrap()).unwrap();
    let (ok, text) = verify(&[]);
    assert!(ok && text.contains("not checked"), "{text}");
    let (ok, text) = verify(&["--subject", ann.as_str()]);
    assert!(!ok, "{text}");
    assert!(text.contains("commitment does not match"), "{text}");
    // No salt at all: nothing can show whom it names.
    let mut bare = receipt.clone();
    bare.as_object_mut().unwrap().remove("subject_salt");
    std::fs::write(&path, serde_json::to_vec(&bare).unwrap()).unwrap();
    let (ok, text) = verify(&["--subject", ann.as_str()]);
    assert!(!ok && text.contains("no salt"), "{text}");

    // Subject tokens: no unit stretches one past seven days.
    for ttl in ["8d", "10080h", "10080d"] {
        let out = cli(&[
            "tokens",
            "issue",
            "--subject",
            "ann@example.com",
            "--ttl",
            ttl,
            "--data-dir",
            data,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{ttl}");
        assert!(out.stdout.is_empty(), "{ttl}: no token printed");
        assert!(
            stderr.contains("--ttl") && stderr.contains("maximum of 7d"),
            "{ttl}: {stderr}"
        );
    }
    let out = cli(&[
        "tokens",
        "issue",
        "--subject",
        "ann@example.com",
        "--ttl",
        "7d",
        "--data-dir",
        data,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
