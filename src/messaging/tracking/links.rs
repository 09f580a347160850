//! The public URLs put into outgoing email, each carrying a signed token.

use uuid::Uuid;

use crate::secrets::{TokenKind, TrackingToken};
use crate::state::Shared;

fn url(shared: &Shared, path: &str, kind: TokenKind, token: TrackingToken) -> String {
    format!(
        "{}/{path}/{}",
        shared.config.public_url(),
        shared.tracking.sign(kind, token)
    )
}

fn token(tenant_id: Uuid, message_id: Uuid, position: u16) -> TrackingToken {
    TrackingToken {
        tenant_id,
        message_id,
        position,
    }
}

/// The open pixel.
pub(crate) fn open_url(shared: &Shared, tenant_id: Uuid, message_id: Uuid) -> String {
    url(
        shared,
        "t/o",
        TokenKind::Open,
        token(tenant_id, message_id, 0),
    )
}

/// The redirect for the message's link at `position`.
pub(crate) fn click_url(
    shared: &Shared,
    tenant_id: Uuid,
    message_id: Uuid,
    position: u16,
) -> String {
    url(
        shared,
        "t/c",
        TokenKind::Click,
        token(tenant_id, message_id, position),
    )
}

/// The unsubscribe page (GET) and its one-click endpoint (POST, RFC 8058).
pub(crate) fn unsubscribe_url(shared: &Shared, tenant_id: Uuid, message_id: Uuid) -> String {
    url(
        shared,
        "u",
        TokenKind::Unsubscribe,
        token(tenant_id, message_id, 0),
    )
}

/// Links that must not be turned into click redirects.
pub(crate) fn is_unsubscribe_url(shared: &Shared, candidate: &str) -> bool {
    candidate.starts_with(&format!("{}/u/", shared.config.public_url()))
}
