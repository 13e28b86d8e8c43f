//! Offline receipt checks and log-consistency checks.

use std::path::PathBuf;

use base64::Engine;
use fineline_ledger::{verify_receipt, Receipt, SignedTreeHead};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A receipt JSON file as returned by the consent API.
    pub receipt: PathBuf,
    /// The log's Ed25519 public key (base64, from GET /v1/ledger/key).
    /// Without it the key inside the receipt is trusted.
    #[arg(long)]
    pub key: Option<String>,
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
    let summary =
        verify_receipt(&receipt, key.as_ref()).map_err(|e| anyhow::anyhow!("invalid: {e}"))?;
    println!("{summary}");
    Ok(())
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
