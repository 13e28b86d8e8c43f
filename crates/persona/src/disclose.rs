//! The disclosure function: exactly what leaves the device for one
//! business at its level, as a pure function of the persona's state, the
//! business's terms, the public model, the time and the random bytes.

use std::collections::BTreeMap;

use fineline_core::{ItemId, Timestamp};
use fineline_recs::PublicModel;

use crate::coins::Coins;
use crate::ids::BusinessPseudonym;
use crate::interests::{category_counts, noisy_topics};
use crate::ldp::RandomizedResponse;
use crate::level::TrustLevel;

/// The device's view of what a business asks: its id, its category
/// taxonomy (level 1's question and level 2's topics) and the ε each
/// level-1 report carries. (The signed offer the server will publish
/// carries these; see docs/persona.md.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Terms {
    /// The business's id (its domain, or the id in its offer).
    pub business: String,
    /// Categories in the business's order; at least one.
    pub taxonomy: Vec<String>,
    /// ε per level-1 report, in micro-nats.
    pub report_epsilon_micro: u64,
}

/// The answer slot a level-1 report uses when the history holds none of
/// the taxonomy's categories.
pub const NO_CATEGORY: &str = "(none)";

impl Terms {
    /// Level 1's question: "which category do you hold most?", over the
    /// taxonomy plus [`NO_CATEGORY`].
    pub fn question(&self) -> Vec<String> {
        let mut q = self.taxonomy.clone();
        q.push(NO_CATEGORY.to_string());
        q
    }
}

/// What one disclosure carries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// Level 0: nothing leaves.
    Nothing,
    /// Level 1: one randomized-response answer, without any identifier.
    Crowd {
        /// The reported category (possibly not the true one).
        category: String,
        /// ε this report spent, in micro-nats.
        epsilon_micro: u64,
    },
    /// Level 2: approved topics, each possibly noise, under the pseudonym.
    Interests {
        /// The persona's identifier at this business.
        pseudonym: BusinessPseudonym,
        /// Topics, in taxonomy order.
        topics: Vec<String>,
    },
    /// Level 3: the local history (distinct items, oldest first) under the pseudonym.
    History {
        /// The persona's identifier at this business.
        pseudonym: BusinessPseudonym,
        /// Items the person viewed or bought.
        items: Vec<ItemId>,
    },
    /// Level 4: level 3 plus the identity attributes the person gave.
    Identified {
        /// The persona's identifier at this business.
        pseudonym: BusinessPseudonym,
        /// Items the person viewed or bought.
        items: Vec<ItemId>,
        /// Attributes the person chose to give (loyalty account, sizes).
        identity: BTreeMap<String, String>,
    },
}

/// One disclosure to one business.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Disclosure {
    /// The business it goes to.
    pub business: String,
    /// The level it was made at.
    pub level: TrustLevel,
    /// When.
    pub at: Timestamp,
    /// What it carries.
    pub payload: Payload,
}

/// The persona state the disclosure function reads.
pub(crate) struct View<'a> {
    pub level: TrustLevel,
    pub pseudonym: BusinessPseudonym,
    pub history: &'a [ItemId],
    pub approved: &'a [String],
    pub identity: &'a BTreeMap<String, String>,
}

/// The true level-1 answer: the taxonomy category the history holds most
/// (ties to the earlier category), else [`NO_CATEGORY`]'s slot.
pub fn true_category(history: &[ItemId], model: &PublicModel, terms: &Terms) -> u32 {
    let counts = category_counts(history, model, &terms.taxonomy);
    let mut best = terms.taxonomy.len();
    for (t, &c) in counts.iter().enumerate() {
        if c > 0 && (best == terms.taxonomy.len() || c > counts[best]) {
            best = t;
        }
    }
    best as u32
}

/// Builds the payload. The caller charges the level-1 budget only once
/// this succeeded.
pub(crate) fn payload(
    view: &View<'_>,
    terms: &Terms,
    model: &PublicModel,
    coins: &mut Coins<'_>,
) -> Result<Payload, crate::PersonaError> {
    let distinct = || {
        let mut seen = std::collections::BTreeSet::new();
        view.history
            .iter()
            .filter(|i| seen.insert(*i))
            .cloned()
            .collect::<Vec<_>>()
    };
    Ok(match view.level {
        TrustLevel::Stranger => Payload::Nothing,
        TrustLevel::Crowd => {
            let question = terms.question();
            let mech = RandomizedResponse::new(question.len() as u32, terms.report_epsilon_micro)?;
            let truth = true_category(view.history, model, terms);
            let report = mech.respond(truth, coins)?;
            Payload::Crowd {
                category: question[report as usize].clone(),
                epsilon_micro: terms.report_epsilon_micro,
            }
        }
        TrustLevel::Regular => Payload::Interests {
            pseudonym: view.pseudonym,
            topics: noisy_topics(view.approved, &terms.taxonomy, coins)?,
        },
        TrustLevel::Member => Payload::History {
            pseudonym: view.pseudonym,
            items: distinct(),
        },
        TrustLevel::Known => Payload::Identified {
            pseudonym: view.pseudonym,
            items: distinct(),
            identity: view.identity.clone(),
        },
    })
}
