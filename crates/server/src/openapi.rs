//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "fineline", description = "Personalization with permission: consent, proofs, personal data rights, private insights."),
    paths(
        routes::ops::healthz,
        routes::ops::metrics,
        routes::policy::current,
        routes::policy::versions,
        routes::policy::publish,
        routes::consent::change,
        routes::consent::status,
        routes::consent::history,
        routes::events::ingest,
        routes::rights::issue_token,
        routes::rights::summary,
        routes::rights::export,
        routes::rights::interests,
        routes::rights::interest,
        routes::rights::edit_interest,
        routes::rights::remove_interest,
        routes::rights::delete_event,
        routes::rights::erase,
        routes::footfall::add_store,
        routes::footfall::stores,
        routes::footfall::sightings,
        routes::footfall::flush,
        routes::footfall::opt_out,
        routes::footfall::report,
        routes::recs::recommendations,
        routes::recs::similar,
        routes::recs::put_items,
        routes::recs::train,
        routes::recs::status,
        routes::insights::query,
        routes::insights::heatmap,
        routes::insights::apps,
        routes::insights::my_budget,
        routes::insights::set_budget,
        routes::console::releases,
        routes::console::session,
        routes::console::overview,
        routes::ledger::key,
        routes::ledger::tree_head,
        routes::ledger::inclusion,
        routes::ledger::consistency,
        routes::ledger::entry,
    ),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
