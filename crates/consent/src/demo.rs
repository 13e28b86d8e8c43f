use std::collections::BTreeSet;

use fineline_core::{Purpose, Timestamp};

use crate::policy::{Policy, PurposeDeclaration};

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A realistic policy for a fictional clothing retailer with a web shop, an
/// app and physical stores, declaring all five purposes. Used by
/// `serve --demo` and by tests.
pub fn demo_policy(version: u32, published_at: Timestamp) -> Policy {
    let text = "\
We are Northwind Outfitters. This notice explains, in plain words, what we do \
with information about you and what you can say no to.

Everything below is off until you switch it on. You can switch each use on or \
off at any time in your privacy center, and turning one off stops it from that \
moment. If we ever want to use your information in a new way, send it to \
someone new, or use a new kind of information, we will ask you again, and \
until you answer, that use stays off.

We never see your email address, phone number or customer number in our \
analytics systems: they only see a code made from it that cannot be turned \
back. You can see, download, correct or delete what we hold about you. \
Deleting it also removes you from our recommendation models.

Every time we read your data, every change you make here and every report we \
give a partner is written to a public, tamper-evident log, and you get a \
receipt you can check yourself.

Questions: privacy@northwind.example.";

    let decl =
        |purpose, description: &str, cats: &[&str], days, recips: &[&str]| PurposeDeclaration {
            purpose,
            description: description.to_string(),
            data_categories: set(cats),
            retention_days: days,
            recipients: set(recips),
        };

    Policy {
        version,
        published_at,
        title: "How Northwind Outfitters uses your information".to_string(),
        text: text.to_string(),
        purposes: vec![
            decl(
                Purpose::Personalization,
                "Suggest products you may like, based on what you viewed, saved and bought \
                 with us. Nobody else sees these suggestions or the profile behind them.",
                &["browsing_history", "purchase_history", "saved_items"],
                365,
                &[],
            ),
            decl(
                Purpose::Analytics,
                "Count how our shop, app and stores are used (for example which pages are \
                 slow or which sizes sell out), so we can fix and improve them. Results are \
                 only ever looked at in totals.",
                &["browsing_history", "purchase_history", "device_type"],
                180,
                &[],
            ),
            decl(
                Purpose::PartnerInsights,
                "Share statistics with the brands we sell, such as how many people bought a \
                 jacket in a region. Partners only get totals over groups of at least 100 \
                 people, with mathematical noise added (differential privacy), never anything \
                 about you alone. We never sell your data.",
                &["purchase_history", "store_visits"],
                90,
                &["brand partners"],
            ),
            decl(
                Purpose::Location,
                "Use your approximate location from the app to show nearby stores and their \
                 stock. We keep it at neighbourhood level, not your exact position.",
                &["approximate_location"],
                30,
                &[],
            ),
            decl(
                Purpose::InStoreDetection,
                "Notice when your phone is in one of our stores, from the Wi-Fi signals it \
                 sends, so we can measure visits and queue times. Without this, your phone \
                 is ignored by our sensors.",
                &["wifi_sightings", "store_visits"],
                30,
                &[],
            ),
        ],
    }
}
