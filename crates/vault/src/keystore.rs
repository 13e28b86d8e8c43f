//! `datakeys.db`: every person's wrapped data key and ledger salt, in a
//! file of their own beside `keys.json`, never in the data store.
//!
//! Why a separate file: a backup of the data store then holds sealed rows
//! but no key to open them, so shredding a key here reaches every backup
//! of the data store taken before the erasure. The key store is backed up
//! on its own short rotation; an erasure is final once the key-store
//! backups older than it have expired.
//!
//! SQLite in WAL mode with `synchronous=FULL` (a created or shredded key
//! survives a crash once the call returns) and `secure_delete` (a deleted
//! key's bytes are zeroed, not left in a free page). After every deletion
//! the WAL is checkpointed and truncated on a thread of its own, so no
//! earlier frame holding the key stays in `datakeys.db-wal`: the shred
//! itself costs one fsync, the truncation (three more) runs beside the
//! caller. Opening the store truncates a WAL a crash left behind.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fineline_core::Pseudonym;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};

use crate::{subject_aad, DataKey, MasterKey, VaultError};

pub(crate) const FILE_NAME: &str = "datakeys.db";

/// Set once the keys an earlier version kept in the data store were moved
/// here (or there were none): later-found ones come from a restored old
/// backup and must not bring erased people back.
const MOVED_FROM_DATA_STORE: &str = "moved_from_data_store";

/// A person's unwrapped data key and the salt of their ledger commitments.
pub struct SubjectKeys {
    /// Seals everything personal about the person; shredding it erases them.
    pub data_key: DataKey,
    /// Per-person salt of their ledger commitments, so the ledger holds no personal data.
    pub salt: [u8; 32],
}

impl std::fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubjectKeys(..)")
    }
}

/// A wrapped key as an earlier version stored it in the data store.
pub struct WrappedSubjectKeys<'a> {
    /// Whose keys these are.
    pub subject: Pseudonym,
    /// The data key wrapped under the master key (nonce || ciphertext+tag).
    pub wrapped_data_key: &'a [u8],
    /// The person's ledger salt (32 bytes).
    pub salt: &'a [u8],
}

/// The per-person key store. One connection behind a mutex: calls are
/// short (a cached statement, at most one fsync and a checkpoint), and
/// a single connection means no reader can hold a checkpoint back.
pub struct KeyStore {
    path: PathBuf,
    master: MasterKey,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db(e: rusqlite::Error) -> VaultError {
    VaultError::KeyStore(e.to_string())
}

impl KeyStore {
    /// Opens (creating if absent) the key store at `path`; keys in it are
    /// wrapped by `master`.
    pub fn open(path: &Path, master: MasterKey) -> Result<Self, VaultError> {
        let conn = Connection::open(path).map_err(db)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(VaultError::KeyStore(format!(
                "journal mode {mode}, not WAL"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(db)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS person_keys (
                 subject TEXT PRIMARY KEY,
                 wrapped_data_key BLOB NOT NULL,
                 commitment_salt BLOB NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS meta (
                 name TEXT PRIMARY KEY,
                 value INTEGER NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(db)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        truncate_wal(&conn)?;
        Ok(Self {
            path: path.to_path_buf(),
            master,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Where the key store's SQLite file lives (`datakeys.db`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    /// The person's keys, if they exist (from their first consent until
    /// erasure).
    pub fn get(&self, subject: &Pseudonym) -> Result<Option<SubjectKeys>, VaultError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn()
            .prepare_cached(
                "SELECT wrapped_data_key, commitment_salt FROM person_keys WHERE subject = ?1",
            )
            .map_err(db)?
            .query_row([subject.to_text()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(db)?;
        let Some((wrapped, salt)) = row else {
            return Ok(None);
        };
        let data_key = self.master.unwrap(&wrapped, &subject_aad(subject))?;
        let salt = <[u8; 32]>::try_from(salt.as_slice())
            .map_err(|_| VaultError::Corrupt("stored salt is not 32 bytes"))?;
        Ok(Some(SubjectKeys { data_key, salt }))
    }

    /// The keys of `subject`, created and stored durably before they are
    /// returned when the person has none, so nothing can be sealed under a
    /// key that a crash would lose. Keys another process created first are
    /// returned as they are, never replaced: two fineline processes sharing
    /// this key store (replicas on one host) that meet a new person at the
    /// same moment seal with one key.
    pub fn create(&self, subject: &Pseudonym) -> Result<SubjectKeys, VaultError> {
        Ok(self
            .create_many(std::slice::from_ref(subject))?
            .pop()
            .expect("one key per subject"))
    }

    /// [`KeyStore::create`] for many people in one transaction (one fsync
    /// instead of one each): a bulk consent import of thousands of people
    /// would otherwise spend most of its time waiting on the disk.
    pub fn create_many(&self, subjects: &[Pseudonym]) -> Result<Vec<SubjectKeys>, VaultError> {
        let mut out = Vec::with_capacity(subjects.len());
        let mut conn = self.conn();
        // IMMEDIATE: the write lock before the reads, so no other process
        // can create one of these keys between our read and our insert.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        {
            let mut existing = tx
                .prepare_cached(
                    "SELECT wrapped_data_key, commitment_salt FROM person_keys WHERE subject = ?1",
                )
                .map_err(db)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO person_keys (subject, wrapped_data_key, commitment_salt)
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(db)?;
            for subject in subjects {
                let found: Option<(Vec<u8>, Vec<u8>)> = existing
                    .query_row([subject.to_text()], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(db)?;
                if let Some((wrapped, salt)) = found {
                    let data_key = self.master.unwrap(&wrapped, &subject_aad(subject))?;
                    let salt = <[u8; 32]>::try_from(salt.as_slice())
                        .map_err(|_| VaultError::Corrupt("stored salt is not 32 bytes"))?;
                    out.push(SubjectKeys { data_key, salt });
                    continue;
                }
                let data_key = DataKey::generate();
                let mut salt = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut salt);
                let wrapped = self.master.wrap(&data_key, &subject_aad(subject));
                insert
                    .execute(params![subject.to_text(), wrapped, &salt[..]])
                    .map_err(db)?;
                out.push(SubjectKeys { data_key, salt });
            }
        }
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// Destroys the person's keys: everything sealed under them, in any
    /// copy of the data store, can no longer be opened. Durable when it
    /// returns (no later read finds the key, even after a crash); the
    /// key's bytes leave the WAL when the truncation this starts finishes
    /// (see [`KeyStore::truncate_wal`]). Returns whether there was a key.
    pub fn shred(&self, subject: &Pseudonym) -> Result<bool, VaultError> {
        let n = self
            .conn()
            .prepare_cached("DELETE FROM person_keys WHERE subject = ?1")
            .map_err(db)?
            .execute([subject.to_text()])
            .map_err(db)?;
        if n > 0 {
            let conn = self.conn.clone();
            // A failure here is retried by the next shred or open.
            std::thread::spawn(move || truncate_wal(&lock(&conn)));
        }
        Ok(n > 0)
    }

    /// Copies the WAL into the database file and truncates it, now (a
    /// shred also starts this in the background). After it returns, no
    /// shredded key is left in any of the key store's files.
    pub fn truncate_wal(&self) -> Result<(), VaultError> {
        truncate_wal(&self.conn())
    }

    /// Whether the person holds keys (known and not erased).
    pub fn contains(&self, subject: &Pseudonym) -> Result<bool, VaultError> {
        self.conn()
            .prepare_cached("SELECT 1 FROM person_keys WHERE subject = ?1")
            .map_err(db)?
            .exists([subject.to_text()])
            .map_err(db)
    }

    /// Calls `each` with every person holding keys and their ledger salt,
    /// reading `page` people at a time in subject order and releasing the
    /// store between pages (key creation and shredding go on meanwhile; a
    /// person created or shredded during the walk may or may not be seen).
    /// For a caller needing most people's salts, e.g. the analytic numbers
    /// after a start: one sequential read instead of a lookup and an
    /// unwrap per person. Returns how many were visited.
    pub fn for_each_salt(
        &self,
        page: usize,
        mut each: impl FnMut(Pseudonym, [u8; 32]),
    ) -> Result<u64, VaultError> {
        let mut after = String::new();
        let mut seen = 0u64;
        loop {
            let rows: Vec<(String, Vec<u8>)> = {
                let conn = self.conn();
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT subject, commitment_salt FROM person_keys
                         WHERE subject > ?1 ORDER BY subject LIMIT ?2",
                    )
                    .map_err(db)?;
                let rows = stmt
                    .query_map(params![after, page.max(1) as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .map_err(db)?
                    .collect::<Result<_, _>>()
                    .map_err(db)?;
                rows
            };
            let Some((last, _)) = rows.last() else {
                return Ok(seen);
            };
            after = last.clone();
            for (subject, salt) in &rows {
                let subject: Pseudonym = subject
                    .parse()
                    .map_err(|_| VaultError::Corrupt("a stored subject is not a pseudonym"))?;
                let salt = <[u8; 32]>::try_from(salt.as_slice())
                    .map_err(|_| VaultError::Corrupt("stored salt is not 32 bytes"))?;
                each(subject, salt);
            }
            seen += rows.len() as u64;
        }
    }

    /// How many people hold keys (known and not erased).
    pub fn count(&self) -> Result<u64, VaultError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM person_keys", [], |r| r.get(0))
            .map_err(db)?;
        Ok(n as u64)
    }

    /// Whether keys an earlier version kept in the data store were already
    /// moved here (see [`KeyStore::adopt_from_data_store`]).
    pub fn moved_from_data_store(&self) -> Result<bool, VaultError> {
        self.conn()
            .query_row(
                "SELECT value FROM meta WHERE name = ?1",
                [MOVED_FROM_DATA_STORE],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v == Some(1))
            .map_err(db)
    }

    /// The one-time move of keys from the data store: stores `keys` (each
    /// checked to unwrap under the master key and its subject, so a
    /// damaged row is refused instead of silently losing someone's data)
    /// and marks the move done, in one durable transaction. Keys already
    /// here are left as they are.
    pub fn adopt_from_data_store(&self, keys: &[WrappedSubjectKeys<'_>]) -> Result<(), VaultError> {
        for k in keys {
            self.master
                .unwrap(k.wrapped_data_key, &subject_aad(&k.subject))?;
            if k.salt.len() != 32 {
                return Err(VaultError::Corrupt("stored salt is not 32 bytes"));
            }
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO person_keys (subject, wrapped_data_key, commitment_salt)
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(db)?;
            for k in keys {
                insert
                    .execute(params![k.subject.to_text(), k.wrapped_data_key, k.salt])
                    .map_err(db)?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, 1)",
                [MOVED_FROM_DATA_STORE],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic mid-call leaves no half-written state in SQLite.
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copy the WAL's pages (zeroed by `secure_delete`) into the database and
/// truncate the WAL to nothing, so no earlier frame keeps a deleted key.
fn truncate_wal(conn: &Connection) -> Result<(), VaultError> {
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .map_err(db)?;
    if busy != 0 {
        return Err(VaultError::KeyStore(
            "the key store's WAL could not be truncated".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(n: u8) -> Pseudonym {
        Pseudonym::new(1, [n; 32])
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn files(dir: &Path) -> Vec<u8> {
        let mut all = Vec::new();
        for f in ["datakeys.db", "datakeys.db-wal", "datakeys.db-shm"] {
            all.extend(std::fs::read(dir.join(f)).unwrap_or_default());
        }
        all
    }

    /// Two processes sharing the key store (replicas on one host) that
    /// meet a new person at once seal with one key: the second creation
    /// returns the first's key instead of replacing it, threads racing too.
    #[test]
    fn a_key_created_elsewhere_is_returned_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let master = MasterKey::generate();
        let stores: Vec<Arc<KeyStore>> = (0..4)
            .map(|_| Arc::new(KeyStore::open(&path, master.clone()).unwrap()))
            .collect();
        let made: Vec<Vec<[u8; 32]>> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .map(|ks| {
                    s.spawn(move || {
                        (0..20u8)
                            .map(|n| ks.create_many(&[subject(n)]).unwrap()[0].salt)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for other in &made[1..] {
            assert_eq!(other, &made[0], "every store handed out the same keys");
        }
        let again = stores[0].create(&subject(3)).unwrap();
        assert_eq!(again.salt, made[0][3]);
        assert_eq!(stores[1].count().unwrap(), 20);
    }

    /// The walk the analytic numbers are warmed from: every person holding
    /// keys once, with the salt a lookup gives, across pages; no one shredded.
    #[test]
    fn walking_the_salts_visits_every_holder_once_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join(FILE_NAME), MasterKey::generate()).unwrap();
        // Two HMAC key ids: text order is not digest order.
        let people: Vec<Pseudonym> = (0..10u8)
            .map(subject)
            .chain((0..5u8).map(|n| Pseudonym::new(12, [n; 32])))
            .collect();
        store.create_many(&people).unwrap();
        assert!(store.shred(&subject(4)).unwrap());
        let mut walked = Vec::new();
        let seen = store
            .for_each_salt(3, |p, salt| walked.push((p, salt)))
            .unwrap();
        assert_eq!(seen, 14);
        walked.sort();
        let mut want: Vec<(Pseudonym, [u8; 32])> = people
            .iter()
            .filter(|p| **p != subject(4))
            .map(|p| (*p, store.get(p).unwrap().unwrap().salt))
            .collect();
        want.sort();
        assert_eq!(walked, want);
    }

    #[test]
    fn keys_persist_and_shredding_leaves_no_bytes_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let master = MasterKey::generate();
        let (a, b) = (subject(1), subject(2));
        let (key_a, wrapped_a, key_b) = {
            let ks = KeyStore::open(&path, master.clone()).unwrap();
            let ka = ks.create(&a).unwrap();
            let kb = ks.create(&b).unwrap();
            let wrapped: Vec<u8> = ks
                .conn()
                .query_row(
                    "SELECT wrapped_data_key FROM person_keys WHERE subject = ?1",
                    [a.to_text()],
                    |r| r.get(0),
                )
                .unwrap();
            (ka, wrapped, kb)
        };
        let ks = KeyStore::open(&path, master.clone()).unwrap();
        assert_eq!(ks.get(&a).unwrap().unwrap().data_key, key_a.data_key);
        assert_eq!(ks.get(&a).unwrap().unwrap().salt, key_a.salt);
        assert_eq!(ks.count().unwrap(), 2);
        assert!(contains(&files(dir.path()), &wrapped_a[12..]));

        assert!(ks.shred(&a).unwrap());
        assert!(!ks.shred(&a).unwrap(), "already gone");
        assert!(ks.get(&a).unwrap().is_none());
        assert!(!ks.contains(&a).unwrap());
        // The truncation runs beside the caller; it must not need asking.
        let wal = dir.path().join("datakeys.db-wal");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&wal).unwrap().len() > 0 {
            assert!(std::time::Instant::now() < deadline, "WAL never truncated");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let bytes = files(dir.path());
        assert!(!contains(&bytes, &wrapped_a[12..]), "wrapped key left");
        assert!(!contains(&bytes, &key_a.salt));
        // Others are untouched, also after reopening.
        drop(ks);
        let ks = KeyStore::open(&path, master).unwrap();
        assert_eq!(ks.get(&b).unwrap().unwrap().data_key, key_b.data_key);
        assert!(ks.get(&a).unwrap().is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_key_store_under_another_master_key_opens_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        KeyStore::open(&path, MasterKey::generate())
            .unwrap()
            .create(&subject(1))
            .unwrap();
        let other = KeyStore::open(&path, MasterKey::generate()).unwrap();
        assert!(matches!(other.get(&subject(1)), Err(VaultError::Open)));
    }

    #[test]
    fn adopting_keys_from_the_data_store_checks_them_and_marks_the_move() {
        let dir = tempfile::tempdir().unwrap();
        let master = MasterKey::generate();
        let ks = KeyStore::open(&dir.path().join(FILE_NAME), master.clone()).unwrap();
        assert!(!ks.moved_from_data_store().unwrap());
        let (a, b) = (subject(1), subject(2));
        let dk = DataKey::generate();
        let wrapped = master.wrap(&dk, &subject_aad(&a));
        // Wrapped for a, claimed for b: refused, nothing stored.
        let bad = [WrappedSubjectKeys {
            subject: b,
            wrapped_data_key: &wrapped,
            salt: &[7; 32],
        }];
        assert!(ks.adopt_from_data_store(&bad).is_err());
        assert!(!ks.moved_from_data_store().unwrap());
        assert_eq!(ks.count().unwrap(), 0);

        let good = [WrappedSubjectKeys {
            subject: a,
            wrapped_data_key: &wrapped,
            salt: &[7; 32],
        }];
        ks.adopt_from_data_store(&good).unwrap();
        assert!(ks.moved_from_data_store().unwrap());
        let got = ks.get(&a).unwrap().unwrap();
        assert_eq!(got.data_key, dk);
        assert_eq!(got.salt, [7; 32]);
    }
}
