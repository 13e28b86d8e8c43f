use clap::Subcommand;
use fineline_core::{Role, Timestamp};

use crate::StoreArgs;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create an API key with a role; prints it once (only its hash is kept).
    Create {
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Issue a short-lived token letting one person use the privacy center.
    Issue {
        /// The business's own id for the person (email, customer number).
        #[arg(long)]
        subject: String,
        /// Lifetime such as 15m, 2h, 1d.
        #[arg(long, default_value = "15m")]
        ttl: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run_keys(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { role, store } => {
            let state = super::open_state(&store).await?;
            let key = fineline_server::auth::create_key(state.store(), role).await?;
            println!("{key}");
            Ok(())
        }
    }
}

pub async fn run_tokens(cmd: TokensCommand) -> anyhow::Result<()> {
    match cmd {
        TokensCommand::Issue {
            subject,
            ttl,
            store,
        } => {
            let ttl = fineline_server::tokens::parse_ttl(&ttl).map_err(anyhow::Error::msg)?;
            let vault = fineline_vault::Vault::open_or_create(&store.data_dir)?;
            let issuer = fineline_server::tokens::TokenIssuer::new(*vault.token_secret());
            let subject = vault.keyring().pseudonymize(&subject);
            println!(
                "{}",
                issuer.issue(&subject, Timestamp::now().plus_millis(ttl))
            );
            Ok(())
        }
    }
}
