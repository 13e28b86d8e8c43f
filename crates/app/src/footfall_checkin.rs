//! In-store check-in (issue 18, docs/persona.md "In-store check-in"): a
//! kiosk shows the store's rotating token, a phone presents it at the
//! level its person set for the business, and the store-day's count goes
//! up. The count leaves only inside the store-day's DP release
//! (`footfall_release.rs`), beside the Wi-Fi figures.
//!
//! - Levels 0 and 1 carry no identifier: only the count by level is
//!   kept, and the check-in's nonce until its token expires, so the same
//!   request sent again counts once.
//! - Levels 2 to 4 carry the per-business pseudonym and are taken only
//!   while its persona subject grants analytics (the level change to 2
//!   recorded it); one check-in per pseudonym per store-day counts, and
//!   each is a `persona_disclosure` ledger entry with a receipt, as a
//!   level-2 disclosure is. What is kept of the pseudonym is a keyed
//!   digest under a domain of that store and day, so two days' check-ins
//!   cannot be joined from the database.

use fineline_core::Timestamp;
use fineline_db::{WriteOp, WriteSet};
use fineline_ledger::{Hash, LedgerEntry};
use fineline_persona::{checkin_window, store_token, verify_token, CheckIn, TokenError};
use jiff::civil::Date;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::persona::DisclosureReceipt;
use crate::{App, AppError};

const DAY_PREFIX: &str = "footfall/checkins/";
const NONCES_PREFIX: &str = "footfall/checkin-nonces/";

/// One store-day's check-ins as kept: counts by level, and the keyed
/// digests of the pseudonyms that checked in (levels 2 to 4).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CheckinDay {
    /// Check-ins at each trust level, 0 to 4.
    pub by_level: [u64; 5],
    seen: Vec<String>,
}

impl CheckinDay {
    /// Check-ins that carried no identifier (levels 0 and 1).
    pub fn anonymous(&self) -> u64 {
        self.by_level[0] + self.by_level[1]
    }

    /// Check-ins under a pseudonym (levels 2 to 4).
    pub fn pseudonymous(&self) -> u64 {
        self.by_level[2..].iter().sum()
    }
}

/// Nonces of check-ins whose token is still accepted, per store.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Nonces {
    /// `(token window, nonce)`.
    seen: Vec<(u64, String)>,
}

/// The token a store's kiosk shows now.
#[derive(Debug, Clone)]
pub struct KioskToken {
    /// The store's id.
    pub store: String,
    /// `window-tag`.
    pub token: String,
    /// When the kiosk shows the next one (ms since the epoch).
    pub rotates_at: Timestamp,
    /// When this one stops being accepted.
    pub expires_at: Timestamp,
}

/// What a check-in did.
pub struct CheckedIn {
    /// The store's local day it counts on.
    pub day: Date,
    /// At levels 2 to 4: the ledger receipt and the nonce its digest is
    /// salted with (`SHA-256(nonce ‖ the check-in's JSON)`).
    pub receipt: Option<DisclosureReceipt>,
}

fn token_error(e: TokenError) -> AppError {
    AppError::field("token", e.to_string())
}

impl App {
    /// The token store `store_id`'s kiosk shows at `now`.
    pub fn checkin_token(&self, store_id: &str, now: Timestamp) -> Result<KioskToken, AppError> {
        if self.footfall.store(store_id).is_none() {
            return Err(AppError::not_found("no such store"));
        }
        let token = store_token(self.footfall.checkin_key(), store_id, checkin_window(now));
        Ok(KioskToken {
            store: store_id.to_string(),
            token: token.to_text(),
            rotates_at: Timestamp((token.window as i64 + 1) * fineline_persona::CHECKIN_WINDOW_MS),
            expires_at: token.expires(),
        })
    }

    /// Counts a phone's check-in at one of the business's stores (see the
    /// module doc); refuses a stale or forged token, a replayed nonce, and
    /// a second check-in of one pseudonym on one store-day.
    pub async fn check_in(&self, c: CheckIn, now: Timestamp) -> Result<CheckedIn, AppError> {
        let shop = self
            .footfall
            .store(&c.store)
            .ok_or_else(|| AppError::field("store", "no store with this id"))?;
        let (offer, _) = self.persona_offer().await?;
        if c.business != offer.business {
            return Err(AppError::field(
                "business",
                format!("this server is business {:?}", offer.business),
            ));
        }
        let token = verify_token(self.footfall.checkin_key(), &c.store, &c.token, now)
            .map_err(token_error)?;
        if c.nonce.len() != 2 * fineline_persona::CHECKIN_NONCE_BYTES
            || !c
                .nonce
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(AppError::field("nonce", "32 lower-case hex digits"));
        }
        let level = c.level.number();
        match (&c.pseudonym, level >= 2) {
            (Some(_), false) => {
                return Err(AppError::field(
                    "pseudonym",
                    "levels 0 and 1 carry no identifier: leave the pseudonym out",
                ))
            }
            (None, true) => {
                return Err(AppError::field(
                    "pseudonym",
                    "a check-in at level 2 or above is made under the persona's pseudonym",
                ))
            }
            (Some(p), true) => {
                let subject = self.persona_subject(p);
                let allowed = self.consents.read().unwrap().allowed(
                    &subject,
                    fineline_core::Purpose::Analytics,
                    now,
                );
                if !allowed {
                    return Err(AppError::field(
                        "pseudonym",
                        "no level-2 consent is recorded for this pseudonym: send the level change first (POST /v1/persona/level)",
                    ));
                }
            }
            (None, false) => {}
        }
        let day = shop.local_day(now);
        let day_name = format!("{DAY_PREFIX}{}/{day}", c.store);
        let nonces_name = format!("{NONCES_PREFIX}{}", c.store);

        let _one_at_a_time = self.footfall.checkin_guard().await;
        // Replicas on one database count into the same rows: they take turns.
        let _deployment = self.database().deployment_lock("checkin").await?;
        let mut record: CheckinDay = self.setting_json(&day_name).await?.unwrap_or_default();
        let mut nonces: Nonces = self.setting_json(&nonces_name).await?.unwrap_or_default();
        // Tokens older than the previous window are refused above, so
        // their nonces need not be kept.
        let current = checkin_window(now);
        nonces.seen.retain(|(w, _)| w + 1 >= current);
        if nonces.seen.iter().any(|(_, n)| *n == c.nonce) {
            return Err(AppError::Conflict {
                field: Some("nonce".into()),
                message: "this check-in was already counted".into(),
            });
        }
        if let Some(p) = &c.pseudonym {
            let digest = self
                .vault
                .keyring()
                .pseudonymize_as(&format!("checkin/{}/{day}", c.store), &p.to_hex())
                .to_text();
            if record.seen.contains(&digest) {
                return Err(AppError::Conflict {
                    field: Some("pseudonym".into()),
                    message: "this pseudonym already checked in at this store today".into(),
                });
            }
            record.seen.push(digest);
        }
        record.by_level[level as usize] += 1;
        nonces.seen.push((token.window, c.nonce.clone()));
        let ops = vec![
            WriteOp::PutSetting {
                name: day_name,
                value: serde_json::to_vec(&record).map_err(AppError::internal)?,
            },
            WriteOp::PutSetting {
                name: nonces_name,
                value: serde_json::to_vec(&nonces).map_err(AppError::internal)?,
            },
        ];
        if c.pseudonym.is_none() {
            self.database()
                .apply(WriteSet { ops })
                .await
                .map_err(AppError::internal)?;
            return Ok(CheckedIn { day, receipt: None });
        }
        let mut nonce = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut h = Sha256::new();
        h.update(nonce);
        h.update(serde_json::to_vec(&c).map_err(AppError::internal)?);
        let entry = LedgerEntry::PersonaDisclosure {
            level,
            digest: Hash(h.finalize().into()),
            at: now,
        };
        let appended = self
            .ledger
            .append(self.database(), &[entry], |_| ops)
            .await?;
        drop(_one_at_a_time);
        let receipt = self
            .ledger
            .receipt(self.database(), appended.indices[0], None)
            .await?;
        Ok(CheckedIn {
            day,
            receipt: Some(DisclosureReceipt { receipt, nonce }),
        })
    }

    /// The ops that take `pseudonym`'s keyed digests out of every
    /// store-day's check-ins (an erasure): the day's counts stay, a tally
    /// that names no one once the digest is gone. The caller holds the
    /// check-in guard and the deployment's `checkin` lock and lands the
    /// ops in the erasure. Each day's digest is under its own domain, so
    /// every stored day is looked at.
    pub(crate) async fn forget_checkins(
        &self,
        pseudonym: &fineline_persona::BusinessPseudonym,
    ) -> Result<Vec<WriteOp>, AppError> {
        let mut ops = Vec::new();
        let days = self
            .database()
            .settings_under(DAY_PREFIX)
            .await
            .map_err(AppError::internal)?;
        for (name, bytes) in days {
            let Some((store, day)) = name[DAY_PREFIX.len()..].rsplit_once('/') else {
                continue;
            };
            let mut record: CheckinDay =
                serde_json::from_slice(&bytes).map_err(AppError::internal)?;
            let digest = self
                .vault
                .keyring()
                .pseudonymize_as(&format!("checkin/{store}/{day}"), &pseudonym.to_hex())
                .to_text();
            let before = record.seen.len();
            record.seen.retain(|d| *d != digest);
            if record.seen.len() != before {
                ops.push(WriteOp::PutSetting {
                    name,
                    value: serde_json::to_vec(&record).map_err(AppError::internal)?,
                });
            }
        }
        Ok(ops)
    }

    /// Whether `pseudonym` checked in at `store` on `day` (tests: the
    /// once-a-store-day rule's digest is there, or gone after erasure).
    pub async fn checked_in(
        &self,
        store_id: &str,
        day: Date,
        pseudonym: &fineline_persona::BusinessPseudonym,
    ) -> Result<bool, AppError> {
        let digest = self
            .vault
            .keyring()
            .pseudonymize_as(&format!("checkin/{store_id}/{day}"), &pseudonym.to_hex())
            .to_text();
        Ok(self
            .checkin_day(store_id, day)
            .await?
            .seen
            .contains(&digest))
    }

    /// One store-day's check-ins as counted: exact, so for the release
    /// and tests only; no route serves it.
    pub async fn checkin_day(&self, store_id: &str, day: Date) -> Result<CheckinDay, AppError> {
        Ok(self
            .setting_json(&format!("{DAY_PREFIX}{store_id}/{day}"))
            .await?
            .unwrap_or_default())
    }
}
