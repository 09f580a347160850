//! The request context. `tenant_id` always comes from a verified credential,
//! never from input.

use uuid::Uuid;

use super::scoped::RequestTxn;
use super::{Role, Scope};
use crate::error::{AppError, AppResult};

/// Who is acting: a signed-in person or a partner's API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User {
        user_id: Uuid,
    },
    ApiKey {
        key_id: Uuid,
        scopes: Vec<Scope>,
    },
    /// PromoHub itself, in the background (segment upkeep): no person, no
    /// key, and never from a request.
    System,
}

/// Facts about the HTTP request, present for every caller, signed in or not.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// An authenticated caller inside one tenant.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    pub tenant_id: Uuid,
    pub role: Role,
    pub actor: Actor,
    /// Unix time when the credential stops being valid (subscriptions end then).
    pub expires_at: Option<i64>,
    /// The transaction the request reads in, if it has one (query requests).
    pub txn: RequestTxn,
}

impl RequestCtx {
    /// PromoHub's own work in `tenant_id`, outside any request.
    pub fn system(tenant_id: Uuid) -> Self {
        Self {
            tenant_id,
            role: super::Role::Owner,
            actor: Actor::System,
            expires_at: None,
            txn: RequestTxn::default(),
        }
    }

    /// The person acting, if it is a person.
    pub fn user_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User { user_id } => Some(user_id),
            Actor::ApiKey { .. } | Actor::System => None,
        }
    }

    /// The person acting, or `FORBIDDEN` for an API key.
    pub fn require_user(&self) -> AppResult<Uuid> {
        self.user_id().ok_or_else(|| {
            AppError::forbidden("this operation needs a signed-in user, not an API key")
        })
    }

    /// Refuses callers below `minimum`.
    pub fn require_role(&self, minimum: Role) -> AppResult<()> {
        if self.role >= minimum {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this operation needs the {} role or higher",
                minimum.as_str()
            )))
        }
    }

    /// Viewers and read-only keys cannot change anything.
    pub fn require_writer(&self) -> AppResult<()> {
        self.require_role(Role::Member)
    }

    /// Member, invite, API key and tenant administration.
    pub fn require_admin(&self) -> AppResult<()> {
        self.require_role(Role::Admin)
    }

    /// Who acted, as events and audit rows record it (the nil id for the
    /// system).
    pub fn actor_id(&self) -> Uuid {
        match &self.actor {
            Actor::User { user_id } => *user_id,
            Actor::ApiKey { key_id, .. } => *key_id,
            Actor::System => Uuid::nil(),
        }
    }
}
