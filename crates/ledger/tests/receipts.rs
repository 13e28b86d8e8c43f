//! Receipts end to end: issued by a ledger, saved as JSON, checked offline,
//! and each kind of tampering named for what it is.

use fineline_core::{Pseudonym, Purpose, Timestamp};
use fineline_ledger::{
    verify_receipt, verify_receipt_for_subject, verify_tree_heads_consistent, Access, Actor,
    Commitment, ConsentState, ConsistencyError, Ledger, LedgerEntry, LogSigner, Receipt,
    ReceiptError, ReceiptIssueError, Salt,
};

fn person() -> Pseudonym {
    Pseudonym::new(1, [0x5a; 32])
}

fn consent(salt: &Salt, i: i64) -> LedgerEntry {
    LedgerEntry::ConsentChange {
        commitment: Commitment::new(salt, &person()),
        purpose: Purpose::PartnerInsights,
        state: ConsentState::Withdrawn,
        policy_version: 2,
        source: "privacy_center".into(),
        record_id: format!("r{i}"),
        at: Timestamp(1_764_696_084_000 + i),
    }
}

/// A ledger of 42 entries with the person's consent change at leaf 17.
fn issued() -> (Ledger, Receipt) {
    let mut ledger = Ledger::new(LogSigner::from_secret_bytes(&[3; 32]));
    let salt = Salt::from_bytes([9; 32]);
    let mut mine = None;
    for i in 0..42 {
        let entry = if i == 17 {
            consent(&salt, i)
        } else {
            LedgerEntry::DataAccess {
                commitment: Commitment::new(&Salt::from_bytes([i as u8; 32]), &person()),
                what: Access::Export,
                actor: Actor::Subject,
                at: Timestamp(1_764_696_084_000 + i),
            }
        };
        let index = ledger.append(&entry);
        if i == 17 {
            mine = Some((entry, index));
        }
    }
    let head = ledger.sign_head(Timestamp(1_764_696_090_000));
    let (entry, index) = mine.unwrap();
    let receipt = ledger.receipt(entry, index, &head, Some(salt)).unwrap();
    (ledger, receipt)
}

#[test]
fn a_fresh_receipt_verifies_offline_after_a_json_round_trip() {
    let (ledger, receipt) = issued();
    let json = serde_json::to_string_pretty(&receipt).unwrap();
    let back: Receipt = serde_json::from_str(&json).unwrap();
    assert_eq!(back, receipt);
    let summary = verify_receipt(&back, Some(&ledger.public_key())).unwrap();
    let line = summary.to_string();
    assert!(
        line.starts_with(
            "valid: consent change partner_insights withdrawn (policy v2) at 2025-12-02T17:21:24.017Z, leaf 17 of 42, tree head signed by key "
        ),
        "{line}"
    );
    assert!(!line.contains('\n'));
    let untrusted = verify_receipt(&back, None).unwrap();
    assert!(untrusted.to_string().contains("--key"));
    let mine = verify_receipt_for_subject(&back, None, &person()).unwrap();
    assert!(mine.subject_checked);
}

#[test]
fn an_altered_entry_is_named_as_such() {
    let (_, mut receipt) = issued();
    if let LedgerEntry::ConsentChange { state, .. } = &mut receipt.entry {
        *state = ConsentState::Granted;
    }
    assert!(matches!(
        verify_receipt(&receipt, None),
        Err(ReceiptError::EntryAltered(_))
    ));
    // Changing the leaf hash too only moves the failure to the proof.
    receipt.leaf_hash = receipt.entry.leaf_hash();
    assert!(matches!(
        verify_receipt(&receipt, None),
        Err(ReceiptError::BadProof(_))
    ));
}

#[test]
fn someone_elses_pseudonym_or_salt_does_not_match() {
    let (_, mut receipt) = issued();
    let stranger = Pseudonym::new(1, [0x5b; 32]);
    assert!(matches!(
        verify_receipt_for_subject(&receipt, None, &stranger),
        Err(ReceiptError::EntryAltered(_))
    ));
    receipt.subject_salt = Some(Salt::from_bytes([8; 32]));
    assert!(matches!(
        verify_receipt_for_subject(&receipt, None, &person()),
        Err(ReceiptError::EntryAltered(_))
    ));
    receipt.subject_salt = None;
    assert_eq!(
        verify_receipt_for_subject(&receipt, None, &person()),
        Err(ReceiptError::MissingSalt)
    );
}

#[test]
fn a_tampered_proof_or_index_is_a_bad_proof() {
    let (_, receipt) = issued();
    for i in 0..receipt.inclusion_proof.len() {
        let mut bad = receipt.clone();
        bad.inclusion_proof[i].0[i] ^= 0x80;
        assert!(matches!(
            verify_receipt(&bad, None),
            Err(ReceiptError::BadProof(_))
        ));
    }
    let mut moved = receipt.clone();
    moved.leaf_index = 16;
    assert!(matches!(
        verify_receipt(&moved, None),
        Err(ReceiptError::BadProof(_))
    ));
    let mut short = receipt;
    short.inclusion_proof.pop();
    assert!(matches!(
        verify_receipt(&short, None),
        Err(ReceiptError::BadProof(_))
    ));
}

#[test]
fn a_changed_tree_head_is_a_bad_signature() {
    let (_, receipt) = issued();
    let mut bad = receipt.clone();
    bad.tree_head.tree_head.size = 43;
    assert!(matches!(
        verify_receipt(&bad, None),
        Err(ReceiptError::BadSignature(_))
    ));
    let mut bad = receipt.clone();
    bad.tree_head.signature = ed25519_dalek::Signature::from_bytes(&[1; 64]);
    assert!(matches!(
        verify_receipt(&bad, None),
        Err(ReceiptError::BadSignature(_))
    ));
    // A forger who re-signs with their own key is caught by --key.
    let forger = LogSigner::from_secret_bytes(&[4; 32]);
    let mut forged = receipt.clone();
    forged.tree_head = forger.sign(receipt.tree_head.tree_head);
    assert!(matches!(
        verify_receipt(&forged, None),
        Err(ReceiptError::BadSignature(_))
    ));
    forged.log_key = forger.verifying_key();
    assert!(verify_receipt(&forged, None).is_ok());
    let real = LogSigner::from_secret_bytes(&[3; 32]).verifying_key();
    assert!(matches!(
        verify_receipt(&forged, Some(&real)),
        Err(ReceiptError::UntrustedKey { .. })
    ));
}

#[test]
fn error_messages_name_what_failed() {
    let (_, mut receipt) = issued();
    receipt.inclusion_proof[0].0[0] ^= 1;
    let msg = verify_receipt(&receipt, None).unwrap_err().to_string();
    assert!(msg.starts_with("bad proof"), "{msg}");
}

#[test]
fn receipts_are_refused_for_entries_not_in_the_log() {
    let (ledger, receipt) = issued();
    let head = ledger.latest_head().unwrap().clone();
    let other = consent(&Salt::from_bytes([1; 32]), 99);
    assert_eq!(
        ledger.receipt(other, 17, &head, None),
        Err(ReceiptIssueError::EntryNotAtIndex { index: 17 })
    );
    let mut foreign = head.clone();
    foreign.tree_head.root_hash.0[0] ^= 1;
    assert_eq!(
        ledger.receipt(receipt.entry, 17, &foreign, None),
        Err(ReceiptIssueError::ForeignTreeHead)
    );
}

#[test]
fn tree_heads_saved_to_files_prove_the_log_only_grew() {
    let (mut ledger, _) = issued();
    let old = ledger.latest_head().unwrap().clone();
    let old: fineline_ledger::SignedTreeHead =
        serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
    for i in 0..9 {
        ledger.append(&LedgerEntry::Erasure {
            commitment: Commitment::new(&Salt::generate(), &person()),
            at: Timestamp(i),
        });
    }
    let new = ledger.sign_head(Timestamp(1_764_696_099_000));
    let key = ledger.public_key();
    let proof = ledger.consistency_proof(42, 51).unwrap();
    verify_tree_heads_consistent(&old, &new, &proof, &key).unwrap();
    let mut rewritten = proof.clone();
    rewritten[0].0[5] ^= 4;
    assert!(matches!(
        verify_tree_heads_consistent(&old, &new, &rewritten, &key),
        Err(ConsistencyError::BadProof(_))
    ));
    assert!(matches!(
        verify_tree_heads_consistent(&new, &old, &proof, &key),
        Err(ConsistencyError::BadProof(_))
    ));
}
