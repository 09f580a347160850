//! `analyzeWebsite`.

use async_graphql::{Context, Object};

use super::service;
use super::types::WebsiteAnalysis;
use crate::graphql::{caller, shared};

#[derive(Default)]
pub(crate) struct WebsiteAnalysisMutation;

#[Object]
impl WebsiteAnalysisMutation {
    /// Analyses a website (`domain`: a domain or a website address such as
    /// `https://www.example.com/`): its home page and a booking or contact
    /// page it links to, within its robots.txt. A fresh analysis of the
    /// domain (younger than 30 days, whoever asked for it) is returned as
    /// it is; one being made for another request is waited for. Needs the
    /// member role.
    async fn analyze_website(
        &self,
        ctx: &Context<'_>,
        domain: String,
    ) -> async_graphql::Result<WebsiteAnalysis> {
        // Boxed: a fetch's future is large, and async-graphql sizes every
        // mutation's future by the largest field of the root.
        Ok(
            Box::pin(service::analyze(shared(ctx), caller(ctx)?, &domain))
                .await?
                .into(),
        )
    }
}
