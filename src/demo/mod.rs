//! The demo tenant a newcomer signs in to on a fresh development database.

use sea_orm::{EntityTrait, PaginatorTrait};

use crate::error::AppResult;
use crate::identity::auth::service::sign_up;
use crate::identity::auth::types::SignUpInput;
use crate::state::Shared;
use crate::tenancy::RequestMeta;

pub const DEMO_EMAIL: &str = "demo@promohub.local";
/// A development-only password, printed at start-up. Production never seeds.
pub const DEMO_PASSWORD: &str = "promohub-demo-password";
pub const DEMO_SLUG: &str = "demo";

/// Seeds the demo tenant and owner when the database has no tenant yet.
/// Returns true when it seeded.
pub async fn seed_if_empty(shared: &Shared) -> AppResult<bool> {
    let tenants = entity::tenants::Entity::find().count(&shared.db).await?;
    if tenants > 0 {
        return Ok(false);
    }
    seed(shared).await?;
    Ok(true)
}

/// Seeds the demo tenant and owner (fails with CONFLICT if they exist).
pub async fn seed(shared: &Shared) -> AppResult<()> {
    let input = SignUpInput {
        email: DEMO_EMAIL.to_owned(),
        password: DEMO_PASSWORD.to_owned(),
        name: "Demo Owner".to_owned(),
        tenant_name: "Demo Company".to_owned(),
        tenant_slug: DEMO_SLUG.to_owned(),
    };
    sign_up(shared, &RequestMeta::default(), input).await?;
    Ok(())
}

/// What `serve` prints so a newcomer can sign in.
pub fn credentials_banner() -> String {
    format!(
        "demo tenant '{DEMO_SLUG}' ready: sign in with email {DEMO_EMAIL} and password {DEMO_PASSWORD}"
    )
}
