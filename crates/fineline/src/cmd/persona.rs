//! `fineline persona …`: a device simulator over `crates/persona`, the
//! reference client (docs/persona.md). The persona lives in a file on
//! disk (0600: it holds the secret), the shop is a fineline server's URL.
//! Every document the shop serves is checked as a device checks it (the
//! offer's and model's signatures under the ledger key pinned on first
//! contact, the model's digest and shape, its ledger receipt), and every
//! receipt is kept only once `DeviceLog::attach_receipt` verified it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use fineline_core::{ItemId, Timestamp};
use fineline_ledger::{
    verify_document, verify_receipt, LedgerEntry, Receipt, Signature, VerifyingKey,
};
use fineline_persona::{Logged, Payload, Persona, PublicModel, Terms, TrustLevel, Wallet};
use fineline_recs::PublicItem;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(clap::Args)]
pub struct Args {
    /// The persona file (created by `init`; holds the secret: keep it private).
    #[arg(long, env = "FINELINE_PERSONA_FILE", default_value = "persona.json")]
    pub file: PathBuf,
    /// Which persona of the file (default: the first).
    #[arg(long)]
    pub persona: Option<String>,
    #[command(subcommand)]
    pub command: PersonaCommand,
}

#[derive(clap::Subcommand)]
pub enum PersonaCommand {
    /// Create the file with one new persona (a fresh 32-byte secret), or add one.
    Init {
        #[arg(long, default_value = "everyday")]
        label: String,
    },
    /// Note items viewed or bought, on the device only.
    Record { items: Vec<String> },
    /// Set the trust level (0-4) for a shop; changes that touch level 2 or
    /// above are sent as consent and their receipts kept.
    SetLevel { shop: String, level: u8 },
    /// Approve the level-2 interests for a shop (at most 3, from its taxonomy).
    Approve { shop: String, topics: Vec<String> },
    /// Recommend on the device from the shop's signed public model.
    Recommend {
        shop: String,
        #[arg(short, default_value_t = 10)]
        n: usize,
    },
    /// Send what leaves at the shop's level now and keep the receipt; at
    /// levels 3 and 4 (the history, and the identity given with
    /// `identity`) only once the shop's receipts for the level change are
    /// kept, and then show the shop's own recommendations.
    Disclose { shop: String },
    /// Set what level 4 gives this shop, as `KEY=VALUE` pairs (e.g.
    /// `email=a@example.org shoe_size=42`); none clears it. Kept on the
    /// device; it leaves only with a disclosure at level 4.
    Identity {
        shop: String,
        attributes: Vec<String>,
    },
    /// Check in at one of the shop's stores with the code its kiosk shows
    /// (`STORE:TOKEN`, or the kiosk's link), at the shop's level now.
    Checkin { shop: String, code: String },
    /// Have the shop erase everything it holds under this persona's
    /// pseudonym, with a request signed under the persona's erasure key
    /// for it; keeps the verified erasure receipt, and the shop's level is
    /// 0 again on this device.
    Erase { shop: String },
    /// The device log: every level change and disclosure, with its receipts.
    Receipts,
}

/// The file: the wallet and, per shop URL, what the device pinned.
#[derive(Serialize, Deserialize, Default)]
struct DeviceFile {
    wallet: Wallet,
    shops: BTreeMap<String, Pinned>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Pinned {
    business: String,
    /// Hex Ed25519 key of the shop's ledger, pinned on first contact.
    log_key: String,
}

fn load(path: &Path) -> anyhow::Result<DeviceFile> {
    let text = std::fs::read(path).with_context(|| {
        format!(
            "no persona file at {} (run `fineline persona init`)",
            path.display()
        )
    })?;
    serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a persona file", path.display()))
}

/// Writes atomically, readable by the owner only: the file holds secrets.
fn save(path: &Path, file: &DeviceFile) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(file)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn persona<'a>(
    file: &'a mut DeviceFile,
    label: &Option<String>,
) -> anyhow::Result<&'a mut Persona> {
    match label {
        Some(l) => file
            .wallet
            .get_mut(l)
            .with_context(|| format!("no persona labelled {l:?}")),
        None => file
            .wallet
            .personas
            .first_mut()
            .context("the file holds no persona"),
    }
}

/// A shop as the device sees it: its pinned key, checked terms and model.
struct Shop {
    url: String,
    key: VerifyingKey,
    terms: Terms,
    /// The offer's version: level-1 reports carry a token for it.
    offer_version: u64,
    http: reqwest::Client,
}

async fn get(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let r = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("GET {url}: {status} {body}");
    }
    Ok(body)
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let r = http
        .post(url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = r.status();
    let answer: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url}: {status} {answer}");
    }
    Ok(answer)
}

fn signature(v: &Value) -> anyhow::Result<Signature> {
    let bytes: [u8; 64] = hex::decode(v.as_str().context("no signature")?)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a signature is 64 bytes"))?;
    Ok(Signature::from_bytes(&bytes))
}

/// Fetches the shop's key (pinning it), and its signed offer.
async fn open_shop(file: &mut DeviceFile, url: &str) -> anyhow::Result<Shop> {
    let url = url.trim_end_matches('/').to_string();
    let http = reqwest::Client::new();
    let key_body = get(&http, &format!("{url}/v1/ledger/key")).await?;
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(key_body["public_key"].as_str().context("no public_key")?)?;
    let key_hex = hex::encode(&raw);
    let key = VerifyingKey::from_bytes(&raw.try_into().map_err(|_| anyhow::anyhow!("bad key"))?)?;
    let signed = get(&http, &format!("{url}/v1/persona/offer")).await?;
    // Value's maps are sorted: the offer's signed form.
    let bytes = serde_json::to_vec(&signed["offer"])?;
    if !verify_document(
        &key,
        "persona-offer",
        &bytes,
        &signature(&signed["signature"])?,
    ) {
        bail!("the shop's offer is not signed by its ledger key");
    }
    let offer = &signed["offer"];
    let terms = Terms {
        business: offer["business"]
            .as_str()
            .context("offer.business")?
            .to_string(),
        taxonomy: serde_json::from_value(offer["taxonomy"].clone())?,
        report_epsilon_micro: offer["report_epsilon_micro"].as_u64().context("offer ε")?,
    };
    match file.shops.get(&url) {
        Some(p) if p.log_key != key_hex => {
            bail!("{url} now signs with another key than the one pinned")
        }
        Some(p) if p.business != terms.business => {
            bail!("{url} now calls itself {:?}", terms.business)
        }
        Some(_) => {}
        None => {
            file.shops.insert(
                url.clone(),
                Pinned {
                    business: terms.business.clone(),
                    log_key: key_hex,
                },
            );
        }
    }
    let offer_version = offer["version"].as_u64().context("offer.version")?;
    Ok(Shop {
        url,
        key,
        terms,
        offer_version,
        http,
    })
}

impl Shop {
    /// The public model, checked: shape, digest, signature, ledger receipt.
    async fn model(&self) -> anyhow::Result<PublicModel> {
        let body = get(&self.http, &format!("{}/v1/persona/model", self.url)).await?;
        let items = body["items"]
            .as_array()
            .context("model.items")?
            .iter()
            .map(|it| {
                Ok(PublicItem {
                    id: ItemId::new(it["id"].as_str().context("item id")?)?,
                    categories: serde_json::from_value(it["categories"].clone())?,
                    popularity: u32::try_from(it["popularity"].as_u64().context("popularity")?)?,
                    neighbours: serde_json::from_value::<Vec<(u32, i32)>>(
                        it["neighbours"].clone(),
                    )?
                    .into_iter()
                    .collect(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(body["digest"].as_str().context("digest")?, &mut digest)?;
        let model = PublicModel {
            version: body["version"].as_u64().context("version")?,
            min_support: u32::try_from(body["min_support"].as_u64().context("min_support")?)?,
            items,
            digest,
        };
        if !model.is_well_formed() {
            bail!("the public model is malformed or its digest does not match");
        }
        if !verify_document(
            &self.key,
            "public-model",
            &model.canonical_bytes(),
            &signature(&body["signature"])?,
        ) {
            bail!("the public model is not signed by the shop");
        }
        let receipt: Receipt = serde_json::from_value(body["receipt"].clone())?;
        verify_receipt(&receipt, Some(&self.key))?;
        match receipt.entry {
            LedgerEntry::ModelPublished { digest: d, .. } if d.0 == model.digest => Ok(model),
            _ => bail!("the public model is not the one in the shop's ledger"),
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if let PersonaCommand::Init { label } = &args.command {
        let mut file = if args.file.exists() {
            load(&args.file)?
        } else {
            DeviceFile::default()
        };
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        file.wallet.add(Persona::new(label, secret))?;
        save(&args.file, &file)?;
        println!("persona {label:?} created in {}", args.file.display());
        return Ok(());
    }
    let mut file = load(&args.file)?;
    let now = Timestamp::now;
    match args.command {
        PersonaCommand::Init { .. } => unreachable!("handled above"),
        PersonaCommand::Record { items } => {
            let p = persona(&mut file, &args.persona)?;
            for item in &items {
                p.record(ItemId::new(item).with_context(|| format!("{item:?} is not an item id"))?);
            }
            println!(
                "{} item(s) noted on this device; history holds {}",
                items.len(),
                p.history().len()
            );
        }
        PersonaCommand::SetLevel { shop, level } => {
            let to = TrustLevel::try_from(level)
                .map_err(|_| anyhow::anyhow!("a trust level is 0 to 4"))?;
            let s = open_shop(&mut file, &shop).await?;
            let p = persona(&mut file, &args.persona)?;
            let from = p.level(&s.terms.business);
            let (seq, steps) = p.set_level(&s.terms.business, to, now());
            let Some(seq) = seq else {
                println!("already at level {level}");
                return Ok(());
            };
            println!(
                "level {} → {} at {}",
                from.number(),
                to.number(),
                s.terms.business
            );
            if from.number() < 2 && to.number() < 2 {
                println!("  nothing sent: levels 0 and 1 carry no identifier");
            } else {
                let mut body = serde_json::json!({"business": s.terms.business,
                    "pseudonym": p.pseudonym(&s.terms.business).to_hex(), "from": from.number(), "to": to.number()});
                if to.number() >= 2 {
                    // So the shop can later take this device's own erasure request.
                    body["erasure_key"] =
                        hex::encode(p.erasure_key(&s.terms.business).as_bytes()).into();
                }
                // Saved first: the change is the person's even if the shop does not answer.
                save(&args.file, &file)?;
                let answer = post(&s.http, &format!("{}/v1/persona/level", s.url), &body).await?;
                let p = persona(&mut file, &args.persona)?;
                for (step, r) in steps
                    .iter()
                    .zip(answer["receipts"].as_array().context("receipts")?)
                {
                    let receipt: Receipt = serde_json::from_value(r.clone())?;
                    let summary = p.log_mut().attach_receipt(seq, receipt, &s.key)?;
                    let verb = if step.granted { "granted" } else { "withdrawn" };
                    println!("  {} {verb}: receipt verified ({summary})", step.purpose);
                }
            }
        }
        PersonaCommand::Approve { shop, topics } => {
            let s = open_shop(&mut file, &shop).await?;
            let p = persona(&mut file, &args.persona)?;
            p.approve_interests(&s.terms, topics.clone())?;
            println!("approved for {}: {}", s.terms.business, topics.join(", "));
        }
        PersonaCommand::Recommend { shop, n } => {
            let s = open_shop(&mut file, &shop).await?;
            let model = s.model().await?;
            let p = persona(&mut file, &args.persona)?;
            for r in p.recommend(&model, n) {
                match &r.because {
                    Some(b) => println!(
                        "{}\t{}\tbecause you viewed {}",
                        r.item.as_str(),
                        r.score,
                        b.as_str()
                    ),
                    None => println!("{}\t{}\tpopular", r.item.as_str(), r.score),
                }
            }
        }
        PersonaCommand::Disclose { shop } => {
            let s = open_shop(&mut file, &shop).await?;
            let model = s.model().await?;
            let p = persona(&mut file, &args.persona)?;
            let level = p.level(&s.terms.business);
            if level.number() >= 3 && !p.log().unreceipted_changes(&s.terms.business).is_empty() {
                bail!("not sent: the shop has not proven it recorded this level (a level change has no verified receipt)");
            }
            let mut coins = vec![0u8; 256];
            rand::rngs::OsRng.fill_bytes(&mut coins);
            let d = p.disclose(&s.terms, &model, now(), &coins)?;
            if d.payload == Payload::Nothing {
                println!("level 0: nothing leaves");
                return Ok(());
            }
            let mut body = serde_json::to_value(&d)?;
            if let Payload::Crowd { .. } = d.payload {
                // The shop caps the ε spent per token and offer version.
                body["reporter"] = p
                    .reporter(&s.terms.business, s.offer_version)
                    .to_hex()
                    .into();
            }
            save(&args.file, &file)?;
            let answer = post(&s.http, &format!("{}/v1/persona/disclosures", s.url), &body).await?;
            let receipt: Receipt = serde_json::from_value(answer["receipt"].clone())?;
            let p = persona(&mut file, &args.persona)?;
            let seq = p.log().entries().len() as u64 - 1;
            let summary = p.log_mut().attach_receipt(seq, receipt, &s.key)?;
            println!("sent {}", serde_json::to_string(&d)?);
            println!("receipt verified ({summary})");
            if level.number() >= 3 {
                // Signed: the shop's answer comes from the shared history.
                let at = now();
                let picks = post(
                    &s.http,
                    &format!("{}/v1/persona/recommendations", s.url),
                    &serde_json::json!({"business": s.terms.business,
                        "pseudonym": p.pseudonym(&s.terms.business).to_hex(), "n": 10,
                        "at": at.millis(),
                        "signature": p.sign_recommendations(&s.terms.business, at, 10)}),
                )
                .await?;
                println!("the shop's recommendations from what it now holds:");
                for r in picks["items"].as_array().context("items")? {
                    println!(
                        "{}\t{}",
                        r["item"].as_str().unwrap_or_default(),
                        r["reason"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        PersonaCommand::Identity { shop, attributes } => {
            let s = open_shop(&mut file, &shop).await?;
            let identity = attributes
                .iter()
                .map(|a| {
                    a.split_once('=')
                        .filter(|(k, _)| !k.is_empty())
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .with_context(|| format!("{a:?}: an attribute is KEY=VALUE"))
                })
                .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
            let p = persona(&mut file, &args.persona)?;
            let keys: Vec<&String> = identity.keys().collect();
            println!(
                "level 4 would give {}: {}",
                s.terms.business,
                if keys.is_empty() {
                    "nothing beyond the history".to_string()
                } else {
                    keys.iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
            p.set_identity(&s.terms.business, identity);
        }
        PersonaCommand::Checkin { shop, code } => {
            let code = code.rsplit("checkin=").next().unwrap_or(&code);
            let (store, token) = code
                .split_once(':')
                .context("a check-in code is STORE:TOKEN, as the kiosk shows it")?;
            let s = open_shop(&mut file, &shop).await?;
            let p = persona(&mut file, &args.persona)?;
            let mut coins = [0u8; fineline_persona::CHECKIN_NONCE_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut coins);
            let c = p.check_in(&s.terms.business, store, token, now(), &coins)?;
            save(&args.file, &file)?;
            let answer = post(
                &s.http,
                &format!("{}/v1/footfall/checkins", s.url),
                &serde_json::to_value(&c)?,
            )
            .await?;
            println!(
                "checked in at {store} on {} at level {}",
                answer["day"].as_str().unwrap_or("?"),
                c.level.number()
            );
            match answer.get("receipt").filter(|r| !r.is_null()) {
                Some(r) => {
                    let receipt: Receipt = serde_json::from_value(r.clone())?;
                    let p = persona(&mut file, &args.persona)?;
                    let seq = p.log().entries().len() as u64 - 1;
                    let summary = p.log_mut().attach_receipt(seq, receipt, &s.key)?;
                    println!("  under your pseudonym; receipt verified ({summary})");
                }
                None => println!("  counted only: no identifier was sent"),
            }
        }
        PersonaCommand::Erase { shop } => {
            let s = open_shop(&mut file, &shop).await?;
            let p = persona(&mut file, &args.persona)?;
            let mut coins = [0u8; fineline_persona::ERASURE_NONCE_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut coins);
            let (seq, request) = p.request_erasure(&s.terms.business, now(), &coins)?;
            // Saved first: the request is the person's even if the shop does not answer.
            save(&args.file, &file)?;
            let answer = post(
                &s.http,
                &format!("{}/v1/persona/erasure", s.url),
                &serde_json::to_value(&request)?,
            )
            .await?;
            let receipt: Receipt = serde_json::from_value(answer["receipt"].clone())?;
            let p = persona(&mut file, &args.persona)?;
            let summary = p.erased(seq, receipt, &s.key)?;
            println!(
                "erased at {}: {} row(s); receipt verified ({summary})",
                s.terms.business,
                answer["rows_deleted"].as_u64().unwrap_or(0)
            );
            println!("  level 0 at {} on this device", s.terms.business);
        }
        PersonaCommand::Receipts => {
            let businesses: Vec<String> = file.shops.values().map(|s| s.business.clone()).collect();
            let p = persona(&mut file, &args.persona)?;
            for e in p.log().entries() {
                let what = match &e.what {
                    Logged::LevelChange { from, to, steps } => format!(
                        "level {} → {} ({} step(s))",
                        from.number(),
                        to.number(),
                        steps.len()
                    ),
                    Logged::CheckIn(c) => format!(
                        "check-in at {} at level {}{}",
                        c.store,
                        c.level.number(),
                        if c.pseudonym.is_some() {
                            " under the pseudonym"
                        } else {
                            ""
                        }
                    ),
                    Logged::Disclosure(d) => format!(
                        "disclosure at level {}: {}",
                        d.level.number(),
                        serde_json::to_string(&d.payload)?
                    ),
                    Logged::Erasure(_) => "erasure request, signed".to_string(),
                };
                println!("#{} {} {}: {what}", e.seq, e.business, e.at.millis());
                for r in &e.receipts {
                    println!(
                        "  receipt: ledger entry {} of {}",
                        r.leaf_index, r.tree_head.tree_head.size
                    );
                }
            }
            for business in businesses {
                let missing = p.log().unreceipted_changes(&business);
                if !missing.is_empty() {
                    println!("{business}: changes without a receipt: {missing:?}");
                }
            }
        }
    }
    save(&args.file, &file)?;
    Ok(())
}
