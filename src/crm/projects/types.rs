//! GraphQL shapes of projects.

use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use chrono::{DateTime, Utc};

use entity::projects;
use entity::sea_orm_active_enums::ProjectStatus as ProjectStatusModel;

use crate::graphql::to_id;

/// Whether a project is being worked on.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectStatus {
    Active,
    Paused,
    Archived,
}

impl From<ProjectStatusModel> for ProjectStatus {
    fn from(status: ProjectStatusModel) -> Self {
        match status {
            ProjectStatusModel::Active => Self::Active,
            ProjectStatusModel::Paused => Self::Paused,
            ProjectStatusModel::Archived => Self::Archived,
        }
    }
}

impl From<ProjectStatus> for ProjectStatusModel {
    fn from(status: ProjectStatus) -> Self {
        match status {
            ProjectStatus::Active => Self::Active,
            ProjectStatus::Paused => Self::Paused,
            ProjectStatus::Archived => Self::Archived,
        }
    }
}

/// A product or campaign line your tenant markets.
#[derive(SimpleObject)]
pub(crate) struct Project {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    /// Who the project is for, in a sentence or two.
    pub target_audience: Option<String>,
    /// Subjects content for this project should cover.
    pub content_topics: Vec<String>,
    /// How the project speaks (tone, words to use and avoid).
    pub brand_voice: Option<String>,
    /// New leads wanted per month.
    pub monthly_lead_goal: Option<i32>,
    pub status: ProjectStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<projects::Model> for Project {
    fn from(project: projects::Model) -> Self {
        Self {
            id: to_id(project.id),
            content_topics: project
                .content_topics
                .as_array()
                .map(|topics| {
                    topics
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            name: project.name,
            description: project.description,
            target_audience: project.target_audience,
            brand_voice: project.brand_voice,
            monthly_lead_goal: project.monthly_lead_goal,
            status: project.status.into(),
            created_at: project.created_at.to_utc(),
            updated_at: project.updated_at.to_utc(),
        }
    }
}

/// A new project.
#[derive(InputObject)]
pub(super) struct CreateProjectInput {
    pub name: String,
    pub description: Option<String>,
    pub target_audience: Option<String>,
    /// Distinct, non-blank topics; none by default.
    pub content_topics: Option<Vec<String>>,
    pub brand_voice: Option<String>,
    /// Zero or more.
    pub monthly_lead_goal: Option<i32>,
    /// ACTIVE by default.
    pub status: Option<ProjectStatus>,
}

/// Changes to a project. Absent fields stay as they are; `null` clears a
/// nullable field.
#[derive(InputObject)]
pub(super) struct UpdateProjectInput {
    pub name: Option<String>,
    pub description: MaybeUndefined<String>,
    pub target_audience: MaybeUndefined<String>,
    /// Replaces the topics.
    pub content_topics: Option<Vec<String>>,
    pub brand_voice: MaybeUndefined<String>,
    pub monthly_lead_goal: MaybeUndefined<i32>,
    pub status: Option<ProjectStatus>,
}
