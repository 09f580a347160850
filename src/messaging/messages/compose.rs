//! Turning a template (or inline content) and a lead into a message: the
//! render context from the lead, its company and tags, the tenant, its
//! custom variables and the sender; then the tracking rewrite.

use std::collections::BTreeSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use entity::{companies, lead_tags, leads, message_templates, tenants};

use crate::error::{AppError, AppResult};
use crate::messaging::templates::context::{ContextInput, DeclaredVariable, build_context};
use crate::messaging::templates::render::{Rendered, TemplateSource};
use crate::messaging::tracking::links;
use crate::messaging::tracking::rewrite::add_tracking;
use crate::state::Shared;
use crate::tenancy::RequestCtx;
use crate::tenancy::scoped::{begin, find_live, scoped};

/// What stays the same for every lead of a send: the tenant, its custom
/// variables and the sender shown in `sender.*`.
pub(crate) struct Audience {
    pub tenant_name: String,
    pub custom_variables: Vec<(String, String)>,
    pub sender_name: Option<String>,
    pub sender_email: Option<String>,
}

impl Audience {
    pub(crate) async fn load(
        conn: &impl ConnectionTrait,
        tenant_id: Uuid,
        sender: Option<(Option<String>, String)>,
    ) -> AppResult<Self> {
        let tenant = tenants::Entity::find_by_id(tenant_id)
            .one(conn)
            .await?
            .ok_or(AppError::not_found("tenant"))?;
        Ok(Self {
            tenant_name: tenant.name,
            custom_variables: crate::messaging::custom_variables::service::active_values(
                conn, tenant_id,
            )
            .await?,
            sender_name: sender.as_ref().and_then(|(name, _)| name.clone()),
            sender_email: sender.map(|(_, email)| email),
        })
    }
}

impl Audience {
    /// The same tenant and variables, shown as sent by another account
    /// (a campaign renders per sender account it spreads over).
    pub(crate) fn for_sender(&self, name: Option<String>, email: Option<String>) -> Self {
        Self {
            tenant_name: self.tenant_name.clone(),
            custom_variables: self.custom_variables.clone(),
            sender_name: name,
            sender_email: email,
        }
    }
}

/// A lead with what its render context needs.
#[derive(Clone)]
pub(crate) struct Recipient {
    pub lead: leads::Model,
    pub tags: Vec<String>,
    pub company: Option<companies::Model>,
}

/// Loads leads with their tags and companies: three queries for any number.
pub(crate) async fn recipients(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    leads: Vec<leads::Model>,
) -> AppResult<Vec<Recipient>> {
    let ids: Vec<Uuid> = leads.iter().map(|l| l.id).collect();
    let company_ids: BTreeSet<Uuid> = leads.iter().filter_map(|l| l.company_id).collect();
    let mut tags: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
    for chunk in ids.chunks(500) {
        for tag in scoped::<lead_tags::Entity>(ctx)
            .filter(lead_tags::Column::LeadId.is_in(chunk.iter().copied()))
            .order_by_asc(lead_tags::Column::Tag)
            .all(conn)
            .await?
        {
            tags.entry(tag.lead_id).or_default().push(tag.tag);
        }
    }
    let mut companies_by_id = std::collections::HashMap::new();
    let company_ids: Vec<Uuid> = company_ids.into_iter().collect();
    for chunk in company_ids.chunks(500) {
        for company in scoped::<companies::Entity>(ctx)
            .filter(companies::Column::Id.is_in(chunk.iter().copied()))
            .all(conn)
            .await?
        {
            companies_by_id.insert(company.id, company);
        }
    }
    Ok(leads
        .into_iter()
        .map(|lead| Recipient {
            tags: tags.remove(&lead.id).unwrap_or_default(),
            company: lead
                .company_id
                .and_then(|id| companies_by_id.get(&id).cloned()),
            lead,
        })
        .collect())
}

/// The render context of one recipient.
fn context_for(batch: &Batch, draft: &Draft<impl Sized>) -> serde_json::Value {
    let (audience, recipient) = (&batch.audience, &draft.recipient);
    build_context(&ContextInput {
        lead: &recipient.lead,
        lead_tags: &recipient.tags,
        company: recipient.company.as_ref(),
        sender_name: audience.sender_name.as_deref(),
        sender_email: audience.sender_email.as_deref(),
        tenant_name: &audience.tenant_name,
        custom_variables: &audience.custom_variables,
        declared: &batch.declared,
        provided: &batch.provided,
        unsubscribe_url: &draft.unsubscribe_url,
    })
}

/// One message to render: its recipient, its unsubscribe link (which names
/// the message) and what the caller needs back with it (`key`).
pub(crate) struct Draft<K> {
    pub key: K,
    pub recipient: Recipient,
    pub unsubscribe_url: String,
}

/// What every message of a send shares.
pub(crate) struct Batch {
    pub template: TemplateSource,
    pub audience: Audience,
    pub declared: Vec<DeclaredVariable>,
    pub provided: serde_json::Map<String, serde_json::Value>,
}

/// A draft and its rendering; `None` when `max_rendered` was reached first.
pub(crate) type RenderedDraft<K> = (Draft<K>, Option<AppResult<Rendered>>);

/// Renders the drafts in order in the render workers (`templates::pool`),
/// at most `max_rendered` successfully. A render over the template limits
/// fails the whole batch with that error: it names the part to fix, and
/// every further lead would spend the whole budget again.
pub(crate) async fn render_drafts<K>(
    shared: &Shared,
    batch: Batch,
    drafts: Vec<Draft<K>>,
    max_rendered: usize,
) -> AppResult<Vec<RenderedDraft<K>>> {
    let contexts = drafts.iter().map(|draft| context_for(&batch, draft));
    let mut outcomes = shared
        .render_pool
        .render(&batch.template, contexts, max_rendered)
        .await?;
    let over_limits = outcomes
        .iter()
        .position(|outcome| matches!(outcome, Some(Err(AppError::LimitExceeded(_)))));
    if let Some(Some(Err(error))) = over_limits.map(|at| outcomes.swap_remove(at)) {
        return Err(error);
    }
    Ok(drafts.into_iter().zip(outcomes).collect())
}

/// The HTML with click redirects and the open pixel, and the original links
/// in order (stored so a click token can name a link by position).
pub(crate) fn track(
    shared: &Shared,
    tenant_id: Uuid,
    message_id: Uuid,
    html: &str,
) -> AppResult<(String, Vec<String>)> {
    let pixel = links::open_url(shared, tenant_id, message_id);
    let keep = |url: &str| links::is_unsubscribe_url(shared, url);
    let mut redirect = |position: usize, _original: &str| {
        links::click_url(
            shared,
            tenant_id,
            message_id,
            position.min(u16::MAX as usize) as u16,
        )
    };
    let tracked = add_tracking(html, Some(&pixel), &keep, &mut redirect)?;
    Ok((tracked.html, tracked.links))
}

/// `previewTemplate`: the template rendered for a lead, untracked.
pub(crate) async fn preview(
    shared: &Shared,
    ctx: &RequestCtx,
    template_id: Uuid,
    lead_id: Uuid,
    provided: &serde_json::Map<String, serde_json::Value>,
) -> AppResult<Rendered> {
    let txn = begin(&shared.db, ctx).await?;
    let template = find_live::<message_templates::Entity>(&txn, ctx, template_id)
        .await
        .map_err(|_| AppError::not_found("message template"))?;
    let lead = find_live::<leads::Entity>(&txn, ctx, lead_id).await?;
    let sender = crate::messaging::senders::service::candidates(&txn, ctx.tenant_id, None)
        .await?
        .into_iter()
        .next()
        .map(|s| (s.account.from_name, s.account.from_email));
    let audience = Audience::load(&txn, ctx.tenant_id, sender).await?;
    let recipient = recipients(&txn, ctx, vec![lead]).await?.remove(0);
    txn.commit().await?;
    let batch = Batch {
        template: TemplateSource::of(&crate::messaging::templates::service::parts(&template)),
        audience,
        declared: crate::messaging::templates::service::declared(&template),
        provided: provided.clone(),
    };
    let draft = Draft {
        key: (),
        recipient,
        unsubscribe_url: links::unsubscribe_url(shared, ctx.tenant_id, Uuid::nil()),
    };
    match render_drafts(shared, batch, vec![draft], 1).await?.pop() {
        Some((_, Some(rendered))) => rendered,
        _ => Err(AppError::internal(anyhow::anyhow!(
            "the preview was not rendered"
        ))),
    }
}
