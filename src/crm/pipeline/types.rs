//! GraphQL shapes of the pipeline.

use async_graphql::{ID, InputObject, SimpleObject};

use entity::lead_stages;

use crate::graphql::to_id;

/// A stage of your pipeline.
#[derive(SimpleObject)]
pub(crate) struct LeadStage {
    pub id: ID,
    /// Unique in your pipeline.
    pub name: String,
    /// 0-based place in the pipeline.
    pub position: i32,
    /// `#rrggbb`.
    pub color: String,
    /// New leads land here. Exactly one stage is the default.
    pub is_default: bool,
    /// Leads here count as won.
    pub is_won: bool,
    /// Leads here count as lost.
    pub is_lost: bool,
}

impl From<lead_stages::Model> for LeadStage {
    fn from(stage: lead_stages::Model) -> Self {
        Self {
            id: to_id(stage.id),
            name: stage.name,
            position: stage.position,
            color: stage.color,
            is_default: stage.is_default,
            is_won: stage.is_won,
            is_lost: stage.is_lost,
        }
    }
}

/// A new stage.
#[derive(InputObject)]
pub(super) struct CreateLeadStageInput {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// Where to insert it (0 = first); after the last stage by default.
    pub position: Option<i32>,
    /// Makes it the default stage (the previous default stops being it).
    pub is_default: Option<bool>,
    pub is_won: Option<bool>,
    pub is_lost: Option<bool>,
}

/// Changes to a stage. Absent fields stay as they are.
#[derive(InputObject)]
pub(super) struct UpdateLeadStageInput {
    pub name: Option<String>,
    pub color: Option<String>,
    /// Moves the stage to this place (0 = first); the others close up.
    pub position: Option<i32>,
    /// `true` makes it the default stage; to stop it being the default, make
    /// another stage the default instead.
    pub is_default: Option<bool>,
    pub is_won: Option<bool>,
    pub is_lost: Option<bool>,
}
