//! A chunk of an import's lines, done: each read by the mapping, then
//! created, updated, merged into the lead with the same email, or skipped
//! as a duplicate, by the same lead rules as the API. New leads go through
//! `createLead`'s own set-based path (`leads::create`: the chunk's
//! references and duplicates read once, one insert per table), updates
//! through `update_in`, each in a savepoint so a rejected line is rolled
//! back alone and the good ones around it stay. Preview runs the same code
//! in a transaction it rolls back.

use std::collections::HashMap;

use async_graphql::{Name, Value};
use chrono::Utc;
use sea_orm::{DatabaseTransaction, TransactionTrait};
use uuid::Uuid;

use entity::{custom_field_definitions, lead_scoring_rules, leads};

use super::mapping::{Mapping, Row, RowError, Target, read_row};
use crate::crm::leads::create::{self, NewLead, Refs};
use crate::crm::leads::events;
use crate::crm::leads::merge::{as_update, create_input, only_blanks};
use crate::crm::leads::service::{insert_tags, update_in};
use crate::crm::leads::types::CreateLeadInput;
use crate::domain::EmailAddress;
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

/// A line read by the mapping, waiting for the chunk's lookups.
struct ReadLine {
    /// Its place among the chunk's outcomes.
    at: usize,
    row: Row,
    company: Option<Uuid>,
    /// Its email, lowercase.
    email: Option<String>,
    /// What it would create, or why it cannot.
    input: AppResult<CreateLeadInput>,
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

    /// Does a chunk of lines in `txn` and returns what each did, with the
    /// events to write with the chunk. New leads are checked in memory
    /// against what the whole chunk references (read once) and written
    /// together at the end; a line that updates a lead runs in a savepoint
    /// of its own, after the new leads before it are written. Errors other
    /// than a line's own (the database going away, an email taken by a
    /// concurrent write) end the chunk, which the job then retries whole.
    pub(crate) async fn run_chunk(
        &mut self,
        txn: &DatabaseTransaction,
        records: &[Vec<String>],
    ) -> AppResult<(Vec<Outcome>, Vec<NewDomainEvent>)> {
        let mut outcomes = Vec::with_capacity(records.len());
        let mut read = Vec::with_capacity(records.len());
        let mut companies: HashMap<(Option<String>, Option<String>), Result<Uuid, RowError>> =
            HashMap::new();
        for record in records {
            if super::csv::is_blank(record) {
                outcomes.push(Outcome::Blank);
                continue;
            }
            let row = match read_row(self.mapping, self.headers, record, self.definitions) {
                Ok(row) => row,
                Err(error) => {
                    outcomes.push(Outcome::Failed(error));
                    continue;
                }
            };
            let company = match (&row.company_name, &row.company_website) {
                (None, None) => None,
                (name, website) => {
                    let key = (name.as_deref().map(str::to_lowercase), website.clone());
                    let found = match companies.get(&key) {
                        Some(found) => found.clone(),
                        None => {
                            let found = self.company(txn, name, website).await?;
                            companies.insert(key, found.clone());
                            found
                        }
                    };
                    match found {
                        Ok(id) => Some(id),
                        Err(error) => {
                            outcomes.push(Outcome::Failed(error));
                            continue;
                        }
                    }
                }
            };
            let email = match row.lead.get("email") {
                Some(Value::String(email)) => Some(EmailAddress::normalize(email)),
                _ => None,
            };
            let input = self.create_input(&row, company);
            // Filled in below.
            outcomes.push(Outcome::Blank);
            read.push(ReadLine {
                at: outcomes.len() - 1,
                row,
                company,
                email,
                input,
            });
        }
        let mut refs = Refs::load(
            txn,
            self.ctx,
            read.iter().filter_map(|line| line.input.as_ref().ok()),
            read.iter().filter_map(|line| line.email.clone()),
            &self.rules,
        )
        .await?;
        let now = Utc::now().fixed_offset();
        let mut pending: Vec<NewLead> = Vec::new();
        let mut events = Vec::new();
        for line in read {
            let current = line
                .email
                .as_deref()
                .and_then(|email| refs.lead_with_email(email))
                .cloned();
            outcomes[line.at] = match current {
                Some(current) if self.policy == DuplicatePolicy::Skip => {
                    Outcome::Skipped(current.id)
                }
                Some(current) => {
                    // The lead may be one of this chunk's: written first.
                    if pending.iter().any(|new| new.lead.id == current.id) {
                        create::insert(txn, self.ctx, &pending).await?;
                        pending.clear();
                    }
                    let savepoint = txn.begin().await?;
                    match self
                        .update(&savepoint, line.row, line.company, current)
                        .await
                    {
                        Ok((updated, changes)) => {
                            savepoint.commit().await?;
                            events.extend(changes);
                            refs.claim(&updated);
                            Outcome::Updated(updated.id)
                        }
                        Err(AppError::Internal(cause)) => return Err(AppError::Internal(cause)),
                        Err(error) => {
                            savepoint.rollback().await?;
                            Outcome::Failed(self.row_error(error))
                        }
                    }
                }
                None if self.room <= 0 => Outcome::Failed(RowError {
                    column: None,
                    message: format!(
                        "the plan allows {} leads: this line was not imported",
                        self.limit
                    ),
                }),
                None => match line.input.and_then(|input| {
                    create::prepare(self.ctx, input, "row", &self.rules, &refs, now)
                }) {
                    Ok(new) => {
                        refs.claim(&new.lead);
                        self.room -= 1;
                        events.push(events::created(&new.lead));
                        let id = new.lead.id;
                        pending.push(new);
                        Outcome::Created(id)
                    }
                    Err(error) => Outcome::Failed(self.row_error(error)),
                },
            };
        }
        create::insert(txn, self.ctx, &pending).await?;
        Ok((outcomes, events))
    }

    /// The company a line names, found or created (in a savepoint: a
    /// refused one fails the lines that name it, and only them).
    async fn company(
        &self,
        txn: &DatabaseTransaction,
        name: &Option<String>,
        website: &Option<String>,
    ) -> AppResult<Result<Uuid, RowError>> {
        let savepoint = txn.begin().await?;
        match crate::crm::companies::service::find_or_create(
            &savepoint,
            self.ctx,
            name.as_deref(),
            website.as_deref(),
            "row.companyWebsite",
        )
        .await
        {
            Ok(id) => {
                savepoint.commit().await?;
                Ok(Ok(id))
            }
            Err(AppError::Internal(cause)) => Err(AppError::Internal(cause)),
            Err(error) => {
                savepoint.rollback().await?;
                Ok(Err(self.row_error(error)))
            }
        }
    }

    /// A new lead's `createLead` input: the line, the options and the
    /// company.
    fn create_input(&self, row: &Row, company: Option<Uuid>) -> AppResult<CreateLeadInput> {
        let mut lead = row.lead.clone();
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
        let mut tags = row.tags.clone();
        tags.extend(self.extras.tags.iter().cloned());
        self.input(lead, tags, row.custom_fields.clone())
    }

    /// Updates the lead with the line's email under the duplicate policy.
    async fn update(
        &self,
        txn: &DatabaseTransaction,
        row: Row,
        company: Option<Uuid>,
        current: leads::Model,
    ) -> AppResult<(leads::Model, Vec<NewDomainEvent>)> {
        let mut lead = row.lead;
        let mut tags = row.tags;
        tags.extend(self.extras.tags.iter().cloned());
        let mut custom_fields = row.custom_fields;
        if self.policy == DuplicatePolicy::Merge {
            only_blanks(&mut lead, &mut custom_fields, &current);
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
        Ok((updated, changes))
    }

    /// The line as the `createLead` input, parsed as the API parses it.
    fn input(
        &self,
        lead: async_graphql::indexmap::IndexMap<Name, Value>,
        tags: Vec<String>,
        custom_fields: serde_json::Map<String, serde_json::Value>,
    ) -> AppResult<CreateLeadInput> {
        create_input(lead, tags, custom_fields, "row")
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
