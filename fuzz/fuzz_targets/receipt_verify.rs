//! Receipts are files people keep and hand to `fineline verify`, so the
//! verifier takes anything. Two halves, chosen by the first byte:
//! * arbitrary bytes parsed as a receipt and verified: never a panic;
//! * a real receipt's JSON with a few bytes overwritten: if it still parses
//!   to a different receipt, it must not verify (the salt is the one field
//!   plain verification does not cover; the per-subject check does).
#![no_main]

use std::sync::OnceLock;

use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_ledger::{
    verify_receipt, verify_receipt_for_subject, Access, Actor, Commitment, ConsentState, Ledger,
    LedgerEntry, LogSigner, Receipt, Salt, VerifyingKey,
};
use libfuzzer_sys::fuzz_target;

fn subject() -> Pseudonym {
    Pseudonym::new(3, [0xab; 32])
}

fn salt() -> Salt {
    Salt::from_bytes([0x5a; 32])
}

fn entry(i: u64) -> LedgerEntry {
    let commitment = Commitment::new(&salt(), &subject());
    let at = Timestamp(1_764_000_000_000 + i as i64);
    match i % 3 {
        0 => LedgerEntry::ConsentChange {
            commitment,
            purpose: Purpose::Personalization,
            state: ConsentState::Granted,
            policy_version: 2,
            source: "privacy_center".into(),
            record_id: i.to_string(),
            at,
        },
        1 => LedgerEntry::DataAccess {
            commitment,
            what: Access::Export,
            actor: Actor::Subject,
            at,
        },
        _ => LedgerEntry::Erasure { commitment, at },
    }
}

struct Fixture {
    key: VerifyingKey,
    /// (receipt, its JSON) for trees of several sizes, so proofs of
    /// several lengths (including none) are mutated.
    receipts: Vec<(Receipt, Vec<u8>)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut receipts = Vec::new();
        for (size, index) in [(1u64, 0u64), (2, 1), (5, 4), (7, 2), (8, 0)] {
            let mut ledger = Ledger::new(LogSigner::from_secret_bytes(&[7; 32]));
            for i in 0..size {
                ledger.append(&entry(i));
            }
            let head = ledger.sign_head(Timestamp(1_764_000_100_000));
            let receipt = ledger
                .receipt(entry(index), index, &head, Some(salt()))
                .unwrap();
            verify_receipt_for_subject(&receipt, None, &subject()).unwrap();
            let json = serde_json::to_vec_pretty(&receipt).unwrap();
            receipts.push((receipt, json));
        }
        Fixture {
            key: LogSigner::from_secret_bytes(&[7; 32]).verifying_key(),
            receipts,
        }
    })
}

fn verify_all_ways(r: &Receipt, key: &VerifyingKey) {
    if let Ok(summary) = verify_receipt(r, None) {
        let _ = summary.to_string();
    }
    let _ = verify_receipt(r, Some(key));
    let _ = verify_receipt_for_subject(r, None, &subject());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    if mode & 1 == 0 {
        if let Ok(r) = serde_json::from_slice::<Receipt>(rest) {
            verify_all_ways(&r, &f.key);
        }
        return;
    }
    let (original, json) = &f.receipts[usize::from(mode >> 1) % f.receipts.len()];
    let mut mutated = json.clone();
    // Each 3 bytes: a position (16 bits) and the byte to write there.
    for m in rest.chunks_exact(3).take(4) {
        let pos = usize::from(u16::from_le_bytes([m[0], m[1]])) % mutated.len();
        mutated[pos] = m[2];
    }
    let Ok(r) = serde_json::from_slice::<Receipt>(&mutated) else {
        return;
    };
    verify_all_ways(&r, &f.key);
    let mut salt_aside = r.clone();
    salt_aside.subject_salt.clone_from(&original.subject_salt);
    if salt_aside != *original {
        assert!(
            verify_receipt(&r, None).is_err(),
            "a changed receipt verified: {}",
            String::from_utf8_lossy(&mutated)
        );
    }
    if r != *original {
        assert!(
            verify_receipt_for_subject(&r, None, &subject()).is_err(),
            "a changed receipt verified for its subject: {}",
            String::from_utf8_lossy(&mutated)
        );
    }
});
