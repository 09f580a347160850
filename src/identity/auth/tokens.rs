//! Opaque secrets handed to clients: API keys, refresh tokens, invite tokens.
//!
//! Shape: `<kind>_<tenant id, 32 hex>_<secret, 43 base64url chars>`. The
//! tenant id inside lets us look the token up inside its tenant (row-level
//! security applies, indexes stay tenant-first) without a global index. Only
//! the SHA-256 of the whole token is stored; the secret is 256 random bits,
//! so a fast hash is enough (no password stretching needed).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    ApiKey,
    Refresh,
    Invite,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::ApiKey => "phk",
            Self::Refresh => "phr",
            Self::Invite => "phi",
        }
    }
}

/// A freshly minted token: show `token` once, store `hash`.
pub struct Minted {
    pub token: String,
    pub hash: String,
}

pub fn mint(kind: TokenKind, tenant_id: Uuid) -> Minted {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let token = format!(
        "{}_{}_{}",
        kind.prefix(),
        tenant_id.simple(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    let hash = hash(&token);
    Minted { token, hash }
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token of the expected kind, split into its tenant and its stored hash.
pub struct Presented {
    pub tenant_id: Uuid,
    pub hash: String,
}

pub fn parse(kind: TokenKind, token: &str) -> Option<Presented> {
    let mut parts = token.splitn(3, '_');
    let (prefix, tenant, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if prefix != kind.prefix() || tenant.len() != 32 || secret.len() != 43 {
        return None;
    }
    let tenant_id = Uuid::try_parse(tenant).ok()?;
    URL_SAFE_NO_PAD.decode(secret).ok()?;
    Some(Presented {
        tenant_id,
        hash: hash(token),
    })
}

/// True when the bearer credential looks like an API key rather than a JWT.
pub fn is_api_key(token: &str) -> bool {
    token.starts_with("phk_")
}

/// The part of an API key safe to show in lists (`phk_…` plus 6 secret chars).
pub fn display_prefix(token: &str) -> String {
    // The secret is base64url and may itself contain '_': split at most twice.
    let secret = token.splitn(3, '_').nth(2).unwrap_or_default();
    format!("phk_…{}", &secret[..6.min(secret.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_parse_back_to_their_tenant_and_hash() {
        let tenant = Uuid::now_v7();
        let minted = mint(TokenKind::Refresh, tenant);
        let presented = parse(TokenKind::Refresh, &minted.token).unwrap();
        assert_eq!(presented.tenant_id, tenant);
        assert_eq!(presented.hash, minted.hash);
    }

    #[test]
    fn a_token_of_another_kind_or_shape_does_not_parse() {
        let minted = mint(TokenKind::Invite, Uuid::now_v7());
        assert!(parse(TokenKind::ApiKey, &minted.token).is_none());
        assert!(parse(TokenKind::Invite, &minted.token[..minted.token.len() - 1]).is_none());
        assert!(parse(TokenKind::Invite, "phi_nothex_x").is_none());
    }

    #[test]
    fn the_display_prefix_shows_the_start_of_the_secret() {
        let token = format!("phk_{}_ab_cdefghij", Uuid::nil().simple());
        assert_eq!(display_prefix(&token), "phk_…ab_cde");
    }

    #[test]
    fn two_mints_never_collide() {
        let tenant = Uuid::now_v7();
        assert_ne!(
            mint(TokenKind::ApiKey, tenant).token,
            mint(TokenKind::ApiKey, tenant).token
        );
    }
}
