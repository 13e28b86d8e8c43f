//! Offline receipt checks and log-consistency checks.

use std::path::{Path, PathBuf};

use base64::Engine;
use fineline_core::Pseudonym;
use fineline_ledger::{verify_receipt, verify_receipt_for_subject, Receipt, SignedTreeHead};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A receipt JSON file as returned by the consent API.
    pub receipt: PathBuf,
    /// The log's Ed25519 public key (base64, from GET /v1/ledger/key).
    /// Without it the key inside the receipt is trusted.
    #[arg(long)]
    pub key: Option<String>,
    /// Also check the receipt is about this person: their pseudonym
    /// (`k1_…`, shown in the privacy center and as `subject` in their
    /// export), or their own id (email, customer number) together with
    /// --data-dir, whose pseudonym keys turn it into the pseudonym.
    #[arg(long)]
    pub subject: Option<String>,
    /// The server's data directory (its `keys.json`), to pseudonymise a
    /// raw --subject id. Never created: it must already exist.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ConsistencyArgs {
    pub old_head: PathBuf,
    pub new_head: PathBuf,
    /// Server to fetch the consistency proof from.
    #[arg(long, env = "FINELINE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    #[arg(long)]
    pub key: Option<String>,
}

fn parse_key(b64: &str) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| anyhow::anyhow!("--key is not base64: {e}"))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("--key must be 32 bytes"))?;
    Ok(ed25519_dalek::VerifyingKey::from_bytes(&arr)?)
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let text = std::fs::read(&args.receipt)?;
    let receipt: Receipt =
        serde_json::from_slice(&text).map_err(|e| anyhow::anyhow!("not a receipt: {e}"))?;
    let key = args.key.as_deref().map(parse_key).transpose()?;
    let Some(subject) = args.subject.as_deref() else {
        let summary =
            verify_receipt(&receipt, key.as_ref()).map_err(|e| anyhow::anyhow!("invalid: {e}"))?;
        println!("{summary}");
        // The signature and proof say nothing about whom the entry names:
        // a valid receipt of someone else passes them too.
        println!("not checked: whether this receipt is about you (pass --subject ID)");
        return Ok(());
    };
    let candidates = pseudonyms(subject, args.data_dir.as_deref())?;
    let mut last = None;
    for p in &candidates {
        match verify_receipt_for_subject(&receipt, key.as_ref(), p) {
            Ok(summary) => {
                println!("{summary}");
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => anyhow::bail!("invalid: {e}"),
        None => anyhow::bail!("invalid: no pseudonym to check the receipt against"),
    }
}

/// The pseudonyms `subject` may stand for: itself when it is one; else
/// the raw id under each pseudonym key the data directory retains (a
/// receipt from before a key rotation names the person under an older key).
fn pseudonyms(subject: &str, data_dir: Option<&Path>) -> anyhow::Result<Vec<Pseudonym>> {
    if let Ok(p) = subject.parse::<Pseudonym>() {
        return Ok(vec![p]);
    }
    let Some(dir) = data_dir else {
        anyhow::bail!(
            "--subject is not a pseudonym (k<key id>_<64 hex digits>); give the pseudonym \
             from your privacy center or export, or add --data-dir to compute it from an id"
        );
    };
    // open_or_create would make fresh keys, under which nobody matches.
    anyhow::ensure!(
        dir.join("keys.json").is_file(),
        "--data-dir {}: no keys.json there",
        dir.display()
    );
    let vault = fineline_vault::Vault::open_or_create(dir)?;
    Ok(vault.keyring().pseudonyms_for(subject))
}

fn read_head(path: &PathBuf) -> anyhow::Result<SignedTreeHead> {
    let text = std::fs::read(path)?;
    serde_json::from_slice(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a signed tree head: {e}", path.display()))
}

pub async fn consistency(args: ConsistencyArgs) -> anyhow::Result<()> {
    let old = read_head(&args.old_head)?;
    let new = read_head(&args.new_head)?;
    let key = match &args.key {
        Some(k) => parse_key(k)?,
        None => {
            let body: serde_json::Value = reqwest::get(format!(
                "{}/v1/ledger/key",
                args.server.trim_end_matches('/')
            ))
            .await?
            .error_for_status()?
            .json()
            .await?;
            parse_key(body["public_key"].as_str().unwrap_or_default())?
        }
    };
    old.verify(&key)
        .map_err(|e| anyhow::anyhow!("invalid: old head: {e}"))?;
    new.verify(&key)
        .map_err(|e| anyhow::anyhow!("invalid: new head: {e}"))?;
    let (from, to) = (old.tree_head.size, new.tree_head.size);
    anyhow::ensure!(
        from <= to,
        "invalid: the new head is smaller ({to}) than the old ({from})"
    );
    let proof: Vec<fineline_ledger::Hash> = if from == 0 || from == to {
        Vec::new()
    } else {
        let body: serde_json::Value = reqwest::get(format!(
            "{}/v1/ledger/proof/consistency?from={from}&to={to}",
            args.server.trim_end_matches('/')
        ))
        .await?
        .error_for_status()?
        .json()
        .await?;
        body["proof"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("server sent no proof"))?
            .iter()
            .map(|h| h.as_str().unwrap_or_default().parse())
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("server sent a malformed proof"))?
    };
    fineline_ledger::verify_consistency(
        from,
        to,
        &old.tree_head.root_hash,
        &new.tree_head.root_hash,
        &proof,
    )
    .map_err(|e| anyhow::anyhow!("invalid: {e}"))?;
    println!(
        "consistent: tree of {to} entries extends the tree of {from} (key {})",
        fineline_ledger::key_id(&key)
    );
    Ok(())
}
