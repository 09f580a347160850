//! GraphQL shapes of lead sources.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::lead_sources;
use entity::sea_orm_active_enums::LeadSourceType as LeadSourceTypeModel;

use crate::graphql::to_id;

/// The kind of channel a source is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadSourceType {
    Website,
    Form,
    Import,
    Api,
    Linkedin,
    Apollo,
    Hunter,
    GooglePlaces,
    Manual,
    Referral,
    Event,
    Email,
    PaidAds,
    Other,
}

impl From<LeadSourceTypeModel> for LeadSourceType {
    fn from(kind: LeadSourceTypeModel) -> Self {
        match kind {
            LeadSourceTypeModel::Website => Self::Website,
            LeadSourceTypeModel::Form => Self::Form,
            LeadSourceTypeModel::Import => Self::Import,
            LeadSourceTypeModel::Api => Self::Api,
            LeadSourceTypeModel::Linkedin => Self::Linkedin,
            LeadSourceTypeModel::Apollo => Self::Apollo,
            LeadSourceTypeModel::Hunter => Self::Hunter,
            LeadSourceTypeModel::GooglePlaces => Self::GooglePlaces,
            LeadSourceTypeModel::Manual => Self::Manual,
            LeadSourceTypeModel::Referral => Self::Referral,
            LeadSourceTypeModel::Event => Self::Event,
            LeadSourceTypeModel::Email => Self::Email,
            LeadSourceTypeModel::PaidAds => Self::PaidAds,
            LeadSourceTypeModel::Other => Self::Other,
        }
    }
}

impl From<LeadSourceType> for LeadSourceTypeModel {
    fn from(kind: LeadSourceType) -> Self {
        match kind {
            LeadSourceType::Website => Self::Website,
            LeadSourceType::Form => Self::Form,
            LeadSourceType::Import => Self::Import,
            LeadSourceType::Api => Self::Api,
            LeadSourceType::Linkedin => Self::Linkedin,
            LeadSourceType::Apollo => Self::Apollo,
            LeadSourceType::Hunter => Self::Hunter,
            LeadSourceType::GooglePlaces => Self::GooglePlaces,
            LeadSourceType::Manual => Self::Manual,
            LeadSourceType::Referral => Self::Referral,
            LeadSourceType::Event => Self::Event,
            LeadSourceType::Email => Self::Email,
            LeadSourceType::PaidAds => Self::PaidAds,
            LeadSourceType::Other => Self::Other,
        }
    }
}

/// A channel leads come from, with the UTM tags that identify it.
#[derive(SimpleObject)]
pub(crate) struct LeadSource {
    pub id: ID,
    /// Unique among your sources.
    pub name: String,
    #[graphql(name = "type")]
    pub source_type: LeadSourceType,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// Inactive sources stay on their leads but are not offered for new ones.
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<lead_sources::Model> for LeadSource {
    fn from(source: lead_sources::Model) -> Self {
        Self {
            id: to_id(source.id),
            name: source.name,
            source_type: source.source_type.into(),
            utm_source: source.utm_source,
            utm_medium: source.utm_medium,
            utm_campaign: source.utm_campaign,
            utm_term: source.utm_term,
            utm_content: source.utm_content,
            is_active: source.is_active,
            created_at: source.created_at.to_utc(),
        }
    }
}

/// A new lead source.
#[derive(InputObject)]
pub(super) struct CreateLeadSourceInput {
    pub name: String,
    #[graphql(name = "type")]
    pub source_type: LeadSourceType,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    /// True by default.
    pub is_active: Option<bool>,
}

/// Changes to a lead source. Absent fields stay as they are; `null` clears
/// a UTM tag.
#[derive(InputObject)]
pub(super) struct UpdateLeadSourceInput {
    pub name: Option<String>,
    #[graphql(name = "type")]
    pub source_type: Option<LeadSourceType>,
    pub utm_source: MaybeUndefined<String>,
    pub utm_medium: MaybeUndefined<String>,
    pub utm_campaign: MaybeUndefined<String>,
    pub utm_term: MaybeUndefined<String>,
    pub utm_content: MaybeUndefined<String>,
    pub is_active: Option<bool>,
}
