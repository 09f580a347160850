//! GraphQL shapes of message templates.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::message_templates;
use entity::sea_orm_active_enums as db;

use super::render::{DeclaredVariable, Rendered};
use crate::graphql::to_id;
use crate::messaging::engagement::types::rate;

/// Where a message goes out. Only `EMAIL` sends today; the others share the
/// template model.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::MessageChannel")]
pub enum MessageChannel {
    Email,
    Sms,
    Whatsapp,
    Linkedin,
    Voice,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "db::TemplateCategory")]
pub enum TemplateCategory {
    InitialOutreach,
    FollowUp,
    MeetingRequest,
    Introduction,
    ProductDemo,
    Partnership,
    Welcome,
    Nurture,
    Promotional,
    General,
    Other,
}

/// A variable a template declares: senders may pass a value, else `default`.
#[derive(SimpleObject, InputObject, Clone, Debug)]
#[graphql(input_name = "TemplateVariableInput")]
pub(crate) struct TemplateVariable {
    pub name: String,
    pub default: Option<String>,
}

impl From<DeclaredVariable> for TemplateVariable {
    fn from(v: DeclaredVariable) -> Self {
        Self {
            name: v.name,
            default: v.default,
        }
    }
}

impl From<TemplateVariable> for DeclaredVariable {
    fn from(v: TemplateVariable) -> Self {
        Self {
            name: v.name,
            default: v.default,
        }
    }
}

/// A reusable message. Bodies use Jinja syntax over `lead`, `company`,
/// `sender`, `tenant`, `vars` (custom variables), `unsubscribeUrl` and the
/// declared variables; an unknown name is refused when the template is saved.
#[derive(SimpleObject)]
pub(crate) struct MessageTemplate {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub channel: MessageChannel,
    pub category: TemplateCategory,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub variables: Vec<TemplateVariable>,
    pub is_active: bool,
    /// The one a picker preselects for its channel and category.
    pub is_default: bool,
    /// Messages created from it.
    pub usage_count: i32,
    pub sent_count: i32,
    pub delivered_count: i32,
    /// Messages a person opened (machine opens excluded).
    pub opened_count: i32,
    pub clicked_count: i32,
    pub replied_count: i32,
    pub bounced_count: i32,
    pub complained_count: i32,
    pub unsubscribed_count: i32,
    /// opened / sent, human opens only; 0 before anything was sent.
    pub open_rate: f64,
    pub click_rate: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<message_templates::Model> for MessageTemplate {
    fn from(t: message_templates::Model) -> Self {
        Self {
            id: to_id(t.id),
            variables: super::service::declared(&t)
                .into_iter()
                .map(TemplateVariable::from)
                .collect(),
            name: t.name,
            description: t.description,
            channel: t.channel.into(),
            category: t.category.into(),
            subject: t.subject,
            text_body: t.text_body,
            html_body: t.html_body,
            is_active: t.is_active,
            is_default: t.is_default,
            usage_count: t.usage_count,
            open_rate: rate(t.opened_count.into(), t.sent_count.into()),
            click_rate: rate(t.clicked_count.into(), t.sent_count.into()),
            sent_count: t.sent_count,
            delivered_count: t.delivered_count,
            opened_count: t.opened_count,
            clicked_count: t.clicked_count,
            replied_count: t.replied_count,
            bounced_count: t.bounced_count,
            complained_count: t.complained_count,
            unsubscribed_count: t.unsubscribed_count,
            created_at: t.created_at.to_utc(),
            updated_at: t.updated_at.to_utc(),
        }
    }
}

#[derive(InputObject)]
pub(crate) struct CreateMessageTemplateInput {
    pub name: String,
    pub description: Option<String>,
    #[graphql(default_with = "MessageChannel::Email")]
    pub channel: MessageChannel,
    #[graphql(default_with = "TemplateCategory::General")]
    pub category: TemplateCategory,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    #[graphql(default)]
    pub variables: Vec<TemplateVariable>,
    pub is_active: Option<bool>,
    pub is_default: Option<bool>,
}

/// Absent fields stay; `null` clears a nullable one.
#[derive(InputObject)]
pub(crate) struct UpdateMessageTemplateInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    pub category: Option<TemplateCategory>,
    pub subject: MaybeUndefined<String>,
    pub text_body: MaybeUndefined<String>,
    pub html_body: MaybeUndefined<String>,
    pub variables: Option<Vec<TemplateVariable>>,
    pub is_active: Option<bool>,
    pub is_default: Option<bool>,
}

/// A template rendered for one lead.
#[derive(SimpleObject)]
pub(crate) struct RenderedMessage {
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
}

impl From<Rendered> for RenderedMessage {
    fn from(r: Rendered) -> Self {
        Self {
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
        }
    }
}
