//! The demo tenant a newcomer signs in to on a fresh development database:
//! companies and leads across the pipeline with tags, scores, custom fields,
//! notes and a timeline; templates; a sender on the development outbox; and
//! emails sent over the last weeks with their opens and clicks.
//!
//! Everything a client could create is created through the GraphQL API
//! (`operations.graphql`, fed by `data.json`), with the owner's
//! credentials, so the demo holds only what the API accepts. Only the past
//! is written directly: the API records things as happening now, and the
//! demo's emails were sent days ago.

use async_graphql::{Request, Variables};
use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use entity::sea_orm_active_enums::EngagementType;
use entity::{engagement_events, leads, messages, outbox_emails};

use crate::error::{AppError, AppResult};
use crate::identity::auth::service::sign_up;
use crate::identity::auth::types::SignUpInput;
use crate::messaging::engagement::recorder::{NewEvent, record_now};
use crate::state::AppState;
use crate::tenancy::scoped::{ReadScope, RequestTxn, begin_for_write, tenant_update};
use crate::tenancy::{Actor, RequestCtx, RequestMeta, Role};

pub const DEMO_EMAIL: &str = "demo@promohub.local";
/// A development-only password, printed at start-up. Production never seeds.
pub const DEMO_PASSWORD: &str = "promohub-demo-password";
pub const DEMO_SLUG: &str = "demo";

const OPERATIONS: &str = include_str!("operations.graphql");
const DATA: &str = include_str!("data.json");

/// Seeds the demo tenant when the database has no tenant yet. Returns true
/// when it seeded.
pub async fn seed_if_empty(state: &AppState) -> AppResult<bool> {
    let tenants = entity::tenants::Entity::find()
        .count(&state.shared.db)
        .await?;
    if tenants > 0 {
        return Ok(false);
    }
    seed(state).await?;
    Ok(true)
}

/// Seeds the demo tenant, its owner and its data (fails with CONFLICT if
/// the owner or the tenant exist).
pub async fn seed(state: &AppState) -> AppResult<()> {
    let input = SignUpInput {
        email: DEMO_EMAIL.to_owned(),
        password: DEMO_PASSWORD.to_owned(),
        name: "Demo Owner".to_owned(),
        tenant_name: "Demo Company".to_owned(),
        tenant_slug: DEMO_SLUG.to_owned(),
    };
    let session = sign_up(&state.shared, &RequestMeta::default(), input).await?;
    let owner = RequestCtx {
        tenant_id: session.tenant.id,
        role: Role::Owner,
        actor: Actor::User {
            user_id: session.user.id,
        },
        expires_at: None,
        txn: RequestTxn::default(),
    };
    let data: DemoData = serde_json::from_str(DATA)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("src/demo/data.json: {e}")))?;
    Seeder { state, owner }.populate(data).await
}

/// Whether the demo owner exists (`serve` then says how to sign in).
pub async fn is_present(state: &AppState) -> bool {
    entity::users::Entity::find()
        .filter(crate::identity::auth::service::user_email_is(DEMO_EMAIL))
        .count(&state.shared.db)
        .await
        .is_ok_and(|n| n > 0)
}

/// What `serve` prints so a newcomer can sign in and find their way.
pub fn credentials_banner(public_url: &str) -> String {
    format!(
        "demo tenant '{DEMO_SLUG}' ready: open {public_url}/graphql and sign in with email \
         {DEMO_EMAIL} and password {DEMO_PASSWORD} (the Sign in tab). Try \
         {{ leads(first: 10) {{ nodes {{ firstName company {{ name }} stage {{ name }} }} }} }}; \
         emails sent by the demo sender land in {{ outboxEmails {{ nodes {{ subject recipient message {{ openCount clickCount }} }} }} }}"
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoData {
    custom_fields: Vec<Value>,
    scoring_rules: Vec<Value>,
    sources: Vec<Value>,
    templates: Vec<Value>,
    sender: Value,
    companies: Vec<DemoCompany>,
    leads_without_company: Vec<DemoLead>,
    #[serde(default)]
    segments: Vec<DemoSegment>,
}

/// A segment, and for a static one the filter that picks its members.
#[derive(Deserialize)]
struct DemoSegment {
    input: Value,
    members: Option<Value>,
}

#[derive(Deserialize)]
struct DemoCompany {
    input: Value,
    #[serde(default)]
    notes: Vec<String>,
    leads: Vec<DemoLead>,
}

#[derive(Deserialize)]
struct DemoLead {
    input: Value,
    stage: String,
    source: String,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    activities: Vec<DemoActivity>,
    #[serde(default)]
    messages: Vec<DemoMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoActivity {
    kind: String,
    summary: String,
    detail: Option<String>,
    days_ago: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoMessage {
    template: String,
    days_ago: i64,
    opens: u32,
    clicks: u32,
}

/// A message the demo sent, with the history to give it.
struct Sent {
    message_id: Uuid,
    lead_id: Uuid,
    history: DemoMessage,
}

struct Seeder<'a> {
    state: &'a AppState,
    owner: RequestCtx,
}

impl Seeder<'_> {
    /// Runs one operation of `operations.graphql` as the owner and returns
    /// its `data`; any GraphQL error fails the seed, naming the operation.
    async fn run(&self, operation: &str, variables: Value) -> AppResult<Value> {
        let variables = Variables::from_json(variables);
        let request = Request::new(OPERATIONS)
            .operation_name(operation)
            .variables(variables.clone());
        let scope = ReadScope::new(self.state.shared.db.clone(), self.owner.clone());
        let (request, schema) = crate::http::graphql::prepare(
            self.state,
            request,
            None,
            Some(self.owner.clone()),
            Some(&scope),
            RequestMeta::default(),
            variables,
        );
        let response = schema.execute(request).await;
        if let Some(error) = response.errors.first() {
            return Err(AppError::Internal(anyhow::anyhow!(
                "demo operation {operation}: {}",
                error.message
            )));
        }
        response
            .data
            .into_json()
            .map_err(|e| AppError::Internal(anyhow::anyhow!("demo operation {operation}: {e}")))
    }

    async fn id_of(&self, operation: &str, field: &str, input: &Value) -> AppResult<String> {
        let data = self.run(operation, json!({ "input": input })).await?;
        Ok(data[field]["id"].as_str().unwrap_or_default().to_owned())
    }

    async fn populate(&self, data: DemoData) -> AppResult<()> {
        for input in &data.custom_fields {
            self.id_of("CreateCustomField", "createCustomFieldDefinition", input)
                .await?;
        }
        for input in &data.scoring_rules {
            self.id_of("CreateScoringRule", "createScoringRule", input)
                .await?;
        }
        let mut sources = std::collections::HashMap::new();
        for input in &data.sources {
            let id = self
                .id_of("CreateSource", "createLeadSource", input)
                .await?;
            sources.insert(input["name"].as_str().unwrap_or_default().to_owned(), id);
        }
        let stages = self.run("Stages", json!({})).await?;
        let stages: std::collections::HashMap<String, String> = stages["leadStages"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["name"].as_str().unwrap_or_default().to_owned(),
                    s["id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let mut templates = std::collections::HashMap::new();
        for input in &data.templates {
            let id = self
                .id_of("CreateTemplate", "createMessageTemplate", input)
                .await?;
            templates.insert(input["name"].as_str().unwrap_or_default().to_owned(), id);
        }
        let sender = self
            .id_of("CreateSender", "createSenderAccount", &data.sender)
            .await?;

        let mut sent = Vec::new();
        let mut to_send = Vec::new();
        let unattached = data
            .leads_without_company
            .into_iter()
            .map(|lead| (None, lead));
        let mut all_leads = Vec::new();
        for company in data.companies {
            let company_id = self
                .id_of("CreateCompany", "createCompany", &company.input)
                .await?;
            for body in &company.notes {
                self.id_of(
                    "CreateNote",
                    "createNote",
                    &json!({ "companyId": company_id, "body": body }),
                )
                .await?;
            }
            all_leads.extend(
                company
                    .leads
                    .into_iter()
                    .map(|lead| (Some(company_id.clone()), lead)),
            );
        }
        all_leads.extend(unattached);

        for (company_id, lead) in all_leads {
            let mut input = lead.input;
            input["companyId"] = json!(company_id);
            input["stageId"] = json!(
                stages
                    .get(&lead.stage)
                    .ok_or_else(|| missing("stage", &lead.stage))?
            );
            input["sourceId"] = json!(
                sources
                    .get(&lead.source)
                    .ok_or_else(|| missing("source", &lead.source))?
            );
            let lead_id = self.id_of("CreateLead", "createLead", &input).await?;
            for body in &lead.notes {
                self.id_of(
                    "CreateNote",
                    "createNote",
                    &json!({ "leadId": lead_id, "body": body }),
                )
                .await?;
            }
            for activity in &lead.activities {
                let at = Utc::now() - Duration::days(activity.days_ago);
                self.id_of(
                    "LogActivity",
                    "logActivity",
                    &json!({ "leadId": lead_id, "kind": activity.kind, "summary": activity.summary,
                             "detail": activity.detail, "occurredAt": at.to_rfc3339() }),
                )
                .await?;
            }
            to_send.extend(lead.messages.into_iter().map(|m| (lead_id.clone(), m)));
        }
        for segment in &data.segments {
            let id = self
                .id_of("CreateSegment", "createSegment", &segment.input)
                .await?;
            if let Some(filter) = &segment.members {
                self.run("AddToSegment", json!({ "segmentId": id, "filter": filter }))
                    .await?;
            }
        }
        // Oldest first, so the outbox (newest first) reads as a timeline.
        to_send.sort_by_key(|(_, message)| std::cmp::Reverse(message.days_ago));
        for (lead_id, message) in to_send {
            let template_id = templates
                .get(&message.template)
                .ok_or_else(|| missing("template", &message.template))?;
            let message_id = self
                .id_of(
                    "Send",
                    "sendMessage",
                    &json!({ "leadId": lead_id, "templateId": template_id, "senderId": sender }),
                )
                .await?;
            sent.push(Sent {
                message_id: parse(&message_id)?,
                lead_id: parse(&lead_id)?,
                history: message,
            });
        }
        // Deliver now (into the outbox), then move each message to its day.
        self.deliver_all().await?;
        self.write_history(&sent).await
    }

    /// Runs the delivery jobs here rather than waiting for the workers, and
    /// waits for any a worker of this process took first.
    async fn deliver_all(&self) -> AppResult<()> {
        let shared = &self.state.shared;
        for _ in 0..300 {
            while crate::jobs::runner::run_due(shared, "demo-seed").await? > 0 {}
            let txn =
                crate::tenancy::scoped::begin_for(&shared.db, self.owner.tenant_id, None).await?;
            let queued = messages::Entity::find()
                .filter(messages::Column::TenantId.eq(self.owner.tenant_id))
                .filter(
                    messages::Column::Status
                        .eq(entity::sea_orm_active_enums::MessageStatus::Queued),
                )
                .count(&txn)
                .await?;
            txn.commit().await?;
            if queued == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(AppError::Internal(anyhow::anyhow!(
            "the demo emails were not delivered to the outbox within 30 s"
        )))
    }

    /// Moves each demo message (its queueing, sending, outbox copy and its
    /// lead's creation) to the day it was sent, then records its opens and
    /// clicks in the hours after.
    async fn write_history(&self, sent: &[Sent]) -> AppResult<()> {
        let tenant_id = self.owner.tenant_id;
        let shared = &self.state.shared;
        let mut events = Vec::new();
        let txn = begin_for_write(&shared.db, tenant_id, None).await?;
        for message in sent {
            let at = (Utc::now() - Duration::days(message.history.days_ago)).fixed_offset();
            tenant_update::<messages::Entity>(tenant_id)
                .col_expr(messages::Column::QueuedAt, Expr::val(at))
                .col_expr(messages::Column::SentAt, Expr::val(at))
                .col_expr(messages::Column::CreatedAt, Expr::val(at))
                .filter(messages::Column::Id.eq(message.message_id))
                .exec(&txn)
                .await?;
            tenant_update::<engagement_events::Entity>(tenant_id)
                .col_expr(engagement_events::Column::OccurredAt, Expr::val(at))
                .filter(engagement_events::Column::MessageId.eq(message.message_id))
                .filter(engagement_events::Column::EventType.eq(EngagementType::Sent))
                .exec(&txn)
                .await?;
            tenant_update::<outbox_emails::Entity>(tenant_id)
                .col_expr(outbox_emails::Column::CreatedAt, Expr::val(at))
                .filter(outbox_emails::Column::MessageId.eq(message.message_id))
                .exec(&txn)
                .await?;
            // A lead is created before its first email.
            tenant_update::<leads::Entity>(tenant_id)
                .col_expr(leads::Column::CreatedAt, Expr::val(at - Duration::days(2)))
                .filter(leads::Column::Id.eq(message.lead_id))
                .filter(leads::Column::CreatedAt.gt(at - Duration::days(2)))
                .exec(&txn)
                .await?;
            let history = &message.history;
            for n in 0..history.opens {
                let hours = 2 + 7 * i64::from(n);
                events.push(NewEvent {
                    occurred_at: (at + Duration::hours(hours)).to_utc(),
                    user_agent: Some("Mozilla/5.0 (demo)".to_owned()),
                    ..NewEvent::new(EngagementType::Opened, message.message_id, "tracker")
                });
            }
            for n in 0..history.clicks {
                let hours = 3 + 7 * i64::from(n);
                events.push(NewEvent {
                    occurred_at: (at + Duration::hours(hours)).to_utc(),
                    url: Some("https://promohub.example/start".to_owned()),
                    user_agent: Some("Mozilla/5.0 (demo)".to_owned()),
                    ..NewEvent::new(EngagementType::Clicked, message.message_id, "tracker")
                });
            }
        }
        txn.commit().await?;
        events.sort_by_key(|event| event.occurred_at);
        record_now(shared, tenant_id, events).await?;
        Ok(())
    }
}

fn missing(what: &str, name: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!(
        "src/demo/data.json names an unknown {what} {name:?}"
    ))
}

fn parse(id: &str) -> AppResult<Uuid> {
    Uuid::parse_str(id)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the API answered an id {id:?}: {e}")))
}
