use clap::Subcommand;
use fineline_core::{Role, Timestamp};

use fineline_server::rate_limit::RateLimit;

use crate::DatabaseArgs;

/// Just the database: listing and revoking keys need no keys, ledger or index.
async fn open_database(
    args: &DatabaseArgs,
) -> anyhow::Result<std::sync::Arc<dyn fineline_db::Database>> {
    Ok(fineline_app::open_database(&args.data_dir, args.database_url.as_deref()).await?)
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create an API key with a role; prints it once (only its hash is kept).
    Create {
        #[arg(long)]
        role: Role,
        /// This key's own rate limit, RATE[/BURST] requests per second
        /// (0: none), instead of its role's default set on `serve`.
        #[arg(long)]
        rate_limit: Option<RateLimit>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List API keys: id, role, rate limit, revoked or not (never the key).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke a key, named by its text or by its id from `keys list`. A
    /// running server refuses it within two seconds.
    Revoke {
        key_or_id: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Issue a short-lived token letting one person use the privacy center.
    Issue {
        /// The business's own id for the person (email, customer number).
        #[arg(long)]
        subject: String,
        /// Lifetime such as 15m, 2h, 1d; at most --token-max-ttl.
        #[arg(long, default_value = "15m")]
        ttl: String,
        /// The longest lifetime allowed (at most 7d); the server refuses
        /// tokens with more life left than its own `serve --token-max-ttl`.
        #[arg(long, env = "FINELINE_TOKEN_MAX_TTL", default_value = "7d")]
        token_max_ttl: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub async fn run_keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create {
            role,
            rate_limit,
            database,
        } => {
            let state = super::open_app(&database).await?;
            let key =
                fineline_app::api_keys::create_key_with_limit(state.database(), role, rate_limit)
                    .await?;
            println!("{key}");
            Ok(())
        }
        KeysCommand::List { database } => {
            let database = open_database(&database).await?;
            let keys = fineline_app::api_keys::list_keys(database.as_ref()).await?;
            println!("{:<16}  {:<7}  {:<13}  status", "id", "role", "rate limit");
            for k in keys {
                let limit = k
                    .record
                    .limit
                    .map_or_else(|| "role default".to_string(), |l| l.to_string());
                let status = if k.record.revoked {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<16}  {:<7}  {:<13}  {status}",
                    k.id(),
                    k.record.role.as_str(),
                    limit
                );
            }
            Ok(())
        }
        KeysCommand::Revoke {
            key_or_id,
            database,
        } => {
            let database = open_database(&database).await?;
            let k = fineline_app::api_keys::revoke_key(database.as_ref(), &key_or_id).await?;
            println!("revoked {} ({})", k.id(), k.record.role.as_str());
            Ok(())
        }
    }
}

pub async fn run_tokens(cmd: TokensCommand) -> anyhow::Result<()> {
    match cmd {
        TokensCommand::Issue {
            subject,
            ttl,
            token_max_ttl,
            database,
        } => {
            use fineline_app::tokens::{parse_ttl, MAX_TTL_MS};
            let max = parse_ttl(&token_max_ttl, MAX_TTL_MS)
                .map_err(|e| anyhow::anyhow!("--token-max-ttl: {e}"))?;
            let ttl = parse_ttl(&ttl, max).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            let vault = fineline_vault::Vault::open_or_create(&database.data_dir)?;
            let issuer = fineline_app::tokens::TokenIssuer::new(*vault.token_secret());
            let subject = vault.keyring().pseudonymize(&subject);
            println!(
                "{}",
                issuer.issue(&subject, Timestamp::now().plus_millis(ttl))
            );
            Ok(())
        }
    }
}
