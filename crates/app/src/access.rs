//! A person's right of access and correction (GDPR Art. 15, 16, 20): see
//! what is held, take it with them, correct their profile, delete an
//! event. Every read appends its ledger entry before any of the person's
//! data is read (invariant 3), on the primary; export and summary may then
//! read the rows from a caught-up hot standby (`crate::standby`). Erasure
//! is in `rights.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fineline_core::{ItemId, Pseudonym, Purpose, Timestamp};
use fineline_db::{Database, InterestRow, WriteOp};
use fineline_ledger::{Access, Actor, LedgerEntry, Receipt};
use fineline_vault::subject_aad;

use crate::consent_rows::StoredConsent;
use crate::state::SubjectKeys;
use crate::subject_keys::LedgerSalt;
use crate::{App, AppError};

/// One stored event with its properties opened with the person's key.
#[derive(Debug, Clone)]
pub struct OpenedEvent {
    /// The database's id of the event.
    pub id: i64,
    /// Its type (`view`, `purchase`...).
    pub kind: String,
    /// The item it is about, if any.
    pub item: Option<String>,
    /// The item's catalogue title, so a person reads what they looked at.
    pub item_title: Option<String>,
    /// The purpose it was collected under.
    pub purpose: String,
    /// When it happened.
    pub at: Timestamp,
    /// The properties exactly as sent; `Null` when unreadable.
    pub properties: serde_json::Value,
    /// Sealed under a key an earlier erasure destroyed: nobody can read it.
    pub unreadable: bool,
}

/// Everything held about a person, with a receipt for each consent record
/// and for this read itself.
#[derive(Debug)]
pub struct PersonData {
    /// When the read happened.
    pub generated_at: Timestamp,
    /// The person's pseudonym.
    pub subject: Pseudonym,
    /// The policy in force.
    pub policy_version: Option<u32>,
    /// Purpose name → `given` | `withdrawn` | `expired` | `none`, now.
    pub current: BTreeMap<String, String>,
    /// Every consent record with its ledger index.
    pub records: Vec<StoredConsent>,
    /// Every stored event, opened.
    pub events: Vec<OpenedEvent>,
    /// The derived profile, removed interests included.
    pub interests: Vec<InterestRow>,
    /// Receipts with the person's salt: one per record, then the read's.
    pub receipts: Vec<Receipt>,
}

/// What is held about a person at a glance.
#[derive(Debug)]
pub struct PersonSummary {
    /// The person's pseudonym.
    pub subject: Pseudonym,
    /// Stored events per purpose name.
    pub events_by_purpose: BTreeMap<String, u64>,
    /// All stored events.
    pub events_total: u64,
    /// The most recent events (up to 50), newest first.
    pub recent_events: Vec<OpenedEvent>,
    /// The derived profile.
    pub interests: Vec<InterestRow>,
    /// Purpose name → state now.
    pub consents: BTreeMap<String, String>,
}

/// A person's rows as one database holds them.
struct HeldRows {
    records: Vec<StoredConsent>,
    events: Vec<OpenedEvent>,
    interests: Vec<InterestRow>,
    /// One per record, in order.
    receipts: Vec<Receipt>,
}

/// How many recent events a summary shows.
const SUMMARY_RECENT: usize = 50;

pub(crate) fn view_of(actor: Actor) -> Access {
    match actor {
        Actor::Subject => Access::SubjectView,
        _ => Access::AdminRead,
    }
}

fn check_category(category: &str) -> Result<(), AppError> {
    if category.is_empty() || category.len() > 64 {
        return Err(AppError::field("category", "must be 1 to 64 characters"));
    }
    Ok(())
}

impl App {
    /// Everything held about a person (export), logged in the ledger first.
    /// With a hot standby, the rows are read there once it has replayed
    /// every write acknowledged before this call (`crate::standby`); the
    /// read's ledger entry is committed on the primary before any row is
    /// read, wherever they are read.
    pub async fn export(&self, subject: &Pseudonym, actor: Actor) -> Result<PersonData, AppError> {
        let keys = self.keys_or_not_found(subject).await?;
        let since = self.standby_since().await;
        let access_index = self.log_read(subject, &keys, Access::Export, actor).await?;
        let reader = self.standby_reader(since).await;
        let held = match self
            .held_rows(reader.database(), subject, &keys, true)
            .await
        {
            Err(e) if reader.on_standby() => {
                self.standby_failed(&e);
                self.held_rows(self.database(), subject, &keys, true)
                    .await?
            }
            held => held?,
        };
        let mut receipts = held.receipts;
        receipts.push(
            self.ledger
                .receipt(self.database(), access_index, Some(keys.ledger_salt()))
                .await?,
        );
        Ok(PersonData {
            generated_at: Timestamp::now(),
            subject: *subject,
            policy_version: self.current_policy().map(|p| p.version),
            current: self.current_consents(subject),
            records: held.records,
            events: held.events,
            interests: held.interests,
            receipts,
        })
    }

    /// What is held about a person at a glance (a ledger entry, like any
    /// read; from the standby like [`App::export`]).
    pub async fn summary(
        &self,
        subject: &Pseudonym,
        actor: Actor,
    ) -> Result<PersonSummary, AppError> {
        let keys = self.keys_or_not_found(subject).await?;
        let since = self.standby_since().await;
        self.log_read(subject, &keys, view_of(actor), actor).await?;
        let reader = self.standby_reader(since).await;
        let held = match self
            .held_rows(reader.database(), subject, &keys, false)
            .await
        {
            Err(e) if reader.on_standby() => {
                self.standby_failed(&e);
                self.held_rows(self.database(), subject, &keys, false)
                    .await?
            }
            held => held?,
        };
        let mut events = held.events;
        let mut by_purpose = BTreeMap::new();
        for e in &events {
            *by_purpose.entry(e.purpose.clone()).or_insert(0u64) += 1;
        }
        let total = events.len() as u64;
        events.reverse();
        events.truncate(SUMMARY_RECENT);
        Ok(PersonSummary {
            subject: *subject,
            events_by_purpose: by_purpose,
            events_total: total,
            recent_events: events,
            interests: held.interests,
            consents: self.current_consents(subject),
        })
    }

    /// The person's rows in `database` (the primary or a caught-up
    /// standby): events opened and interests, and with `records` their
    /// consent records with a receipt each.
    async fn held_rows(
        &self,
        database: &dyn Database,
        subject: &Pseudonym,
        keys: &SubjectKeys,
        records: bool,
    ) -> Result<HeldRows, AppError> {
        let mut held = HeldRows {
            records: Vec::new(),
            events: self.opened_events(database, subject, keys).await?,
            interests: database.interests_for(subject).await?,
            receipts: Vec::new(),
        };
        if records {
            held.records = crate::consent::stored_consents_in(database, subject).await?;
            for r in &held.records {
                let salt = Some(keys.ledger_salt());
                held.receipts
                    .push(self.ledger.receipt(database, r.ledger_index, salt).await?);
            }
        }
        Ok(held)
    }

    /// The person's interests, removed ones flagged (a logged read).
    pub async fn interests(
        &self,
        subject: &Pseudonym,
        actor: Actor,
    ) -> Result<Vec<InterestRow>, AppError> {
        let keys = self.keys_or_not_found(subject).await?;
        self.log_read(subject, &keys, view_of(actor), actor).await?;
        Ok(self.database().interests_for(subject).await?)
    }

    /// One interest (a logged read); not found if the profile lacks it.
    pub async fn interest(
        &self,
        subject: &Pseudonym,
        category: &str,
        actor: Actor,
    ) -> Result<InterestRow, AppError> {
        self.interests(subject, actor)
            .await?
            .into_iter()
            .find(|i| i.category == category)
            .ok_or_else(|| AppError::not_found(format!("no interest {category:?}")))
    }

    /// The person sets an interest's strength; every model forgets the
    /// inferred one.
    pub async fn edit_interest(
        &self,
        subject: &Pseudonym,
        category: String,
        weight: f64,
    ) -> Result<InterestRow, AppError> {
        self.keys_or_not_found(subject).await?;
        if !(0.0..=1.0).contains(&weight) {
            return Err(AppError::field("weight", "must be between 0 and 1"));
        }
        check_category(&category)?;
        let row = InterestRow {
            subject: *subject,
            category,
            weight,
            removed: false,
        };
        self.database()
            .apply(WriteOp::PutInterest(row.clone()).into())
            .await?;
        self.notify_interest_edited(&row.subject, &row.category);
        Ok(row)
    }

    /// The person takes an interest out: it is not used and will not be
    /// inferred again.
    pub async fn remove_interest(
        &self,
        subject: &Pseudonym,
        category: &str,
    ) -> Result<(), AppError> {
        self.keys_or_not_found(subject).await?;
        check_category(category)?;
        let op = WriteOp::RemoveInterest {
            subject: *subject,
            category: category.to_string(),
        };
        self.database().apply(op.into()).await?;
        self.notify_interest_removed(subject, category);
        Ok(())
    }

    /// Delete one of the person's events; another person's id is not found.
    pub async fn delete_event(&self, subject: &Pseudonym, id: i64) -> Result<(), AppError> {
        // Out of the analytic copy's answers before out of the record, so
        // a failure between the two never leaves the row counted there.
        self.analytics_event_deleted(subject, id).await?;
        if !self.database().delete_event(subject, id).await? {
            return Err(AppError::not_found(format!("no event {id} of this person")));
        }
        self.notify_event_deleted(subject, id);
        Ok(())
    }

    /// The person's keys, or not found: without keys nothing is held
    /// (never known, or erased).
    async fn keys_or_not_found(&self, subject: &Pseudonym) -> Result<Arc<SubjectKeys>, AppError> {
        self.subject_keys(subject)
            .await?
            .ok_or_else(|| AppError::not_found("nothing is held about this person"))
    }

    /// Append a DataAccess entry and return its leaf index: called before
    /// any of the person's data is read.
    pub(crate) async fn log_read(
        &self,
        subject: &Pseudonym,
        keys: &SubjectKeys,
        what: Access,
        actor: Actor,
    ) -> Result<u64, AppError> {
        let entry = LedgerEntry::DataAccess {
            commitment: keys.commitment(subject),
            what,
            actor,
            at: Timestamp::now(),
        };
        let appended = self
            .ledger
            .append(self.database(), &[entry], |_| Vec::new())
            .await?;
        Ok(appended.indices[0])
    }

    /// Purpose name → the person's consent state now, every purpose listed.
    pub fn current_consents(&self, subject: &Pseudonym) -> BTreeMap<String, String> {
        let current = self
            .consents
            .read()
            .unwrap()
            .state_at(subject, Timestamp::now());
        Purpose::ALL
            .iter()
            .map(|p| {
                let text = current.get(p).map_or("none", |s| s.as_str());
                (p.as_str().to_string(), text.to_string())
            })
            .collect()
    }

    async fn opened_events(
        &self,
        database: &dyn Database,
        subject: &Pseudonym,
        keys: &SubjectKeys,
    ) -> Result<Vec<OpenedEvent>, AppError> {
        let aad = subject_aad(subject);
        let rows = database.events_for(subject).await?;
        let titles = self.item_titles(database).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                // A row sealed under a key an earlier erasure destroyed (a
                // batch that raced the erasure) opens for nobody: show that
                // it exists rather than fail the whole export.
                let (properties, unreadable) = match keys.data_key.open(&r.sealed_properties, &aad)
                {
                    Ok(plain) => (
                        serde_json::from_slice(&plain).unwrap_or_else(|_| {
                            serde_json::Value::String(String::from_utf8_lossy(&plain).into())
                        }),
                        false,
                    ),
                    Err(_) => (serde_json::Value::Null, true),
                };
                OpenedEvent {
                    unreadable,
                    id: r.id,
                    kind: r.kind.as_str().to_string(),
                    item_title: r.item.as_ref().and_then(|i| titles.get(i).cloned()),
                    item: r.item.map(|i| i.as_str().to_string()),
                    purpose: r.purpose.as_str().to_string(),
                    at: r.at,
                    properties,
                }
            })
            .collect())
    }

    /// Catalogue titles: the served model's copy (read at its training), or
    /// the database's catalogue before the first training.
    async fn item_titles(
        &self,
        database: &dyn Database,
    ) -> Result<Arc<HashMap<ItemId, String>>, AppError> {
        if let Some(t) = self.recs.current() {
            return Ok(t.titles.clone());
        }
        let items = database.items().await?;
        Ok(Arc::new(
            items
                .into_iter()
                .filter(|i| !i.title.is_empty())
                .map(|i| (i.item, i.title))
                .collect(),
        ))
    }
}
