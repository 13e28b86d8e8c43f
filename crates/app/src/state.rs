//! What every handler shares: the database, the keys, the in-memory consent
//! index and the ledger writer. Built once at start from the database.

use std::collections::HashMap;
use std::sync::Arc;

use crate::consent_rows::StoredConsent;
use crate::sync::{Mutex, RwLock};
use fineline_consent::{ConsentIndex, Policy, PolicyHistory};
use fineline_core::{Pseudonym, Role};
use fineline_db::Database;
use fineline_insights::query::MIN_FLOOR;
use fineline_ledger::LogSigner;
pub use fineline_vault::SubjectKeys;
use fineline_vault::Vault;

use crate::error::AppError;
use crate::ledger_writer::LedgerWriter;
use crate::metrics::Metrics;
use crate::tokens::TokenIssuer;

/// fineline's use cases over one database and vault. Cheap to clone: the
/// clones share one state, so the server and background tasks hold one
/// each.
#[derive(Clone)]
pub struct App(Arc<Inner>);

/// What an [`App`] holds; reached through `Deref`, mostly crate-private.
pub struct Inner {
    pub(crate) database: Arc<dyn Database>,
    pub(crate) vault: Vault,
    pub(crate) tokens: TokenIssuer,
    pub(crate) consents: RwLock<ConsentIndex>,
    pub(crate) ledger: LedgerWriter,
    pub(crate) metrics: Metrics,
    /// The served recommender; see `crate::recs_service`.
    pub(crate) recs: Arc<crate::recs_service::RecsService>,
    pub(crate) footfall: crate::footfall::FootfallModule,
    /// The public model, offer and disclosures; see `crate::persona`.
    pub(crate) persona: crate::persona::PersonaModule,
    api_keys: crate::api_keys::KeyCache,
    /// Unwrapped keys of people seen lately: ingestion seals with them
    /// without touching the key store.
    subject_keys: Mutex<HashMap<Pseudonym, Arc<SubjectKeys>>>,
    /// The writers' locks and their one order; see `crate::order`.
    pub(crate) order: crate::order::WriteOrder,
    /// Event batches waiting for the ingest lock; see `crate::ingest_writer`.
    ingest_queue: Mutex<Vec<crate::ingest_writer::Queued>>,
    /// Told after each erasure commits; see `crate::erasure`.
    pub(crate) erasure_listeners: RwLock<Vec<Arc<dyn crate::erasure::ErasureListener>>>,
    /// Where this process stands among the deployment's replicas; see
    /// `crate::replication`.
    pub(crate) replica: crate::replication::Replica,
    /// Smallest group (distinct people) any insights release shows; the
    /// admin's setting, never below `MIN_FLOOR`. See [`App::set_insights_floor`].
    insights_floor: std::sync::atomic::AtomicU64,
    /// The hot standby serving reads that may go there; see `crate::standby`.
    pub(crate) standby: std::sync::OnceLock<crate::standby::Standby>,
    /// The columnar analytic dataset, when configured; see `crate::analytics`.
    pub(crate) analytics: std::sync::OnceLock<Arc<crate::analytics::Analytics>>,
}

impl std::ops::Deref for App {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl App {
    /// Builds the state from the database: moves any legacy key rows into the
    /// vault's key store, rebuilds the consent index, the ledger's tree, the
    /// footfall engine. Errs when a stored row cannot be read back.
    pub async fn load(database: Arc<dyn Database>, vault: Vault) -> Result<Self, AppError> {
        crate::subject_keys::move_keys_out_of_database(database.as_ref(), &vault).await?;
        // Read before the consents: any change after this point has a note
        // at or past it, which the first catch-up applies.
        let loaded_at = database.ledger_size().await?;
        let mut policies = Vec::new();
        for row in database.policies().await.map_err(AppError::internal)? {
            let p: Policy = serde_json::from_slice(&row.body).map_err(AppError::internal)?;
            policies.push(p);
        }
        let history = PolicyHistory::from_policies(policies).map_err(AppError::internal)?;
        let mut index = ConsentIndex::new(history);
        for row in database.all_consents().await.map_err(AppError::internal)? {
            let stored: StoredConsent =
                serde_json::from_slice(&row.body).map_err(AppError::internal)?;
            index.record(&stored.record);
        }
        let signer = LogSigner::new(vault.ledger_signing_key());
        let ledger = LedgerWriter::open(database.as_ref(), signer).await?;
        // The consent index above was read before the ledger: a change
        // committed in between is applied again at the first catch-up.
        let replica = crate::replication::Replica::new(loaded_at);
        let tokens = TokenIssuer::new(*vault.token_secret());
        let footfall =
            crate::footfall::FootfallModule::load(database.as_ref(), vault.token_secret()).await?;
        let recs: Arc<crate::recs_service::RecsService> = Arc::default();
        Ok(Self(Arc::new(Inner {
            database,
            vault,
            tokens,
            consents: RwLock::new(index),
            ledger,
            metrics: Metrics::default(),
            recs: recs.clone(),
            footfall,
            persona: Default::default(),
            api_keys: Default::default(),
            subject_keys: Mutex::new(HashMap::new()),
            order: Default::default(),
            ingest_queue: Mutex::new(Vec::new()),
            erasure_listeners: RwLock::new(vec![recs as Arc<dyn crate::erasure::ErasureListener>]),
            replica,
            insights_floor: std::sync::atomic::AtomicU64::new(MIN_FLOOR),
            standby: std::sync::OnceLock::new(),
            analytics: std::sync::OnceLock::new(),
        })))
    }

    /// The deployment's insights floor: no release shows a group of fewer
    /// (noisy) distinct people, and no query may ask for less.
    pub fn insights_floor(&self) -> u64 {
        self.insights_floor
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the insights floor (`serve --insights-floor`). Refuses one below
    /// [`MIN_FLOOR`], the smallest group README and the policy promise.
    pub fn set_insights_floor(&self, floor: u64) -> Result<(), String> {
        if floor < MIN_FLOOR {
            return Err(format!(
                "the insights floor must be at least {MIN_FLOOR} people (what the privacy \
                 policy promises partners never see less than), got {floor}"
            ));
        }
        self.insights_floor
            .store(floor, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Issues and checks subject tokens.
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// The database every use case reads and writes.
    pub fn database(&self) -> &dyn Database {
        self.database.as_ref()
    }

    /// Whether the database answers a read (the health check).
    pub async fn check_database(&self) -> Result<(), AppError> {
        self.database.setting("health/probe").await?;
        Ok(())
    }

    /// The JSON value kept in setting `name`, if any (the persona's and
    /// the check-ins' small records).
    pub(crate) async fn setting_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, AppError> {
        match self.database.setting(name).await? {
            Some(b) => Ok(Some(
                serde_json::from_slice(&b).map_err(AppError::internal)?,
            )),
            None => Ok(None),
        }
    }

    /// The catalogue's categories, sorted, once each: public keys for
    /// insights groups and the persona offer's taxonomy.
    pub async fn catalogue_categories(&self) -> Result<Vec<String>, AppError> {
        let mut cats: Vec<String> = self
            .database
            .items()
            .await?
            .into_iter()
            .map(|i| i.category)
            .collect();
        cats.sort();
        cats.dedup();
        Ok(cats)
    }

    /// What a graceful stop owes: personalized reads already answered get
    /// their ledger entries, visits still open become sessions rather than
    /// vanish, and the key store's WAL is folded into its file, so a copy
    /// of `datakeys.db` alone holds no key an erasure shredded (a shred
    /// starts that in the background and may not have finished). Call
    /// after the background tasks are stopped.
    pub async fn shut_down(&self) {
        if let Err(e) = self.flush_reads().await {
            tracing::error!(error = %e, "recommendation reads not logged at shutdown");
        }
        if let Err(e) = self.flush_sessions().await {
            tracing::error!(error = %e, "footfall flush at shutdown failed");
        }
        if let Err(e) = self.close_analytics().await {
            tracing::error!(error = %e, "analytic rows not written at shutdown");
        }
        self.resign_leadership().await;
        let keys = self.vault.key_store().clone();
        let truncated = tokio::task::spawn_blocking(move || keys.truncate_wal()).await;
        if !matches!(truncated, Ok(Ok(()))) {
            tracing::error!("key store WAL not truncated at shutdown");
        }
    }

    /// The request and rejection counters.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Whether `raw_id` is the person `subject` under any retained key: a
    /// token issued before a key rotation still names the same person.
    pub fn is_person(&self, raw_id: &str, subject: &Pseudonym) -> bool {
        self.vault
            .keyring()
            .pseudonyms_for(raw_id)
            .contains(subject)
    }

    /// The pseudonym of a raw id (an e-mail address, a customer number) under
    /// the current key; the raw id itself is never kept.
    pub fn pseudonymize(&self, raw_id: &str) -> Pseudonym {
        self.vault.keyring().pseudonymize(raw_id)
    }

    /// The latest published policy; `None` before the first.
    pub fn current_policy(&self) -> Option<Policy> {
        self.consents.read().unwrap().policies().current().cloned()
    }

    /// One published policy version; `None` if it was never published.
    pub fn policy_version(&self, version: u32) -> Option<Policy> {
        self.consents
            .read()
            .unwrap()
            .policies()
            .version(version)
            .cloned()
    }

    /// The role of an API key valid now; `None` if unknown or revoked.
    pub async fn role_for_key(&self, key: &str) -> Result<Option<Role>, AppError> {
        Ok(self.api_key(key).await?.map(|k| k.role))
    }

    /// The key if it is valid now (known and not revoked).
    pub async fn api_key(
        &self,
        key: &str,
    ) -> Result<Option<Arc<crate::api_keys::KeyInfo>>, AppError> {
        self.api_keys
            .lookup(self.database(), key)
            .await
            .map_err(AppError::internal)
    }

    /// The person's keys if they exist (they do from their first consent
    /// record until erasure).
    pub async fn subject_keys(
        &self,
        subject: &Pseudonym,
    ) -> Result<Option<Arc<SubjectKeys>>, AppError> {
        if let Some(k) = self.subject_keys.lock().unwrap().get(subject) {
            return Ok(Some(k.clone()));
        }
        let Some(found) = crate::subject_keys::get(self.vault.key_store(), *subject).await? else {
            return Ok(None);
        };
        let keys = Arc::new(found);
        self.subject_keys
            .lock()
            .unwrap()
            .insert(*subject, keys.clone());
        Ok(Some(keys))
    }

    /// Keys for `subject`, creating them if new, and whether they were.
    /// New keys are durable in the key store before this returns, ahead of
    /// whatever makes the person known (their first consent record); if
    /// that write fails, [`App::discard_new_subject_keys`].
    pub async fn subject_keys_or_new(
        &self,
        subject: &Pseudonym,
    ) -> Result<(Arc<SubjectKeys>, bool), AppError> {
        if let Some(k) = self.subject_keys(subject).await? {
            return Ok((k, false));
        }
        let created = crate::subject_keys::create(self.vault.key_store(), *subject).await?;
        Ok((Arc::new(created), true))
    }

    /// [`App::subject_keys_or_new`] for many people: the new ones'
    /// keys are created in one key-store transaction. Returns each
    /// person's keys (in `subjects` order) and which of them are new.
    pub async fn subject_keys_or_new_many(
        &self,
        subjects: &[Pseudonym],
    ) -> Result<(Vec<Arc<SubjectKeys>>, Vec<Pseudonym>), AppError> {
        let mut found = Vec::with_capacity(subjects.len());
        let mut missing = Vec::new();
        for s in subjects {
            let k = self.subject_keys(s).await?;
            if k.is_none() && !missing.contains(s) {
                missing.push(*s);
            }
            found.push(k);
        }
        let created = if missing.is_empty() {
            Vec::new()
        } else {
            crate::subject_keys::create_many(self.vault.key_store(), missing.clone()).await?
        };
        let created: HashMap<Pseudonym, Arc<SubjectKeys>> = missing
            .iter()
            .copied()
            .zip(created.into_iter().map(Arc::new))
            .collect();
        let keys = subjects
            .iter()
            .zip(found)
            .map(|(s, k)| k.unwrap_or_else(|| created[s].clone()))
            .collect();
        Ok((keys, missing))
    }

    /// Undo [`App::subject_keys_or_new`] for a person whose first
    /// write failed, so they stay unknown. Best effort: a key left behind
    /// seals nothing.
    pub async fn discard_new_subject_keys(&self, subject: &Pseudonym) {
        if crate::subject_keys::shred(self.vault.key_store(), *subject)
            .await
            .is_err()
        {
            tracing::warn!("an unused new key could not be discarded");
        }
    }

    /// Shred the person's keys in the key store (erasure, after their rows
    /// are deleted): every copy of their sealed rows, backups included, is
    /// unreadable from here. One durable delete and a WAL truncation;
    /// returns whether there was a key.
    pub async fn shred_subject_keys(&self, subject: &Pseudonym) -> Result<bool, AppError> {
        crate::subject_keys::shred(self.vault.key_store(), *subject).await
    }

    /// Remember keys after the op that stored them committed.
    pub fn cache_subject_keys(&self, subject: Pseudonym, keys: Arc<SubjectKeys>) {
        self.subject_keys.lock().unwrap().insert(subject, keys);
    }

    /// Forget a person's keys (erasure): from here their sealed rows,
    /// wherever copies live, cannot be opened.
    pub fn forget_subject_keys(&self, subject: &Pseudonym) {
        self.subject_keys.lock().unwrap().remove(subject);
    }

    /// Drop every cached key (the next use reads the key store again).
    pub(crate) fn forget_all_subject_keys(&self) {
        self.subject_keys.lock().unwrap().clear();
    }

    /// Batches waiting to be written; see `crate::ingest_writer`.
    pub fn ingest_queue(&self) -> std::sync::MutexGuard<'_, Vec<crate::ingest_writer::Queued>> {
        self.ingest_queue.lock().unwrap()
    }

    /// Record a read of `subject`'s data in the ledger before the data
    /// leaves (invariant 3). A person with no keys has no data to read.
    pub async fn log_access(
        &self,
        subject: &Pseudonym,
        what: fineline_ledger::Access,
        actor: fineline_ledger::Actor,
    ) -> Result<(), AppError> {
        if let Some(keys) = self.subject_keys(subject).await? {
            self.log_read(subject, &keys, what, actor).await?;
        }
        Ok(())
    }
}

/// The parts of an [`App`], for white-box tests and benchmarks that check
/// what no use case shows (a key was shredded, a model forgot someone, a
/// lock is poisoned). The HTTP crate never uses it: its layering test
/// refuses `internals()` outside tests.
pub struct Internals<'a> {
    /// The pseudonym keys and the per-person key store.
    pub vault: &'a Vault,
    /// The in-memory consent index.
    pub consents: &'a RwLock<ConsentIndex>,
    /// The served recommender.
    pub recs: &'a crate::recs_service::RecsService,
    /// The foot-traffic engine.
    pub footfall: &'a crate::footfall::FootfallModule,
}

impl App {
    /// See [`Internals`].
    pub fn internals(&self) -> Internals<'_> {
        Internals {
            vault: &self.vault,
            consents: &self.consents,
            recs: &self.recs,
            footfall: &self.footfall,
        }
    }
}
