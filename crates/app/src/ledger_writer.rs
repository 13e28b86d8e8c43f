//! The one writer of the transparency log.
//!
//! Appends are serialised behind one async mutex so leaf indices are
//! handed out in commit order. Each append writes its leaves, the new
//! signed tree head and the caller's own rows (a consent record, an
//! erasure...) in ONE database transaction: either the change and its proof
//! both exist, or neither does, even across `kill -9`.

use fineline_core::Timestamp;
use fineline_db::{Database, WriteOp, WriteSet};
use fineline_ledger::{
    leaf_hash, Hash, LedgerEntry, LogSigner, MerkleTree, Receipt, Salt, SignedTreeHead, TreeHead,
};

use crate::error::AppError;
use crate::sync::RwLock;

/// The transparency log of a running server: its Merkle tree in memory,
/// its signer and latest signed head. One per [`crate::App`].
pub struct LedgerWriter {
    /// Serialises appends; held across the database write.
    order: tokio::sync::Mutex<()>,
    /// The tree may briefly hold leaves not yet committed; readers only
    /// ever ask for proofs up to the published head's size, which covers
    /// committed leaves alone.
    tree: RwLock<MerkleTree>,
    signer: LogSigner,
    head: RwLock<SignedTreeHead>,
}

/// What an append produced: the leaf index of each entry and the signed
/// tree head that covers them.
pub struct Appended {
    /// Leaf index of each entry, in input order.
    pub indices: Vec<u64>,
    /// The signed tree head covering them.
    pub head: SignedTreeHead,
    /// What the caller's ops did in the same transaction.
    pub outcome: fineline_db::WriteOutcome,
}

impl LedgerWriter {
    /// Rebuild the tree from the database's leaf hashes and sign a head for it.
    pub async fn open(database: &dyn Database, signer: LogSigner) -> Result<Self, AppError> {
        let leaves = database.ledger_leaves().await.map_err(AppError::internal)?;
        let tree = MerkleTree::from_leaf_hashes(leaves.into_iter().map(|(_, h)| Hash(h)));
        let head = sign_head(&signer, &tree);
        Ok(Self {
            order: tokio::sync::Mutex::new(()),
            tree: RwLock::new(tree),
            signer,
            head: RwLock::new(head),
        })
    }

    /// The key that signs tree heads; clients check heads against its public
    /// half.
    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    /// The latest signed tree head; it covers committed entries only.
    pub fn head(&self) -> SignedTreeHead {
        self.head.read().unwrap().clone()
    }

    /// Merkle proof that entry `index` is in the tree of `size` entries.
    /// Errs (naming the field) when `size` is past the published head or
    /// `index` is not below `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, AppError> {
        self.check_size(size)?;
        self.tree
            .read()
            .unwrap()
            .inclusion_proof(index, size)
            .map_err(|e| AppError::field("index", e.to_string()))
    }

    /// Merkle proof that the tree of `from` entries is a prefix of the tree of
    /// `to`. Errs (naming the field) when `to` is past the published head or
    /// `from` is past `to`.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, AppError> {
        self.check_size(to)?;
        self.tree
            .read()
            .unwrap()
            .consistency_proof(from, to)
            .map_err(|e| AppError::field("from", e.to_string()))
    }

    fn check_size(&self, size: u64) -> Result<(), AppError> {
        let published = self.head().tree_head.size;
        if size > published {
            return Err(AppError::field(
                "size",
                format!("the log has {published} entries"),
            ));
        }
        Ok(())
    }

    /// Append `entries` and apply `ops` atomically with them. `ops` is
    /// given the entries' indices.
    pub async fn append(
        &self,
        database: &dyn Database,
        entries: &[LedgerEntry],
        ops: impl FnOnce(&[u64]) -> Vec<WriteOp>,
    ) -> Result<Appended, AppError> {
        let _order = self.order.lock().await;
        // Other processes of the deployment wait for this append to end,
        // so the size caught up to here is the size it lands at.
        let turn = database.ledger_turn().await?;
        let appended = async {
            if database.shared() {
                self.sync_locked(database).await?;
            }
            self.try_append(database, entries, ops)
                .await
                .map_err(|e| match e {
                    // A budget charge in `ops` would overspend: the client's
                    // doing, not ours (see `crate::budget`).
                    fineline_db::DatabaseError::Refused(m) => AppError::BudgetExhausted {
                        message: m,
                        remaining: None,
                        asked: None,
                    },
                    e => AppError::internal(e),
                })
        }
        .await;
        turn.end().await;
        appended
    }

    /// One attempt at an append on the tree as it stands; on failure the
    /// tree is as before.
    async fn try_append(
        &self,
        database: &dyn Database,
        entries: &[LedgerEntry],
        ops: impl FnOnce(&[u64]) -> Vec<WriteOp>,
    ) -> Result<Appended, fineline_db::DatabaseError> {
        let mut leaves = Vec::with_capacity(entries.len());
        let (old_size, indices, head) = {
            let mut tree = self.tree.write().unwrap();
            let old_size = tree.size();
            let mut indices = Vec::with_capacity(entries.len());
            for entry in entries {
                let bytes = entry.canonical_bytes();
                let leaf = leaf_hash(&bytes);
                indices.push(tree.append(leaf));
                leaves.push((leaf, bytes));
            }
            (old_size, indices, sign_head(&self.signer, &tree))
        };
        let mut ops = ops(&indices);
        for (&index, (leaf, entry)) in indices.iter().zip(leaves) {
            ops.push(WriteOp::AppendLedger {
                index,
                leaf_hash: leaf.0,
                entry,
            });
        }
        let head_bytes = serde_json::to_vec(&head)
            .map_err(|e| fineline_db::DatabaseError::Backend(e.to_string()));
        let applied = match head_bytes {
            Ok(bytes) => {
                ops.push(WriteOp::PutTreeHead {
                    size: head.tree_head.size,
                    bytes,
                });
                database.apply(WriteSet { ops }).await
            }
            Err(e) => Err(e),
        };
        match applied {
            Ok(outcome) => {
                *self.head.write().unwrap() = head.clone();
                Ok(Appended {
                    indices,
                    head,
                    outcome,
                })
            }
            Err(e) => {
                // Nothing was written: drop the uncommitted leaves.
                self.tree.write().unwrap().truncate(old_size);
                Err(e)
            }
        }
    }

    /// Take in what other processes of the deployment appended: their
    /// leaves into the tree, and the latest stored signed head (theirs or
    /// ours: the same key signs both). Returns the tree's size after.
    pub async fn catch_up(&self, database: &dyn Database) -> Result<u64, AppError> {
        let _order = self.order.lock().await;
        self.sync_locked(database).await
    }

    async fn sync_locked(&self, database: &dyn Database) -> Result<u64, AppError> {
        let from = self.tree.read().unwrap().size();
        let leaves = database.ledger_leaves_from(from).await?;
        if leaves.is_empty() {
            return Ok(from);
        }
        let size = {
            let mut tree = self.tree.write().unwrap();
            for (index, hash) in leaves {
                let at = tree.append(Hash(hash));
                if at != index {
                    return Err(AppError::internal(format!(
                        "ledger leaf {index} read where {at} was expected"
                    )));
                }
            }
            tree.size()
        };
        // The head of the newest append covers every leaf just read (it was
        // written in the same transaction), unless more landed since.
        if let Some((head_size, bytes)) = database.latest_tree_head().await? {
            let head: SignedTreeHead =
                serde_json::from_slice(&bytes).map_err(AppError::internal)?;
            let ours = self.tree.read().unwrap().root(head_size).ok();
            if head_size <= size && head.tree_head.size == head_size {
                if ours != Some(head.tree_head.root_hash) {
                    return Err(AppError::internal(
                        "a stored tree head does not match the stored leaves",
                    ));
                }
                if head_size > self.head().tree_head.size {
                    *self.head.write().unwrap() = head;
                }
            }
        }
        Ok(size)
    }

    /// A receipt for leaf `index` against the current head.
    pub async fn receipt(
        &self,
        database: &dyn Database,
        index: u64,
        salt: Option<Salt>,
    ) -> Result<Receipt, AppError> {
        let head = self.head();
        if index >= head.tree_head.size {
            return Err(AppError::not_found(format!("no ledger entry {index}")));
        }
        let bytes = database
            .ledger_entry(index)
            .await
            .map_err(AppError::internal)?
            .ok_or_else(|| AppError::not_found(format!("no ledger entry {index}")))?;
        let entry = LedgerEntry::from_canonical_bytes(&bytes).map_err(AppError::internal)?;
        let inclusion_proof = self.inclusion_proof(index, head.tree_head.size)?;
        Ok(Receipt {
            leaf_hash: leaf_hash(&bytes),
            entry,
            leaf_index: index,
            tree_head: head,
            inclusion_proof,
            subject_salt: salt,
            log_key: self.signer.verifying_key(),
        })
    }
}

fn sign_head(signer: &LogSigner, tree: &MerkleTree) -> SignedTreeHead {
    signer.sign(TreeHead {
        size: tree.size(),
        root_hash: tree.current_root(),
        timestamp_ms: Timestamp::now().millis(),
    })
}
