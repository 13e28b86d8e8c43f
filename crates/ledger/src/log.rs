//! The log as the server holds it: the tree plus the key that signs it.

use crate::entry::{LedgerEntry, Salt};
use crate::hash::Hash;
use crate::head::{LogSigner, SignedTreeHead, TreeHead};
use crate::receipt::Receipt;
use crate::tree::{MerkleTree, TreeError};
use ed25519_dalek::VerifyingKey;
use fineline_core::Timestamp;

/// Why a receipt could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptIssueError {
    /// The index or size is outside the tree.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The entry given is not the one stored at that index.
    #[error("the entry given is not the one at leaf {index}")]
    EntryNotAtIndex {
        /// The leaf index given (0-based).
        index: u64,
    },
    /// The tree head was signed by another key or for another tree.
    #[error("the tree head was not signed by this log for this tree")]
    ForeignTreeHead,
}

/// An append-only ledger: Merkle tree, signing key, latest signed head.
///
/// Not internally synchronised: the server wraps it in a lock, so that
/// "append, then sign, then issue a receipt" is one step.
#[derive(Debug)]
pub struct Ledger {
    tree: MerkleTree,
    signer: LogSigner,
    latest: Option<SignedTreeHead>,
}

impl Ledger {
    /// An empty log signed by `signer`.
    pub fn new(signer: LogSigner) -> Self {
        Self::from_tree(signer, MerkleTree::new())
    }

    /// Reopens a log from its stored leaf hashes, in log order.
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(signer: LogSigner, leaves: I) -> Self {
        Self::from_tree(signer, MerkleTree::from_leaf_hashes(leaves))
    }

    /// A log over an already built tree, signed by `signer`.
    pub fn from_tree(signer: LogSigner, tree: MerkleTree) -> Self {
        Self {
            tree,
            signer,
            latest: None,
        }
    }

    /// Appends an entry; returns its leaf index. The caller stores
    /// `entry.canonical_bytes()` (or the leaf hash) under that index.
    pub fn append(&mut self, entry: &LedgerEntry) -> u64 {
        self.tree.append(entry.leaf_hash())
    }

    /// Appends a leaf hash already computed (e.g. replayed from the store); returns its index.
    pub fn append_leaf_hash(&mut self, leaf_hash: Hash) -> u64 {
        self.tree.append(leaf_hash)
    }

    /// Signs the current size and root, and remembers it as the latest.
    pub fn sign_head(&mut self, at: Timestamp) -> SignedTreeHead {
        let head = TreeHead {
            size: self.tree.size(),
            root_hash: self.tree.current_root(),
            timestamp_ms: at.millis(),
        };
        let sth = self.signer.sign(head);
        self.latest = Some(sth.clone());
        sth
    }

    /// The last head signed since this ledger was opened.
    pub fn latest_head(&self) -> Option<&SignedTreeHead> {
        self.latest.as_ref()
    }

    /// A receipt for `entry` at `leaf_index`, proven against `head`.
    pub fn receipt(
        &self,
        entry: LedgerEntry,
        leaf_index: u64,
        head: &SignedTreeHead,
        subject_salt: Option<Salt>,
    ) -> Result<Receipt, ReceiptIssueError> {
        let size = head.tree_head.size;
        if head.key_id != self.signer.key_id() || self.tree.root(size)? != head.tree_head.root_hash
        {
            return Err(ReceiptIssueError::ForeignTreeHead);
        }
        let leaf_hash = entry.leaf_hash();
        if self.tree.leaf_hash(leaf_index) != Some(leaf_hash) {
            return Err(ReceiptIssueError::EntryNotAtIndex { index: leaf_index });
        }
        Ok(Receipt {
            inclusion_proof: self.tree.inclusion_proof(leaf_index, size)?,
            entry,
            leaf_index,
            leaf_hash,
            tree_head: head.clone(),
            subject_salt,
            log_key: self.signer.verifying_key(),
        })
    }

    /// The Merkle tree of every leaf so far.
    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// The key that signs this log's tree heads.
    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    /// The public key auditors and receipt holders verify against.
    pub fn public_key(&self) -> VerifyingKey {
        self.signer.verifying_key()
    }

    /// RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.tree.inclusion_proof(index, size)
    }

    /// RFC 9162 consistency proof from size `from` to size `to`.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, TreeError> {
        self.tree.consistency_proof(from, to)
    }
}
