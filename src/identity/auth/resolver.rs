//! Sign-up, login, tokens and `me`.

use async_graphql::{Context, ID, Object};

use super::service;
use super::types::{AuthPayload, LoginInput, Me, SignUpInput};
use crate::graphql::audit::identify;
use crate::graphql::{caller, meta, parse_id, shared};

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// Who you are, which tenants you belong to, and where you act now.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        Ok(service::me(shared(ctx), caller(ctx)?).await?.into())
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates your account and your company's tenant, with you as its owner.
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        input: SignUpInput,
    ) -> async_graphql::Result<AuthPayload> {
        let session = service::sign_up(shared(ctx), meta(ctx), input).await?;
        identify(ctx, session.tenant.id, Some(session.user.id));
        Ok(session.into())
    }

    /// Signs in. Five wrong passwords for one email within 15 minutes lock
    /// further attempts for the rest of that window.
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: LoginInput,
    ) -> async_graphql::Result<AuthPayload> {
        let session = service::login(shared(ctx), meta(ctx), input).await?;
        identify(ctx, session.tenant.id, Some(session.user.id));
        Ok(session.into())
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works once;
    /// reusing one revokes every session that descends from the same sign-in.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let session = service::refresh(shared(ctx), meta(ctx), &token).await?;
        identify(ctx, session.tenant.id, Some(session.user.id));
        Ok(session.into())
    }

    /// Revokes the session of `refreshToken`, or all your sessions in this
    /// tenant: their refresh tokens and, at once, their access tokens.
    /// Returns how many refresh tokens were revoked.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: Option<String>,
    ) -> async_graphql::Result<crate::graphql::numbers::Count> {
        Ok(
            service::logout(shared(ctx), caller(ctx)?, refresh_token.as_deref())
                .await?
                .into(),
        )
    }

    /// A new session in another tenant you belong to.
    async fn switch_tenant(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
    ) -> async_graphql::Result<AuthPayload> {
        let tenant_id = parse_id(&tenant_id, "tenantId")?;
        Ok(
            service::switch_tenant(shared(ctx), caller(ctx)?, meta(ctx), tenant_id)
                .await?
                .into(),
        )
    }
}
