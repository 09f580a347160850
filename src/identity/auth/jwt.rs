//! Short-lived access tokens (HS256).
//!
//! jsonwebtoken checks `exp` and the algorithm by default but not `iss`,
//! `aud`, `sub` or `nbf`, and its default leeway is 60 s: we require all of
//! them and allow at most 30 s of clock skew.
//!
//! A client sends the same token with every request until it expires, so
//! what a token grants is kept by its exact text once its signature and
//! claims were checked ([`JwtKeys::grant`]): checking them again (base64,
//! HMAC-SHA256, JSON) on every request showed up in profiles of a page of
//! leads (bench/README.md, "Costs behind the code"). `exp` and `nbf` are
//! still compared with the clock on every use.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::Config;
use crate::tenancy::Role;

/// Clock skew tolerated when checking `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The tenant the token acts in.
    pub tid: Uuid,
    /// The role at issue time; authorisation re-reads the live membership.
    pub role: String,
    /// The session the token belongs to: the family of refresh tokens of
    /// its sign-in. Authentication refuses the token once that session is
    /// revoked (logout, reuse of a rotated refresh token), not only when it
    /// expires.
    pub sid: Uuid,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// What a verified access token grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The user id.
    pub user_id: Uuid,
    /// The tenant the token acts in.
    pub tenant_id: Uuid,
    /// The session (refresh token family) the token belongs to.
    pub session_id: Uuid,
    pub not_before: i64,
    pub expires_at: i64,
}

impl Grant {
    /// jsonwebtoken's own `exp` and `nbf` checks, with our leeway.
    fn is_current(&self, now: i64) -> bool {
        let leeway = LEEWAY_SECS as i64;
        self.expires_at >= now - leeway && self.not_before <= now + leeway
    }
}

/// How many verified tokens are kept: far more than the clients of one
/// server use at a time; the least recently used go first.
const KEPT_GRANTS: usize = 4096;

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    /// Verified tokens by their text (see the module documentation).
    granted: Arc<Mutex<LruCache<String, Grant>>>,
}

impl JwtKeys {
    pub fn new(config: &Config) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.jwt_issuer]);
        validation.set_audience(&[&config.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Self {
            encoding: EncodingKey::from_secret(config.jwt_secret.as_bytes()),
            decoding: DecodingKey::from_secret(config.jwt_secret.as_bytes()),
            validation,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl_secs: config.access_token_ttl_secs,
            granted: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(KEPT_GRANTS).expect("not zero"),
            ))),
        }
    }

    /// Issues a token for `user_id` acting in `tenant_id` within the
    /// session `session_id`; returns it and its expiry.
    pub fn issue(
        &self,
        user_id: Uuid,
        tenant_id: Uuid,
        session_id: Uuid,
        role: Role,
    ) -> anyhow::Result<(String, i64)> {
        let now = chrono::Utc::now().timestamp();
        let exp = now + self.ttl_secs;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            tid: tenant_id,
            role: role.as_str().to_owned(),
            sid: session_id,
            iat: now,
            nbf: now,
            exp,
            jti: Uuid::now_v7(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, exp))
    }

    /// Verifies signature, algorithm, `exp`, `nbf`, `iss`, `aud` and the claim shape.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }

    /// What `token` grants, if it verifies ([`verify`](Self::verify)) and
    /// is current; a token verified before is only checked against the
    /// clock again.
    pub fn grant(&self, token: &str) -> Result<Grant, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let kept = self.lock().get(token).copied();
        // One that expired (or, after a clock step, is not valid yet) is
        // verified again, for jsonwebtoken's error.
        if let Some(grant) = kept
            && grant.is_current(now)
        {
            return Ok(grant);
        }
        let claims = self.verify(token)?;
        let grant = Grant {
            user_id: claims.sub,
            tenant_id: claims.tid,
            session_id: claims.sid,
            not_before: claims.nbf,
            expires_at: claims.exp,
        };
        self.lock().put(token.to_owned(), grant);
        Ok(grant)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Grant>> {
        // The cache holds no invariant a panic could break mid-way.
        self.granted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_keys(ttl_secs: i64) -> JwtKeys {
        let mut config = Config::for_database("sqlite::memory:");
        config.access_token_ttl_secs = ttl_secs;
        JwtKeys::new(&config)
    }

    #[test]
    fn a_verified_token_is_granted_again_and_an_altered_copy_never() {
        let keys = jwt_keys(900);
        let (user, tenant, session) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (token, exp) = keys.issue(user, tenant, session, Role::Member).unwrap();
        let grant = keys.grant(&token).unwrap();
        assert_eq!(
            (
                grant.user_id,
                grant.tenant_id,
                grant.session_id,
                grant.expires_at
            ),
            (user, tenant, session, exp)
        );
        // Kept: the second use is the cache's.
        assert_eq!(keys.lock().get(&token).copied(), Some(grant));
        assert_eq!(keys.grant(&token).unwrap(), grant);
        // Another signature is another text: verified, and refused.
        let mut altered = token.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.grant(&altered).is_err());
        // Keys with another secret (a restart with a new one) know nothing.
        let mut other = Config::for_database("sqlite::memory:");
        other.jwt_secret = "another-secret-that-is-long-enough-for-hs256".into();
        assert!(JwtKeys::new(&other).grant(&token).is_err());
    }

    #[test]
    fn a_kept_grant_ends_when_its_token_expires() {
        let keys = jwt_keys(900);
        let (token, _) = keys
            .issue(Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Role::Member)
            .unwrap();
        let mut grant = keys.grant(&token).unwrap();
        // As if the token had expired beyond the leeway while kept.
        grant.expires_at = chrono::Utc::now().timestamp() - LEEWAY_SECS as i64 - 1;
        keys.lock().put(token.clone(), grant);
        // Verified again: this token is in fact current, so granted anew.
        assert!(keys.grant(&token).unwrap().expires_at > grant.expires_at);
        // A token that did expire is refused, kept or not.
        let expired = jwt_keys(-(LEEWAY_SECS as i64) - 60);
        let (token, _) = expired
            .issue(Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Role::Member)
            .unwrap();
        assert!(expired.grant(&token).is_err());
        let mut stale = grant;
        stale.expires_at = chrono::Utc::now().timestamp() - LEEWAY_SECS as i64 - 60;
        expired.lock().put(token.clone(), stale);
        assert!(expired.grant(&token).is_err());
    }
}
