//! What every handler is given: the application and what only HTTP
//! needs beside it (the rate limiter in front of the routes).

use std::sync::Arc;

use fineline_app::App;

use crate::rate_limit::RateLimiter;

/// The router's state. Derefs to [`App`], so a handler calls use cases
/// as `state.change_consent(…)`.
#[derive(Clone)]
pub struct AppState {
    app: App,
    rate_limits: Arc<RateLimiter>,
}

impl AppState {
    /// Serve `app` with default rate limits (configure them with
    /// [`AppState::rate_limits`]).
    pub fn new(app: App) -> Self {
        AppState {
            app,
            rate_limits: Arc::default(),
        }
    }

    /// Load the application from `database` and `vault` and serve it.
    pub async fn load(
        database: Arc<dyn fineline_db::Database>,
        vault: fineline_vault::Vault,
    ) -> Result<Self, fineline_app::AppError> {
        Ok(Self::new(App::load(database, vault).await?))
    }

    /// The application behind the routes.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Token buckets per key, subject and client; see `crate::rate_limit`.
    pub fn rate_limits(&self) -> &RateLimiter {
        &self.rate_limits
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}
