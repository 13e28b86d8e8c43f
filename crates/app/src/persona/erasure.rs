//! Erasure asked by the persona's device itself (docs/persona.md, "Erasure
//! by the device"): the request is signed under the per-business key the
//! device registered with its first level change to level 2 or above, so
//! the signature is the request's only credential and no one else (not
//! even someone who learned the pseudonym) can erase the person.
//!
//! The erasure is fineline's own ([`App::erase`]'s transaction, ledger
//! entry, key shredding and listeners, unchanged) and, in the same
//! transaction, removes what is kept under the pseudonym outside the
//! subject's rows: the level-2 topics, the last level the console counts
//! it at (and its place in the counts), the keyed digests of its
//! check-ins (the once-a-store-day rule) and the registered key. The
//! store-days' check-in counts stay: they are tallies that leave only in
//! the store-day's DP release (a published one is never drawn again), and
//! nothing in them names the person once the digest is gone.

use fineline_core::{Pseudonym, Timestamp};
use fineline_db::WriteOp;
use fineline_ledger::VerifyingKey;
use fineline_persona::{ErasureRequest, RequestRefusal, ERASURE_MAX_SKEW_MS};

use super::{INTERESTS_PREFIX, PSEUDONYM_DOMAIN};
use crate::rights::Erased;
use crate::{App, AppError};

const ERASURE_KEY_PREFIX: &str = "persona.erasure_key.";
/// Nonces of erasure requests taken while their `at` is still accepted.
const NONCES_SETTING: &str = "persona.erasure_nonces";

/// The setting a persona subject's registered erasure key is kept under:
/// named by the subject's pseudonym (the vault's, never the device's), so
/// every erasure of that subject removes it, the admin's too.
pub(crate) fn erasure_key_setting(subject: &Pseudonym) -> String {
    format!("{ERASURE_KEY_PREFIX}{}", subject.to_text())
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Nonces {
    /// `(request's at in ms, nonce hex)`.
    seen: Vec<(i64, String)>,
}

pub(super) fn refusal(e: RequestRefusal) -> AppError {
    match e {
        RequestRefusal::BadSignature | RequestRefusal::MalformedSignature => {
            AppError::SignatureRefused {
                field: e.field().into(),
                message: e.to_string(),
            }
        }
        _ => AppError::field(e.field(), e.to_string()),
    }
}

impl App {
    /// The erasure key registered for a persona's subject, if any.
    async fn persona_erasure_key(
        &self,
        subject: &Pseudonym,
    ) -> Result<Option<VerifyingKey>, AppError> {
        let text: Option<String> = self.setting_json(&erasure_key_setting(subject)).await?;
        text.map(|t| fineline_ledger::parse_public_key(&t).map_err(AppError::internal))
            .transpose()
    }

    /// The key a persona subject's signed requests must verify under;
    /// without one, 401 `signature_refused` naming `pseudonym`.
    pub(super) async fn persona_signing_key(
        &self,
        subject: &Pseudonym,
    ) -> Result<VerifyingKey, AppError> {
        self.persona_erasure_key(subject).await?.ok_or_else(|| {
            AppError::SignatureRefused {
                field: "pseudonym".into(),
                message: "no erasure key is registered for this pseudonym (the device sends it with its level change to level 2 or above)".into(),
            }
        })
    }

    /// Whether `key` still has to be registered for `subject`; a different
    /// key already registered is refused (409 naming `erasure_key`): the
    /// first key stays until an erasure removes it, so whoever learns a
    /// pseudonym later cannot put their own key in its place.
    pub(super) async fn check_erasure_key(
        &self,
        subject: &Pseudonym,
        key: &VerifyingKey,
    ) -> Result<bool, AppError> {
        match self.persona_erasure_key(subject).await? {
            Some(k) if k == *key => Ok(false),
            Some(_) => Err(AppError::Conflict {
                field: Some("erasure_key".into()),
                message: "another erasure key is registered for this pseudonym".into(),
            }),
            None => Ok(true),
        }
    }

    /// Keeps `key` as `subject`'s erasure key unless it is already kept.
    pub(super) async fn register_erasure_key(
        &self,
        subject: &Pseudonym,
        key: &VerifyingKey,
    ) -> Result<(), AppError> {
        let _write = self.persona_turn().await?;
        if !self.check_erasure_key(subject, key).await? {
            return Ok(());
        }
        let text = fineline_ledger::public_key_to_text(key);
        self.database()
            .apply(fineline_db::WriteSet {
                ops: vec![WriteOp::PutSetting {
                    name: erasure_key_setting(subject),
                    value: serde_json::to_vec(&text).map_err(AppError::internal)?,
                }],
            })
            .await
            .map_err(AppError::internal)?;
        Ok(())
    }

    /// Erases a persona's subject at the device's signed request (see the
    /// module doc), checked in this order: a key is registered for the
    /// pseudonym, the signature verifies under it (401 `signature_refused`
    /// naming `pseudonym` or `signature`), then `at` is within
    /// [`ERASURE_MAX_SKEW_MS`] of `now` (400 `at`), the business is this
    /// one (400 `business`) and the nonce was not taken before (409
    /// `nonce`). A refused request erases nothing.
    pub async fn persona_erase(
        &self,
        request: ErasureRequest,
        now: Timestamp,
    ) -> Result<Erased, AppError> {
        let subject = self.persona_subject(&request.pseudonym);
        let key = self.persona_signing_key(&subject).await?;
        let nonce = request.verify(&key, now).map_err(refusal)?;
        let (offer, _) = self.persona_offer().await?;
        if request.business != offer.business {
            return Err(AppError::field(
                "business",
                format!("this server is business {:?}", offer.business),
            ));
        }
        // Lock order: erasure's exclusive turn, then the persona writers',
        // then the check-ins' (each taken alone elsewhere, never the other way).
        self.catch_up().await?;
        let _turn = self.order.exclusive().await;
        let _persona = self.persona_turn().await?;
        let mut nonces: Nonces = self.setting_json(NONCES_SETTING).await?.unwrap_or_default();
        // A request older than the skew is refused above: its nonce can go.
        nonces
            .seen
            .retain(|(at, _)| at.saturating_add(ERASURE_MAX_SKEW_MS) >= now.millis());
        let nonce = hex::encode(nonce);
        if nonces.seen.iter().any(|(_, n)| *n == nonce) {
            return Err(AppError::Conflict {
                field: Some("nonce".into()),
                message: "this erasure request was already taken".into(),
            });
        }
        nonces.seen.push((request.at.millis(), nonce));
        let who = self
            .vault
            .keyring()
            .pseudonymize_as(PSEUDONYM_DOMAIN, &request.pseudonym.to_hex());
        let mut ops = vec![
            WriteOp::DeleteSetting {
                name: format!("{INTERESTS_PREFIX}{}", who.to_text()),
            },
            WriteOp::PutSetting {
                name: NONCES_SETTING.into(),
                value: serde_json::to_vec(&nonces).map_err(AppError::internal)?,
            },
        ];
        ops.extend(self.forget_level(&request.pseudonym).await?);
        let _checkin = self.footfall.checkin_guard().await;
        let _checkin_shared = self.database().deployment_lock("checkin").await?;
        ops.extend(self.forget_checkins(&request.pseudonym).await?);
        let erased = self.erase_in_turn(&subject, ops).await?;
        tracing::info!("persona erased at its device's request");
        Ok(erased)
    }
}
