//! fineline's ledger: one append-only transparency log of every consent
//! change, policy publication, erasure, read of a person's data, partner
//! release and daily summary.
//!
//! * The log is a Merkle tree built exactly as RFC 9162 (§2.1): leaf hash
//!   SHA-256(0x00 ‖ entry), node hash SHA-256(0x01 ‖ left ‖ right), split at
//!   the largest power of two below the size. Proofs for any past size and
//!   their verification follow §2.1.3 and §2.1.4 to the letter, so any
//!   RFC 6962/9162 tool can check them.
//! * Tree heads are signed with Ed25519; the key id is SHA-256 of the key.
//! * A [`Receipt`] (entry, leaf index, signed tree head, inclusion proof)
//!   lets a person check offline that their entry is in the log.
//!
//! Invariants:
//! * The log only grows: nothing here removes or rewrites a leaf.
//! * No personal data in an entry: people are named only by a
//!   [`Commitment`] under a per-person [`Salt`] kept outside the log.
//!   Erasure destroys the salt; the log stays whole and verifiable.
//! * The leaf input is the entry's canonical bytes
//!   ([`LedgerEntry::canonical_bytes`]), so a verifier recomputes the leaf
//!   hash from the entry alone.
//!
//! Persistence is the store's job: it keeps entry bytes, and at start the
//! server rebuilds the tree with [`MerkleTree::from_leaf_hashes`].
#![deny(missing_docs)]

pub mod bench;
mod entry;
mod hash;
mod head;
mod log;
mod receipt;
mod tree;
mod verify;

pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
pub use entry::{Access, Actor, Commitment, ConsentState, EntryError, LedgerEntry, Salt};
pub use hash::{empty_root, leaf_hash, node_hash, Hash, InvalidHash};
pub use head::{
    document_message, key_hex, key_id, parse_public_key, public_key_to_text, verify_document,
    verify_tree_heads_consistent, ConsistencyError, InvalidPublicKey, LogSigner, SignedTreeHead,
    TreeHead, TreeHeadError,
};
pub use log::{Ledger, ReceiptIssueError};
pub use receipt::{
    verify_receipt, verify_receipt_for_subject, Receipt, ReceiptError, ReceiptSummary,
};
pub use tree::{MerkleTree, TreeError};
pub use verify::{verify_consistency, verify_inclusion, ProofError};
