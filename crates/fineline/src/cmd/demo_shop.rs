//! The demo shop's world: an outfitter's catalogue with titles, categories
//! and prices, customers with per-purpose consent, and 90 days of their
//! sessions (views, saves, purchases, app opens, coarse locations).
//!
//! Everything is drawn from one seeded generator, so the same seed gives
//! the same shop. The structure is what makes the recommender's answers
//! make visible sense: each customer has one or two pursuits (hiking,
//! camping, running, winter), a session browses one category of a pursuit,
//! and a purchase often brings the item's companion along (a jacket its
//! hiking socks, a tent its sleeping mat), bought by thousands of people,
//! so similar items stay above any per-item floor of distinct people.
//! Autumn turns to winter across the 90 days: jackets, fleeces and base
//! layers gain, tents and trail shoes lose; weekends are busier.

use fineline_core::Purpose;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Days of history the demo shop has, ending now.
pub const HISTORY_DAYS: i64 = 90;
/// Location events are kept 30 days by the demo policy: only the last 28
/// are generated.
const LOCATION_DAYS: i64 = 28;
const DAY_MS: i64 = 86_400_000;

/// A category: its id, the titles' nouns, a price range in cents, and how
/// its demand moves from the first to the last day (1.0 = flat).
struct Category {
    id: &'static str,
    nouns: &'static [&'static str],
    price: (u32, u32),
    season: f64,
}

const NAMES: [&str; 9] = [
    "Trail", "Summit", "Ridge", "Cascade", "Granite", "Tundra", "Fjord", "Cairn", "Moor",
];

const CATEGORIES: [Category; 12] = [
    Category {
        id: "jackets",
        nouns: &["Jacket", "Rain Jacket", "Down Jacket"],
        price: (8_900, 34_900),
        season: 1.8,
    },
    Category {
        id: "fleeces",
        nouns: &["Fleece", "Grid Fleece", "Hoodie"],
        price: (4_900, 12_900),
        season: 1.6,
    },
    Category {
        id: "base_layers",
        nouns: &["Merino Tee", "Base Layer", "Long Johns"],
        price: (2_900, 8_900),
        season: 1.7,
    },
    Category {
        id: "trousers",
        nouns: &["Trousers", "Shorts", "Waterproof Trousers"],
        price: (3_900, 14_900),
        season: 1.0,
    },
    Category {
        id: "hiking_boots",
        nouns: &["Hiking Boots", "Mid Boots", "Approach Shoes"],
        price: (8_900, 24_900),
        season: 0.9,
    },
    Category {
        id: "trail_shoes",
        nouns: &["Trail Shoes", "Trail Runners", "Fell Shoes"],
        price: (7_900, 16_900),
        season: 0.7,
    },
    Category {
        id: "socks",
        nouns: &["Hiking Socks", "Merino Socks", "Running Socks"],
        price: (1_200, 2_900),
        season: 1.2,
    },
    Category {
        id: "backpacks",
        nouns: &["Daypack 22", "Backpack 35", "Pack 50"],
        price: (4_900, 21_900),
        season: 0.9,
    },
    Category {
        id: "tents",
        nouns: &["Tent 2P", "Tent 3P", "Bivvy"],
        price: (14_900, 54_900),
        season: 0.4,
    },
    Category {
        id: "sleeping_bags",
        nouns: &["Sleeping Bag", "Down Bag", "Quilt"],
        price: (7_900, 32_900),
        season: 0.6,
    },
    Category {
        id: "sleeping_mats",
        nouns: &["Sleeping Mat", "Air Mat", "Foam Mat"],
        price: (2_900, 14_900),
        season: 0.5,
    },
    Category {
        id: "camp_kitchen",
        nouns: &["Stove", "Cook Set", "Mug"],
        price: (1_500, 12_900),
        season: 0.6,
    },
];

/// Pursuits: the categories a customer browses, by weight.
const PURSUITS: [&[(usize, u32)]; 4] = [
    // hiking
    &[(0, 5), (4, 4), (6, 3), (7, 3), (2, 2), (3, 2)],
    // camping
    &[(8, 5), (10, 4), (9, 4), (11, 3), (7, 2)],
    // running
    &[(5, 5), (6, 3), (2, 3), (0, 1)],
    // winter
    &[(0, 5), (1, 4), (2, 4), (3, 2), (6, 1)],
];

/// Companion categories: buying from the first often brings one from the second.
const COMPANIONS: [(usize, usize); 8] = [
    (0, 6),  // jacket → hiking socks
    (4, 6),  // boots → socks
    (5, 6),  // trail shoes → socks
    (8, 10), // tent → sleeping mat
    (10, 9), // mat → sleeping bag
    (9, 11), // bag → camp kitchen
    (1, 2),  // fleece → base layer
    (7, 11), // backpack → camp kitchen
];

pub const ITEMS_PER_CATEGORY: usize = 25;

/// Regions customers live in, with a centre for coarse locations.
pub const REGIONS: [(&str, f64, f64); 4] = [
    ("scotland", 55.953, -3.189),
    ("north_west", 53.480, -2.242),
    ("london", 51.507, -0.128),
    ("south_west", 51.454, -2.588),
];

/// One catalogue item.
pub struct Item {
    pub id: String,
    pub category: usize,
    pub title: String,
    pub price_cents: u32,
}

pub struct Catalogue {
    pub items: Vec<Item>,
}

impl Catalogue {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xCA7A);
        let mut items = Vec::new();
        for (c, cat) in CATEGORIES.iter().enumerate() {
            for k in 0..ITEMS_PER_CATEGORY {
                // For each noun the names run through all nine, shifted per
                // noun and category, so every title in a category is unique
                // and the bestsellers (low k) do not all share one name.
                let noun = cat.nouns[k % 3];
                let name = NAMES[(k / 3 + 3 * (k % 3) + c) % NAMES.len()];
                let title = format!("{name} {noun}");
                let (lo, hi) = cat.price;
                // Prices end in .99 or .49, like a shop's.
                let pounds = rng.gen_range(lo / 100..=hi / 100);
                let price_cents = pounds * 100 - if rng.gen_bool(0.7) { 1 } else { 51 };
                items.push(Item {
                    id: format!("sku-{:03}{:02}", c + 1, k),
                    category: c,
                    title,
                    price_cents,
                });
            }
        }
        Self { items }
    }

    /// The catalogue as `POST /v1/items` takes it.
    pub fn wire(&self) -> Value {
        Value::Array(
            self.items
                .iter()
                .map(|i| {
                    json!({"item": i.id, "category": CATEGORIES[i.category].id,
                           "title": i.title, "repeatable": i.category == 6})
                })
                .collect(),
        )
    }

    fn item(&self, category: usize, k: usize) -> &Item {
        &self.items[category * ITEMS_PER_CATEGORY + k]
    }
}

/// Popularity within a category: a few bestsellers, a long tail.
fn pick_in_category(rng: &mut ChaCha8Rng) -> usize {
    let u: f64 = rng.gen_range(0.0..1.0);
    ((ITEMS_PER_CATEGORY as f64 + 1.0).powf(u) as usize)
        .saturating_sub(1)
        .min(ITEMS_PER_CATEGORY - 1)
}

/// The companion of item `k` of a category: a fixed partner, so co-purchase
/// shows up item to item (the Trail Jacket goes with one pair of socks).
fn companion(k: usize) -> usize {
    (k * 7 + 3) % ITEMS_PER_CATEGORY
}

fn weighted(
    rng: &mut ChaCha8Rng,
    options: &[(usize, u32)],
    season: impl Fn(usize) -> f64,
) -> usize {
    let total: f64 = options.iter().map(|&(c, w)| f64::from(w) * season(c)).sum();
    let mut x = rng.gen_range(0.0..total);
    for &(c, w) in options {
        x -= f64::from(w) * season(c);
        if x <= 0.0 {
            return c;
        }
    }
    options[options.len() - 1].0
}

/// One customer: their grants, when they gave them, region and pursuits.
pub struct Customer {
    pub id: String,
    pub grants: Vec<Purpose>,
    /// Ms since the epoch: when they joined and consented.
    pub joined: i64,
    pub region: usize,
    pub home: (f64, f64),
    pub pursuits: Vec<usize>,
    pub app_user: bool,
    /// Expected sessions per day.
    pub activity: f64,
}

pub fn customer_id(i: usize) -> String {
    format!("customer-{i:06}@example.com")
}

/// Plausible per-purpose consent: most accept personalization, fewer
/// analytics, fewer still partner insights, location only among app users,
/// in-store detection rarely; about one in fourteen refuses everything.
fn grants(rng: &mut ChaCha8Rng, app_user: bool) -> Vec<Purpose> {
    if rng.gen_bool(0.07) {
        return Vec::new();
    }
    let mut g = Vec::new();
    for (p, rate) in [
        (Purpose::Personalization, 0.78),
        (Purpose::Analytics, 0.62),
        (Purpose::PartnerInsights, 0.46),
        (Purpose::InStoreDetection, 0.18),
    ] {
        if rng.gen_bool(rate) {
            g.push(p);
        }
    }
    if app_user && rng.gen_bool(0.55) {
        g.push(Purpose::Location);
    }
    g
}

pub struct Shop {
    pub catalogue: Catalogue,
    pub customers: Vec<Customer>,
    /// Start of the history (ms).
    pub start: i64,
    pub now: i64,
    seed: u64,
}

impl Shop {
    /// `customers` people over the 90 days ending at `now`. The first two
    /// are keen hikers who allow everything, so the tour's example
    /// customer has a history worth recommending from.
    pub fn new(seed: u64, customers: usize, now: i64) -> Self {
        let catalogue = Catalogue::new(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let start = now - HISTORY_DAYS * DAY_MS;
        let people = (0..customers)
            .map(|i| {
                let app_user = rng.gen_bool(0.45);
                let mut g = grants(&mut rng, app_user);
                // Most were customers before the window; the rest joined in it.
                let joined = if rng.gen_bool(0.6) {
                    start + rng.gen_range(0..DAY_MS)
                } else {
                    start + rng.gen_range(0..(HISTORY_DAYS - 1) * DAY_MS)
                };
                let region = rng.gen_range(0..REGIONS.len());
                let (_, lat, lng) = REGIONS[region];
                let home = (
                    lat + rng.gen_range(-0.02..0.02),
                    lng + rng.gen_range(-0.03..0.03),
                );
                let mut pursuits = vec![rng.gen_range(0..PURSUITS.len())];
                if rng.gen_bool(0.4) {
                    pursuits.push(rng.gen_range(0..PURSUITS.len()));
                }
                // Skewed activity: many occasional shoppers, a few regulars.
                let activity = 0.04 + 0.25 * rng.gen_range(0.0f64..1.0).powi(3);
                if i < 2 {
                    g = Purpose::ALL.to_vec();
                    pursuits = vec![0];
                }
                Customer {
                    id: customer_id(i),
                    grants: g,
                    joined,
                    region,
                    home,
                    pursuits,
                    app_user,
                    activity: if i < 2 { 0.25 } else { activity },
                }
            })
            .collect();
        Self {
            catalogue,
            customers: people,
            start,
            now,
            seed,
        }
    }

    /// The events of customer `i`, oldest first, in the wire format. An
    /// event claims the purpose the shop would send it under; those the
    /// person did not grant are refused by the server (and counted).
    pub fn events_of(&self, i: usize) -> Vec<Value> {
        let c = &self.customers[i];
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(0x9E37_79B9) ^ i as u64);
        let mut out = Vec::new();
        let browse_purpose = if c.grants.contains(&Purpose::Personalization) {
            "personalization"
        } else {
            "analytics"
        };
        let first_day = (c.joined - self.start) / DAY_MS;
        for day in first_day..HISTORY_DAYS {
            let t = day as f64 / HISTORY_DAYS as f64;
            let day_start = self.start + day * DAY_MS;
            // Weekends (the epoch began on a Thursday) are busier.
            let weekday = ((day_start / DAY_MS) + 3) % 7;
            let weekend = if weekday >= 5 { 1.4 } else { 1.0 };
            let season = |cat: usize| 1.0 + (CATEGORIES[cat].season - 1.0) * t;
            let p = (c.activity * weekend * (0.8 + 0.4 * t)).min(0.9);
            if rng.gen_bool(p) {
                // Sessions end before now: a few minutes of views follow.
                let at = (day_start + rng.gen_range(8 * 3_600_000..22 * 3_600_000))
                    .max(c.joined + 1)
                    .min(self.now - 3_600_000);
                self.session(&mut rng, c, at, browse_purpose, &season, &mut out);
            }
            if c.app_user && rng.gen_bool(0.3) {
                let at = (day_start + rng.gen_range(7 * 3_600_000..23 * 3_600_000))
                    .max(c.joined + 1)
                    .min(self.now - 60_000);
                let pursuit = PURSUITS[c.pursuits[0]];
                let cat = pursuit[0].0;
                let item = self.catalogue.item(cat, pick_in_category(&mut rng));
                out.push(json!({
                    "subject_id": c.id, "type": "app_open", "item": item.id, "timestamp": at,
                    "purpose": "analytics",
                    "properties": {"region": REGIONS[c.region].0, "channel": "app"},
                }));
                if day >= HISTORY_DAYS - LOCATION_DAYS && c.grants.contains(&Purpose::Location) {
                    out.push(json!({
                        "subject_id": c.id, "type": "location", "timestamp": at + 1_000,
                        "purpose": "location",
                        "properties": {"region": REGIONS[c.region].0,
                            "lat": c.home.0 + rng.gen_range(-0.01..0.01),
                            "lng": c.home.1 + rng.gen_range(-0.015..0.015)},
                    }));
                }
            }
        }
        out
    }

    fn session(
        &self,
        rng: &mut ChaCha8Rng,
        c: &Customer,
        mut at: i64,
        purpose: &str,
        season: &impl Fn(usize) -> f64,
        out: &mut Vec<Value>,
    ) {
        let pursuit = PURSUITS[c.pursuits[rng.gen_range(0..c.pursuits.len())]];
        let cat = weighted(rng, pursuit, season);
        let region = REGIONS[c.region].0;
        let channel = if c.app_user && rng.gen_bool(0.4) {
            "app"
        } else {
            "web"
        };
        let push = |kind: &str, item: &Item, at: i64, out: &mut Vec<Value>| {
            out.push(json!({
                "subject_id": c.id, "type": kind, "item": item.id, "timestamp": at,
                "purpose": purpose,
                "properties": {"value": item.price_cents, "region": region, "channel": channel},
            }));
        };
        let anchor = pick_in_category(rng);
        let views = rng.gen_range(1..=4);
        for v in 0..views {
            let k = if v == 0 {
                anchor
            } else {
                pick_in_category(rng)
            };
            push("view", self.catalogue.item(cat, k), at, out);
            at += rng.gen_range(20_000..180_000);
        }
        if rng.gen_bool(0.18) {
            push("save", self.catalogue.item(cat, anchor), at, out);
            at += 5_000;
        }
        if rng.gen_bool(0.22) {
            push("purchase", self.catalogue.item(cat, anchor), at, out);
            at += 1_000;
            if let Some(&(_, other)) = COMPANIONS.iter().find(|(from, _)| *from == cat) {
                if rng.gen_bool(0.6) {
                    let item = self.catalogue.item(other, companion(anchor));
                    push("view", item, at, out);
                    push("purchase", item, at + 30_000, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_shop() {
        let now = 1_765_000_000_000;
        let a = Shop::new(7, 50, now);
        let b = Shop::new(7, 50, now);
        for i in 0..50 {
            assert_eq!(a.events_of(i), b.events_of(i));
        }
        let titles: std::collections::BTreeSet<&str> =
            a.catalogue.items.iter().map(|i| i.title.as_str()).collect();
        let per_category = a.catalogue.items.len() / CATEGORIES.len();
        assert_eq!(per_category, ITEMS_PER_CATEGORY);
        assert!(titles.contains("Trail Jacket"));
        assert_eq!(
            a.catalogue
                .items
                .iter()
                .map(|i| (i.category, &i.title))
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            a.catalogue.items.len()
        );
    }

    #[test]
    fn events_lie_in_the_window_after_the_customer_joined() {
        let now = 1_765_000_000_000;
        let shop = Shop::new(3, 200, now);
        for i in 0..200 {
            for e in shop.events_of(i) {
                let t = e["timestamp"].as_i64().unwrap();
                assert!(t > shop.customers[i].joined && t < now + 60_000, "{e}");
            }
        }
    }
}
