//! Every top-level mutation, successful or refused, writes one audit row.
//!
//! Doing it in an extension rather than in each service means a mutation
//! cannot forget it, and refusals (a viewer's attempt, a bad id) are recorded
//! even though the service never ran. Services add what only they know (the
//! entity they created, the tenant an anonymous sign-in landed in) through
//! `AuditTrail`.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value, Variables};
use uuid::Uuid;

use crate::identity::audit::{AuditRecord, Outcome};
use crate::state::Shared;
use crate::tenancy::{Actor, RequestCtx, RequestMeta};

/// Argument names whose values never reach the audit log.
const SECRET_KEYS: &[&str] = &["password", "token", "secret"];

/// What a mutation's service knows about what it touched.
#[derive(Clone, Debug, Default)]
pub struct AuditNote {
    pub tenant_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub entity_type: Option<&'static str>,
    pub entity_id: Option<Uuid>,
}

/// Per-request scratchpad between services and the audit extension.
pub struct AuditTrail {
    variables: Variables,
    note: Mutex<AuditNote>,
}

impl AuditTrail {
    pub fn new(variables: Variables) -> Self {
        Self {
            variables,
            note: Mutex::new(AuditNote::default()),
        }
    }

    /// Records the entity a mutation touched.
    pub fn entity(&self, entity_type: &'static str, id: Uuid) {
        let mut note = self.note.lock().expect("audit note lock");
        note.entity_type = Some(entity_type);
        note.entity_id = Some(id);
    }

    /// For anonymous mutations (sign-up, login, invite acceptance): the tenant
    /// and user they resolved to, so the row lands in that tenant's log.
    pub fn identity(&self, tenant_id: Uuid, user_id: Option<Uuid>) {
        let mut note = self.note.lock().expect("audit note lock");
        note.tenant_id = Some(tenant_id);
        note.user_id = user_id;
    }

    fn take(&self) -> AuditNote {
        std::mem::take(&mut *self.note.lock().expect("audit note lock"))
    }
}

/// Records the entity a mutation touched (a no-op outside an audited request).
pub fn touch(ctx: &async_graphql::Context<'_>, entity_type: &'static str, id: Uuid) {
    if let Some(trail) = ctx.data_opt::<Arc<AuditTrail>>() {
        trail.entity(entity_type, id);
    }
}

/// Records the tenant and user an anonymous mutation resolved to.
pub fn identify(ctx: &async_graphql::Context<'_>, tenant_id: Uuid, user_id: Option<Uuid>) {
    if let Some(trail) = ctx.data_opt::<Arc<AuditTrail>>() {
        trail.identity(tenant_id, user_id);
    }
}

pub struct AuditLog;

impl ExtensionFactory for AuditLog {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuditLogExtension)
    }
}

struct AuditLogExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for AuditLogExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let is_mutation = info.path_node.parent.is_none() && info.parent_type == "MutationRoot";
        let (Some(trail), Some(shared)) = (
            ctx.data_opt::<Arc<AuditTrail>>(),
            ctx.data_opt::<Arc<Shared>>(),
        ) else {
            return next.run(ctx, info).await;
        };
        if !is_mutation {
            return next.run(ctx, info).await;
        }
        let action = info.name.to_owned();
        let arguments: Vec<(String, async_graphql::Value)> = info
            .field
            .arguments
            .iter()
            .map(|(name, value)| {
                let value = value
                    .node
                    .clone()
                    .into_const_with(|var| {
                        Ok::<_, std::convert::Infallible>(
                            trail.variables.get(&var).cloned().unwrap_or_default(),
                        )
                    })
                    .unwrap_or_default();
                (name.node.to_string(), value)
            })
            .collect();
        trail.take();
        let result = next.run(ctx, info).await;
        let note = trail.take();
        let caller = ctx.data_opt::<RequestCtx>();
        let meta = ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default();
        let record = build_record(action, arguments, note, caller, &meta, &result);
        if let Some(record) = record
            && let Err(error) = crate::identity::audit::record(&shared.db, record).await
        {
            tracing::error!(error = ?error, "writing the audit log failed");
        }
        result
    }
}

fn build_record(
    action: String,
    arguments: Vec<(String, async_graphql::Value)>,
    note: AuditNote,
    caller: Option<&RequestCtx>,
    meta: &RequestMeta,
    result: &ServerResult<Option<Value>>,
) -> Option<AuditRecord> {
    let tenant_id = caller.map(|c| c.tenant_id).or(note.tenant_id)?;
    let actor = match caller {
        Some(ctx) => Some(ctx.actor.clone()),
        None => note.user_id.map(|user_id| Actor::User { user_id }),
    };
    // Fall back to an `id`/`…Id` argument when the service named no entity.
    let id_argument = arguments.iter().find_map(|(name, value)| {
        let is_id = name == "id" || name.ends_with("Id");
        match (is_id, value) {
            (true, async_graphql::Value::String(s)) => Uuid::parse_str(s)
                .ok()
                .map(|id| (name.trim_end_matches("Id").to_owned(), id)),
            _ => None,
        }
    });
    let entity_type = note.entity_type.map(str::to_owned).or_else(|| {
        id_argument
            .as_ref()
            .filter(|(n, _)| n != "id")
            .map(|(n, _)| n.clone())
    });
    let entity_id = note.entity_id.or(id_argument.map(|(_, id)| id));
    let changes = serde_json::Value::Object(
        arguments
            .into_iter()
            .map(|(name, value)| {
                let json = crate::graphql::json::from_graphql(value).unwrap_or_default();
                let json = redact(&name, json);
                (name, json)
            })
            .collect(),
    );
    let outcome = match result {
        Ok(_) => Outcome::Success,
        Err(error) => Outcome::Failure(crate::error::code_of(error)),
    };
    Some(AuditRecord {
        tenant_id,
        actor,
        action,
        entity_type,
        entity_id,
        changes,
        request_id: Some(meta.request_id.clone()).filter(|id| !id.is_empty()),
        ip: meta.ip.clone(),
        outcome,
    })
}

fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|secret| lower.contains(secret))
}

fn redact(name: &str, value: serde_json::Value) -> serde_json::Value {
    if is_secret(name) {
        return serde_json::Value::String("[redacted]".to_owned());
    }
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = redact(&key, value);
                    (key, value)
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let value = serde_json::json!({"email": "a@b.co", "password": "hunter22", "nested": {"apiToken": "x"}});
        let redacted = redact("input", value);
        assert_eq!(redacted["email"], "a@b.co");
        assert_eq!(redacted["password"], "[redacted]");
        assert_eq!(redacted["nested"]["apiToken"], "[redacted]");
        assert_eq!(redact("token", serde_json::json!("phr_x")), "[redacted]");
    }
}
