//! One line of an import, done: read by the mapping, then created,
//! updated, merged into the lead with the same email, or skipped as a
//! duplicate, through the same lead rules as the API (`create_in`,
//! `update_in`). Each line runs in a savepoint, so a rejected line is
//! rolled back alone and the good ones around it stay. Preview runs the
//! same code in a transaction it rolls back.

use async_graphql::{InputType, Name, Value};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use uuid::Uuid;

use entity::{custom_field_definitions, lead_scoring_rules};

use super::mapping::{Mapping, RowError, Target, read_row};
use crate::attributes::AttributeValue;
use crate::crm::leads::attributes::LEAD_ATTRIBUTES;
use crate::crm::leads::events;
use crate::crm::leads::merge::as_update;
use crate::crm::leads::service::{PlanRoom, create_in, insert_tags, update_in};
use crate::crm::leads::types::CreateLeadInput;
use crate::error::{AppError, AppResult};
use crate::events::NewDomainEvent;
use crate::tenancy::RequestCtx;

/// What to do with a line whose email a live lead already has.
#[derive(
    async_graphql::Enum,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum DuplicatePolicy {
    /// Leave the lead as it is; the line counts as a duplicate skipped.
    #[default]
    Skip,
    /// Overwrite the lead's fields with the line's non-empty cells.
    Update,
    /// Fill only the lead's empty fields from the line; tags are added.
    Merge,
}

/// What the options add to every line (ids checked when the import starts).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Extras {
    pub tags: Vec<String>,
    pub stage_id: Option<Uuid>,
    pub source_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
}

/// What one line did.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Created(Uuid),
    Updated(Uuid),
    Skipped(Uuid),
    Failed(RowError),
    /// Nothing in it (a blank line).
    Blank,
}

/// Everything a line needs that stays the same for the whole import.
pub(crate) struct Lines<'a> {
    pub ctx: &'a RequestCtx,
    pub headers: &'a [String],
    pub mapping: &'a Mapping,
    pub definitions: &'a [custom_field_definitions::Model],
    pub policy: DuplicatePolicy,
    pub extras: &'a Extras,
    rules: Vec<lead_scoring_rules::Model>,
    /// How many more leads the plan allows.
    room: i64,
    limit: i64,
}

impl<'a> Lines<'a> {
    /// Ready to run lines in `txn`: the scoring rules and the room the plan
    /// leaves are read now (once per preview, once per chunk).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn load(
        txn: &DatabaseTransaction,
        ctx: &'a RequestCtx,
        headers: &'a [String],
        mapping: &'a Mapping,
        definitions: &'a [custom_field_definitions::Model],
        policy: DuplicatePolicy,
        extras: &'a Extras,
    ) -> AppResult<Self> {
        let rules = crate::crm::leads::service::rules(txn, ctx).await?;
        let (room, limit) = crate::crm::leads::service::room_left(txn, ctx).await?;
        Ok(Self {
            ctx,
            headers,
            mapping,
            definitions,
            policy,
            extras,
            rules,
            room,
            limit,
        })
    }

    /// Does one line in a savepoint of `txn`; its events are returned to be
    /// written with the chunk. Errors other than the line's own (the
    /// database going away) end the chunk.
    pub(crate) async fn run(
        &mut self,
        txn: &DatabaseTransaction,
        record: &[String],
    ) -> AppResult<(Outcome, Vec<NewDomainEvent>)> {
        if super::csv::is_blank(record) {
            return Ok((Outcome::Blank, Vec::new()));
        }
        let savepoint = txn.begin().await?;
        match self.line(&savepoint, record).await {
            Ok(done) => {
                savepoint.commit().await?;
                Ok(done)
            }
            Err(AppError::Internal(cause)) => Err(AppError::Internal(cause)),
            Err(error) => {
                savepoint.rollback().await?;
                Ok((Outcome::Failed(self.row_error(error)), Vec::new()))
            }
        }
    }

    async fn line(
        &mut self,
        txn: &DatabaseTransaction,
        record: &[String],
    ) -> AppResult<(Outcome, Vec<NewDomainEvent>)> {
        let row = match read_row(self.mapping, self.headers, record, self.definitions) {
            Ok(row) => row,
            Err(error) => return Ok((Outcome::Failed(error), Vec::new())),
        };
        let mut lead = row.lead;
        let mut tags = row.tags;
        tags.extend(self.extras.tags.iter().cloned());
        let company = match (&row.company_name, &row.company_website) {
            (None, None) => None,
            (name, website) => Some(
                crate::crm::companies::service::find_or_create(
                    txn,
                    self.ctx,
                    name.as_deref(),
                    website.as_deref(),
                    "row.companyWebsite",
                )
                .await?,
            ),
        };
        let email = match lead.get("email") {
            Some(Value::String(email)) => Some(email.to_lowercase()),
            _ => None,
        };
        let existing = match &email {
            None => None,
            Some(email) => {
                crate::crm::leads::fields::live_with_email(self.ctx, email)
                    .one(txn)
                    .await?
            }
        };
        let Some(current) = existing else {
            if self.room <= 0 {
                return Ok((
                    Outcome::Failed(RowError {
                        column: None,
                        message: format!(
                            "the plan allows {} leads: this line was not imported",
                            self.limit
                        ),
                    }),
                    Vec::new(),
                ));
            }
            let id = |v: Option<Uuid>| v.map(|id| Value::String(id.to_string()));
            for (key, value) in [
                ("stageId", id(self.extras.stage_id)),
                ("sourceId", id(self.extras.source_id)),
                ("projectId", id(self.extras.project_id)),
                ("companyId", id(company)),
            ] {
                if let Some(value) = value {
                    lead.insert(Name::new(key), value);
                }
            }
            let input = self.input(lead, tags, row.custom_fields)?;
            let created =
                create_in(txn, self.ctx, input, "row", &self.rules, PlanRoom::Counted).await?;
            self.room -= 1;
            return Ok((
                Outcome::Created(created.id),
                vec![events::created(&created)],
            ));
        };
        if self.policy == DuplicatePolicy::Skip {
            return Ok((Outcome::Skipped(current.id), Vec::new()));
        }
        let mut custom_fields = row.custom_fields;
        if self.policy == DuplicatePolicy::Merge {
            // Only what the lead does not have yet.
            lead.retain(|name, _| {
                LEAD_ATTRIBUTES
                    .iter()
                    .find(|a| a.name == name.as_str())
                    .is_none_or(|a| matches!((a.value)(&current), AttributeValue::Missing))
            });
            custom_fields
                .retain(|key, _| current.custom_fields.get(key).is_none_or(|v| v.is_null()));
        }
        let keep_company = self.policy == DuplicatePolicy::Merge && current.company_id.is_some();
        if let Some(company) = company.filter(|_| !keep_company) {
            lead.insert(Name::new("companyId"), Value::String(company.to_string()));
        }
        let input = self.input(lead, Vec::new(), custom_fields)?;
        let (update, _) = as_update(input);
        let tags = crate::crm::leads::fields::tags(tags, "row.tags")?;
        let before = current.clone();
        let tags_added = insert_tags(txn, self.ctx, current.id, &tags).await?;
        let updated = update_in(txn, self.ctx, current, update, "row", &self.rules).await?;
        let changes = events::changed(&before, &updated, tags_added > 0);
        Ok((Outcome::Updated(updated.id), changes))
    }

    /// The line as the `createLead` input, parsed as the API parses it.
    fn input(
        &self,
        mut lead: async_graphql::indexmap::IndexMap<Name, Value>,
        tags: Vec<String>,
        custom_fields: serde_json::Map<String, serde_json::Value>,
    ) -> AppResult<CreateLeadInput> {
        if !tags.is_empty() {
            lead.insert(
                Name::new("tags"),
                Value::List(tags.into_iter().map(Value::String).collect()),
            );
        }
        if !custom_fields.is_empty() {
            lead.insert(
                Name::new("customFields"),
                Value::from_json(serde_json::Value::Object(custom_fields))
                    .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?,
            );
        }
        CreateLeadInput::parse(Some(Value::Object(lead)))
            .map_err(|e| AppError::invalid("row", e.into_server_error(Default::default()).message))
    }

    /// A rule's error as the line's: the field `row.<target>` is the
    /// column mapped to that target.
    fn row_error(&self, error: AppError) -> RowError {
        let field = error.field().unwrap_or_default().to_owned();
        let message = match error {
            // The column is named beside it: the message alone.
            AppError::BadUserInput { message, .. } | AppError::Conflict { message, .. } => message,
            other => other.public_message(),
        };
        let target = field.strip_prefix("row.").unwrap_or_default();
        let column = self
            .mapping
            .columns
            .iter()
            .position(|t| {
                t.as_ref().is_some_and(|t| {
                    let name = t.name();
                    target == name
                        || target.starts_with(&format!("{name}."))
                        || (matches!(t, Target::CompanyWebsite | Target::CompanyName)
                            && target.starts_with("company"))
                })
            })
            .and_then(|i| self.headers.get(i).cloned());
        RowError { column, message }
    }
}
