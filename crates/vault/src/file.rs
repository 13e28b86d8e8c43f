//! The on-disk key file `keys.json` and the [`Vault`] that owns it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::keyring::PseudonymKey;
use crate::{KeyStore, Keyring, MasterKey, VaultError};

const FILE_NAME: &str = "keys.json";
const FORMAT_VERSION: u32 = 1;

/// `keys.json`: hex-encoded secrets. Holds keys only, never raw ids.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    current_pseudonym_key: u32,
    pseudonym_keys: BTreeMap<u32, String>,
    master_key: String,
    ledger_signing_seed: String,
    token_secret: String,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        for v in self.pseudonym_keys.values_mut() {
            v.zeroize();
        }
        self.master_key.zeroize();
        self.ledger_signing_seed.zeroize();
        self.token_secret.zeroize();
    }
}

fn decode32(s: &str) -> Result<[u8; 32], VaultError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| VaultError::Corrupt("key is not 64 hex digits"))?;
    Ok(out)
}

fn random32() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

/// All of fineline's secrets: the key file, and beside it the per-person
/// [`KeyStore`] (`datakeys.db`).
///
/// Every change goes through [`Vault::save`], which writes a temporary
/// file with mode 0600, fsyncs it, renames it over `keys.json` and fsyncs
/// the directory, so a crash leaves either the old or the new file.
pub struct Vault {
    path: PathBuf,
    keyring: Keyring,
    master: MasterKey,
    ledger_seed: [u8; 32],
    token_secret: [u8; 32],
    key_store: Arc<KeyStore>,
}

impl Drop for Vault {
    fn drop(&mut self) {
        self.ledger_seed.zeroize();
        self.token_secret.zeroize();
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Loads `dir/keys.json`, or creates the directory and a fresh key
    /// file; opens (or creates) the key store `dir/datakeys.db`.
    pub fn open_or_create(dir: &Path) -> Result<Self, VaultError> {
        fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        match fs::read(&path) {
            Ok(mut bytes) => {
                let parsed = serde_json::from_slice::<KeyFile>(&bytes);
                bytes.zeroize();
                let file = parsed.map_err(|_| VaultError::Corrupt("keys.json is not valid"))?;
                Self::from_file(path, &file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let master = MasterKey::generate();
                let vault = Vault {
                    key_store: open_key_store(dir, &master)?,
                    path,
                    keyring: Keyring::generate(),
                    master,
                    ledger_seed: random32(),
                    token_secret: random32(),
                };
                vault.save()?;
                Ok(vault)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn from_file(path: PathBuf, file: &KeyFile) -> Result<Self, VaultError> {
        if file.version != FORMAT_VERSION {
            return Err(VaultError::Corrupt("unsupported keys.json version"));
        }
        let mut keys = BTreeMap::new();
        for (&id, hexkey) in &file.pseudonym_keys {
            keys.insert(id, PseudonymKey(decode32(hexkey)?));
        }
        let master = MasterKey::from_bytes(decode32(&file.master_key)?);
        let dir = path.parent().unwrap_or(Path::new("."));
        Ok(Vault {
            key_store: open_key_store(dir, &master)?,
            path,
            keyring: Keyring::from_parts(keys, file.current_pseudonym_key)?,
            master,
            ledger_seed: decode32(&file.ledger_signing_seed)?,
            token_secret: decode32(&file.token_secret)?,
        })
    }

    /// Writes the key file atomically and durably.
    pub fn save(&self) -> Result<(), VaultError> {
        let file = KeyFile {
            version: FORMAT_VERSION,
            current_pseudonym_key: self.keyring.current,
            pseudonym_keys: self
                .keyring
                .keys
                .iter()
                .map(|(&id, k)| (id, hex::encode(k.0)))
                .collect(),
            master_key: hex::encode(self.master.bytes()),
            ledger_signing_seed: hex::encode(self.ledger_seed),
            token_secret: hex::encode(self.token_secret),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("key file serializes");
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let result = write_private(&tmp, &bytes).and_then(|()| {
            fs::rename(&tmp, &self.path)?;
            fs::File::open(dir)?.sync_all()
        });
        bytes.zeroize();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(VaultError::from)
    }

    /// Where the key file (`keys.json`) lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pseudonym keys (current and not yet retired) that turn raw ids into pseudonyms.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The key that wraps every person's data key.
    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// Every person's data key and ledger salt; shared so callers can move
    /// its (fsyncing) writes off an async executor.
    pub fn key_store(&self) -> &Arc<KeyStore> {
        &self.key_store
    }

    /// The Ed25519 key that signs ledger tree heads.
    pub fn ledger_signing_key(&self) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&self.ledger_seed)
    }

    /// The secret that signs subject and API tokens.
    pub fn token_secret(&self) -> &[u8; 32] {
        &self.token_secret
    }

    /// Rotates the pseudonym key and saves; returns the new key id.
    pub fn rotate_pseudonym_key(&mut self) -> Result<u32, VaultError> {
        let id = self.keyring.rotate();
        self.save()?;
        Ok(id)
    }

    /// Retires an old pseudonym key and saves.
    pub fn retire_pseudonym_key(&mut self, key_id: u32) -> Result<(), VaultError> {
        self.keyring.retire(key_id)?;
        self.save()
    }
}

fn open_key_store(dir: &Path, master: &MasterKey) -> Result<Arc<KeyStore>, VaultError> {
    KeyStore::open(&dir.join(crate::keystore::FILE_NAME), master.clone()).map(Arc::new)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    // A pre-existing temp file keeps its old mode; force 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{subject_aad, DataKey};

    #[test]
    fn key_file_persists_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let (pseud, wrapped, ledger_pk, token) = {
            let mut v = Vault::open_or_create(dir.path()).unwrap();
            v.rotate_pseudonym_key().unwrap();
            let p = v.keyring().pseudonymize("dave");
            let aad = subject_aad(&p);
            let wrapped = v.master_key().wrap(&DataKey::generate(), &aad);
            (
                p,
                wrapped,
                v.ledger_signing_key().verifying_key(),
                *v.token_secret(),
            )
        };
        let v = Vault::open_or_create(dir.path()).unwrap();
        assert_eq!(v.keyring().current_key_id(), 2);
        assert_eq!(v.keyring().pseudonymize("dave"), pseud);
        assert_eq!(v.keyring().pseudonyms_for("dave").len(), 2);
        assert!(v
            .master_key()
            .unwrap(&wrapped, &subject_aad(&pseud))
            .is_ok());
        assert_eq!(v.ledger_signing_key().verifying_key(), ledger_pk);
        assert_eq!(*v.token_secret(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(v.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.path().join("keys.json.tmp").exists());
        let text = fs::read_to_string(v.path()).unwrap();
        assert!(!text.contains("dave"));
    }

    #[test]
    fn corrupt_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        assert!(matches!(
            Vault::open_or_create(dir.path()),
            Err(VaultError::Corrupt(_))
        ));
    }
}
