//! Writing, versioning and reading notes.
//!
//! Rules: a note belongs to exactly one live lead or company of the caller's
//! tenant; only its author or an admin/owner edits or deletes it; every edit
//! first copies the current text into `note_versions`, so nothing written is
//! ever lost; deletion is soft.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, QueryFilter, Set};
use uuid::Uuid;

use entity::sea_orm_active_enums::ActivityType;
use entity::{companies, leads, note_versions, notes};

use crate::domain::required_text;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{Order, Page, PageArgs, Totals, list_by_id};
use crate::state::Shared;
use crate::tenancy::scoped::{begin, begin_write, find_owned, scoped, tenant_update};
use crate::tenancy::{RequestCtx, Role};

/// Longest note body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;

/// What a note is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Lead(Uuid),
    Company(Uuid),
}

impl Subject {
    /// Exactly one of the two ids; `prefix` starts the error path (`input`
    /// for `createNote`, empty for the arguments of the `notes` query).
    pub fn from_pair(
        lead_id: Option<Uuid>,
        company_id: Option<Uuid>,
        prefix: &str,
    ) -> AppResult<Self> {
        let path = |name: &str| {
            if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            }
        };
        match (lead_id, company_id) {
            (Some(lead), None) => Ok(Self::Lead(lead)),
            (None, Some(company)) => Ok(Self::Company(company)),
            (Some(_), Some(_)) => Err(AppError::invalid(
                path("companyId"),
                "give either leadId or companyId, not both",
            )),
            (None, None) => Err(AppError::invalid(
                path("leadId"),
                "give either leadId or companyId",
            )),
        }
    }
}

/// `createNote`.
pub struct NewNote {
    pub subject: Subject,
    pub body: String,
    pub is_internal: bool,
}

/// `updateNote`: `None` leaves a field as it is.
pub struct NoteChanges {
    pub body: Option<String>,
    pub is_internal: Option<bool>,
}

/// The lead or company, in the caller's tenant and not deleted; otherwise
/// `NOT_FOUND` (a deleted record takes no new notes).
async fn ensure_live_subject(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    subject: Subject,
) -> AppResult<()> {
    let deleted = match subject {
        Subject::Lead(id) => find_owned::<leads::Entity>(conn, ctx, id, "lead")
            .await?
            .deleted_at
            .map(|_| "lead"),
        Subject::Company(id) => find_owned::<companies::Entity>(conn, ctx, id, "company")
            .await?
            .deleted_at
            .map(|_| "company"),
    };
    match deleted {
        Some(what) => Err(AppError::not_found(what)),
        None => Ok(()),
    }
}

/// Writes a note; a note on a lead also goes on the lead's timeline.
pub async fn create(shared: &Shared, ctx: &RequestCtx, input: NewNote) -> AppResult<notes::Model> {
    ctx.require_writer()?;
    let body = required_text(&input.body, "input.body", MAX_BODY_CHARS)?;
    let txn = begin_write(&shared.db, ctx).await?;
    ensure_live_subject(&txn, ctx, input.subject).await?;
    let now = Utc::now().fixed_offset();
    let (lead_id, company_id) = match input.subject {
        Subject::Lead(id) => (Some(id), None),
        Subject::Company(id) => (None, Some(id)),
    };
    let note = notes::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        lead_id: Set(lead_id),
        company_id: Set(company_id),
        author_id: Set(ctx.user_id()),
        body: Set(body),
        is_internal: Set(input.is_internal),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        updated_by: Set(None),
        deleted_at: Set(None),
    }
    .insert(&txn)
    .await?;
    if let Some(lead_id) = note.lead_id {
        crate::crm::activities::record(
            &txn,
            ctx,
            lead_id,
            ActivityType::NoteAdded,
            "Note added",
            serde_json::json!({ "noteId": note.id }),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(note)
}

/// A live note of the caller's tenant, or `NOT_FOUND`.
async fn find_live(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    id: Uuid,
) -> AppResult<notes::Model> {
    let note = find_owned::<notes::Entity>(conn, ctx, id, "note").await?;
    if note.deleted_at.is_some() {
        return Err(AppError::not_found("note"));
    }
    Ok(note)
}

/// Only the author, or an admin or owner, changes a note.
fn ensure_may_change(ctx: &RequestCtx, note: &notes::Model) -> AppResult<()> {
    let is_author = note.author_id.is_some() && note.author_id == ctx.user_id();
    if is_author || ctx.role >= Role::Admin {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the note's author or an admin can change it",
        ))
    }
}

/// Edits a note, keeping the text it replaces as a version. An edit that
/// changes nothing makes no version.
pub async fn update(
    shared: &Shared,
    ctx: &RequestCtx,
    id: Uuid,
    changes: NoteChanges,
) -> AppResult<notes::Model> {
    ctx.require_writer()?;
    let body = changes
        .body
        .map(|body| required_text(&body, "input.body", MAX_BODY_CHARS))
        .transpose()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let note = find_live(&txn, ctx, id).await?;
    ensure_may_change(ctx, &note)?;
    let body = body.unwrap_or_else(|| note.body.clone());
    let is_internal = changes.is_internal.unwrap_or(note.is_internal);
    if body == note.body && is_internal == note.is_internal {
        txn.commit().await?;
        return Ok(note);
    }
    note_versions::ActiveModel {
        tenant_id: Set(ctx.tenant_id),
        id: Set(Uuid::now_v7()),
        note_id: Set(note.id),
        version: Set(note.version),
        body: Set(note.body.clone()),
        is_internal: Set(note.is_internal),
        // Whoever wrote the text being replaced, and when.
        edited_by: Set(note.updated_by.or(note.author_id)),
        created_at: Set(note.updated_at),
    }
    .insert(&txn)
    .await?;
    let version = note.version + 1;
    let mut active = note.into_active_model();
    active.body = Set(body);
    active.is_internal = Set(is_internal);
    active.version = Set(version);
    active.updated_at = Set(Utc::now().fixed_offset());
    active.updated_by = Set(ctx.user_id());
    let note = active.update(&txn).await?;
    txn.commit().await?;
    Ok(note)
}

/// Soft-deletes a note: it leaves every list, its versions are kept.
pub async fn delete(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<notes::Model> {
    ctx.require_writer()?;
    let txn = begin_write(&shared.db, ctx).await?;
    let note = find_live(&txn, ctx, id).await?;
    ensure_may_change(ctx, &note)?;
    let mut active = note.into_active_model();
    active.deleted_at = Set(Some(Utc::now().fixed_offset()));
    let note = active.update(&txn).await?;
    txn.commit().await?;
    Ok(note)
}

/// One live note. Any member.
pub async fn get(shared: &Shared, ctx: &RequestCtx, id: Uuid) -> AppResult<notes::Model> {
    let txn = begin(&shared.db, ctx).await?;
    let note = find_live(&txn, ctx, id).await?;
    txn.commit().await?;
    Ok(note)
}

/// One page of a lead's or company's live notes, newest first. The lead or
/// company must be in the caller's tenant (a deleted one still shows its
/// notes, for the trash view).
pub async fn list(
    shared: &Shared,
    ctx: &RequestCtx,
    subject: Subject,
    args: &PageArgs,
) -> AppResult<(Page<notes::Model>, Totals)> {
    let txn = begin(&shared.db, ctx).await?;
    let select = scoped::<notes::Entity>(ctx).filter(notes::Column::DeletedAt.is_null());
    let select = match subject {
        Subject::Lead(id) => {
            find_owned::<leads::Entity>(&txn, ctx, id, "lead").await?;
            select.filter(notes::Column::LeadId.eq(id))
        }
        Subject::Company(id) => {
            find_owned::<companies::Entity>(&txn, ctx, id, "company").await?;
            select.filter(notes::Column::CompanyId.eq(id))
        }
    };
    txn.commit().await?;
    list_by_id(
        shared,
        ctx,
        select,
        notes::Column::Id,
        args,
        Order::NewestFirst,
    )
    .await
}

/// `totalCount` of a lead's or a company's live notes, counted only if
/// asked.
pub fn totals(shared: &Shared, ctx: &RequestCtx, subject: Subject) -> Totals {
    let select = scoped::<notes::Entity>(ctx).filter(notes::Column::DeletedAt.is_null());
    let select = match subject {
        Subject::Lead(id) => select.filter(notes::Column::LeadId.eq(id)),
        Subject::Company(id) => select.filter(notes::Column::CompanyId.eq(id)),
    };
    Totals::counting(&shared.db, ctx, select)
}

/// Moves every note of `from_lead` (deleted ones too) to `to_lead`, inside
/// the caller's transaction; used when merging leads. The caller has checked
/// both leads and the caller's rights. Returns how many notes moved.
pub async fn move_to_lead(
    conn: &impl ConnectionTrait,
    ctx: &RequestCtx,
    from_lead: Uuid,
    to_lead: Uuid,
) -> AppResult<u64> {
    let result = tenant_update::<notes::Entity>(ctx.tenant_id)
        .col_expr(notes::Column::LeadId, Expr::value(to_lead))
        .filter(notes::Column::LeadId.eq(from_lead))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
