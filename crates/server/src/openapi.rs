//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "fineline", description = "Personalization with permission: consent, proofs, personal data rights, private insights."),
    paths(
        routes::ops::healthz,
        routes::ops::leader,
        routes::ops::metrics,
        routes::policy::current,
        routes::policy::versions,
        routes::policy::publish,
        routes::consent::change,
        routes::consent::status,
        routes::consent::history,
        routes::consent_import::import,
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
        routes::checkin::token,
        routes::checkin::qr,
        routes::checkin::check_in,
        routes::recs::recommendations,
        routes::recs::similar,
        routes::recs::put_items,
        routes::recs::train,
        routes::recs::status,
        routes::insights::query,
        routes::insights_plan::plan,
        routes::insights::heatmap,
        routes::insights::apps,
        routes::insights::my_budget,
        routes::insights::set_budget,
        routes::console::releases,
        routes::console::session,
        routes::console::overview,
        routes::console::persona,
        routes::persona::model,
        routes::persona::offer,
        routes::persona::disclose,
        routes::persona::aggregate,
        routes::persona::change_level,
        routes::persona::erase,
        routes::persona::catalogue,
        routes::persona::recommendations,
        routes::ledger::key,
        routes::ledger::tree_head,
        routes::ledger::inclusion,
        routes::ledger::consistency,
        routes::ledger::entry,
    ),
    modifiers(&Bearer, &CommonErrors)
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

/// Operations that take no credential; every other one needs a bearer API
/// key or subject token (the `Caller` and `Analyst` extractors).
const PUBLIC: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/healthz/leader"),
    ("get", "/metrics"),
    ("get", "/v1/policy"),
    ("get", "/v1/policy/versions"),
    ("get", "/v1/items/{item}/similar"),
    ("post", "/v1/footfall/optout"),
    ("post", "/v1/footfall/checkins"),
    ("get", "/v1/persona/model"),
    ("get", "/v1/persona/offer"),
    ("post", "/v1/persona/disclosures"),
    ("post", "/v1/persona/level"),
    ("post", "/v1/persona/erasure"),
    ("get", "/v1/persona/catalogue"),
    ("post", "/v1/persona/recommendations"),
    ("get", "/v1/ledger/key"),
    ("get", "/v1/ledger/tree-head"),
    ("get", "/v1/ledger/proof/inclusion"),
    ("get", "/v1/ledger/proof/consistency"),
    ("get", "/v1/ledger/entries/{index}"),
];

/// The errors the shared layers answer for any route, documented once here
/// rather than on every handler: the rate limiter (429) and the timeout
/// (408) on all; extractors refusing a malformed parameter or body (400);
/// the body limit (413); and for routes behind a credential, a missing or
/// unknown one (401) and a role the route does not serve (403). Handlers
/// document the rest (404, 409, ...).
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::SecurityRequirement;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                let has_body = op.request_body.is_some();
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let public = PUBLIC.contains(&(method, path.as_str()));
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description).into());
                };
                add("408", "the request took too long");
                add("429", "rate limited; retry after the Retry-After header");
                if has_body || has_params {
                    add("400", "a malformed parameter or body (the field is named)");
                }
                if has_body {
                    add("413", "the body is too large");
                }
                if !public {
                    add("401", "missing or unknown credentials");
                    add("403", "the credential's role may not use this route");
                    op.security.get_or_insert_with(|| {
                        vec![SecurityRequirement::new("bearer", Vec::<String>::new())]
                    });
                }
            }
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
