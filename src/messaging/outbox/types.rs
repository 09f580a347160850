//! An email as the development outbox stored it.

use async_graphql::{ComplexObject, Context, ID, SimpleObject};
use chrono::{DateTime, Utc};

use entity::outbox_emails;

use crate::graphql::to_id;
use crate::messaging::messages::types::Message;

/// One email the development outbox took instead of an SMTP server.
#[derive(SimpleObject)]
#[graphql(complex)]
pub(crate) struct OutboxEmail {
    pub id: ID,
    pub message_id: ID,
    pub sender_id: Option<ID>,
    /// The envelope sender (`MAIL FROM`).
    pub envelope_from: String,
    pub recipient: String,
    pub subject: String,
    /// The whole RFC 5322 message, headers included (`Message-ID`,
    /// `List-Unsubscribe`), with tracked links and the open pixel, exactly
    /// as the SMTP transport would have sent it.
    pub raw: String,
    /// When the outbox took it.
    pub created_at: DateTime<Utc>,
}

#[ComplexObject]
impl OutboxEmail {
    /// The message, with its status, opens, clicks and events.
    async fn message(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Message>> {
        let id = crate::graphql::parse_id(&self.message_id, "messageId")?;
        Ok(
            crate::graphql::loaders::load_by_id::<entity::messages::Entity>(ctx, id)
                .await?
                .map(Message::from),
        )
    }
}

impl From<outbox_emails::Model> for OutboxEmail {
    fn from(row: outbox_emails::Model) -> Self {
        Self {
            id: to_id(row.id),
            message_id: to_id(row.message_id),
            sender_id: row.sender_id.map(to_id),
            envelope_from: row.envelope_from,
            recipient: row.recipient,
            subject: row.subject,
            raw: row.raw,
            created_at: row.created_at.to_utc(),
        }
    }
}
