//! Secrets at rest and signed tokens.
//!
//! - [`SecretBox`]: AES-256-GCM for credentials the server must read back
//!   (SMTP passwords). A fresh random nonce per value; the ciphertext is
//!   bound to what it belongs to (associated data), so a value copied onto
//!   another row or tenant does not decrypt.
//! - [`TrackingSigner`]: HMAC-SHA256 tokens for the public tracking routes.
//!   A token carries the tenant, the message and (for clicks) the link
//!   position, so the route needs no lookup table and a forged or altered
//!   token is refused before the database is touched.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

const NONCE_BYTES: usize = 12;

/// Encrypts and decrypts credentials with AES-256-GCM.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl SecretBox {
    /// `key_base64`: 32 random bytes, base64.
    pub fn new(key_base64: &str) -> anyhow::Result<Self> {
        let key = STANDARD
            .decode(key_base64.trim())
            .map_err(|_| anyhow::anyhow!("PROMOHUB_SECRETS_KEY is not valid base64"))?;
        if key.len() != 32 {
            anyhow::bail!(
                "PROMOHUB_SECRETS_KEY must be 32 bytes (base64), got {}",
                key.len()
            );
        }
        Ok(Self {
            cipher: Aes256Gcm::new_from_slice(&key)?,
        })
    }

    /// base64(nonce || ciphertext || tag). `context` is authenticated, not
    /// stored: pass the same value to [`SecretBox::open`].
    pub fn seal(&self, plaintext: &str, context: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// The plaintext, or an error when the value was altered, moved to
    /// another context or sealed under another key.
    pub fn open(&self, sealed: &str, context: &[u8]) -> anyhow::Result<String> {
        let bytes = STANDARD.decode(sealed)?;
        if bytes.len() < NONCE_BYTES + 16 {
            anyhow::bail!("sealed secret is too short");
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into()?;
        let plaintext = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| anyhow::anyhow!("secret does not decrypt with the configured key"))?;
        Ok(String::from_utf8(plaintext)?)
    }
}

/// What a tracking token is for. The kind is signed, so an open token cannot
/// be replayed as an unsubscribe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Open,
    Click,
    Unsubscribe,
    /// A public form as drawn: `message_id` is a v7 id minted at that
    /// moment (its timestamp is when the form was drawn, for the minimum
    /// fill time).
    FormDrawn,
    /// The double opt-in link of a form submission: `message_id` is the
    /// submission's id.
    OptInConfirmation,
    /// A tracked email link's landing page: `message_id` is the lead the
    /// email went to, so the page's tracker learns who the visitor is.
    VisitorLead,
}

impl TokenKind {
    fn tag(self) -> u8 {
        match self {
            Self::Open => b'o',
            Self::Click => b'c',
            Self::Unsubscribe => b'u',
            Self::FormDrawn => b'f',
            Self::OptInConfirmation => b'd',
            Self::VisitorLead => b'l',
        }
    }
}

/// The facts a verified token carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackingToken {
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    /// The link's position in the message (clicks only).
    pub position: u16,
}

/// 128 bits of HMAC-SHA256: enough against forgery, short enough for URLs.
const MAC_BYTES: usize = 16;
const BODY_BYTES: usize = 1 + 16 + 16 + 2;

/// Signs and verifies tracking tokens.
#[derive(Clone)]
pub struct TrackingSigner {
    key: Vec<u8>,
}

impl TrackingSigner {
    pub fn new(secret: &str) -> Self {
        Self {
            key: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(body);
        mac
    }

    pub fn sign(&self, kind: TokenKind, token: TrackingToken) -> String {
        let mut body = Vec::with_capacity(BODY_BYTES + MAC_BYTES);
        body.push(kind.tag());
        body.extend_from_slice(token.tenant_id.as_bytes());
        body.extend_from_slice(token.message_id.as_bytes());
        body.extend_from_slice(&token.position.to_be_bytes());
        let tag = self.mac(&body).finalize().into_bytes();
        body.extend_from_slice(&tag[..MAC_BYTES]);
        // The kind is implied by the route; leave it out of the URL.
        URL_SAFE_NO_PAD.encode(&body[1..])
    }

    /// The token's facts when it is well formed and signed by this server
    /// for `kind`; `None` for anything else (forged, altered, truncated).
    pub fn verify(&self, kind: TokenKind, text: &str) -> Option<TrackingToken> {
        if text.len() > 128 {
            return None;
        }
        let decoded = URL_SAFE_NO_PAD.decode(text).ok()?;
        if decoded.len() != BODY_BYTES - 1 + MAC_BYTES {
            return None;
        }
        let mut body = Vec::with_capacity(BODY_BYTES);
        body.push(kind.tag());
        body.extend_from_slice(&decoded[..BODY_BYTES - 1]);
        // verify_truncated_left compares in constant time.
        self.mac(&body)
            .verify_truncated_left(&decoded[BODY_BYTES - 1..])
            .ok()?;
        Some(TrackingToken {
            tenant_id: Uuid::from_slice(&body[1..17]).ok()?,
            message_id: Uuid::from_slice(&body[17..33]).ok()?,
            position: u16::from_be_bytes([body[33], body[34]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEVELOPMENT_SECRETS_KEY;

    #[test]
    fn a_sealed_secret_opens_only_in_its_context() {
        let sealer = SecretBox::new(DEVELOPMENT_SECRETS_KEY).unwrap();
        let sealed = sealer.seal("hunter2", b"sender-a");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(sealer.open(&sealed, b"sender-a").unwrap(), "hunter2");
        assert!(sealer.open(&sealed, b"sender-b").is_err());
        // Two seals of one value differ (fresh nonce).
        assert_ne!(sealed, sealer.seal("hunter2", b"sender-a"));
        let other = SecretBox::new(&STANDARD.encode([7u8; 32])).unwrap();
        assert!(other.open(&sealed, b"sender-a").is_err());
    }

    #[test]
    fn keys_of_the_wrong_size_are_refused() {
        assert!(SecretBox::new(&STANDARD.encode([1u8; 16])).is_err());
        assert!(SecretBox::new("not base64!").is_err());
    }

    #[test]
    fn tokens_verify_only_unaltered_and_for_their_kind() {
        let signer = TrackingSigner::new("secret");
        let token = TrackingToken {
            tenant_id: Uuid::now_v7(),
            message_id: Uuid::now_v7(),
            position: 3,
        };
        let text = signer.sign(TokenKind::Click, token);
        assert_eq!(signer.verify(TokenKind::Click, &text), Some(token));
        assert_eq!(signer.verify(TokenKind::Open, &text), None);
        assert_eq!(
            TrackingSigner::new("other").verify(TokenKind::Click, &text),
            None
        );
        let mut altered = text.clone().into_bytes();
        altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            signer.verify(TokenKind::Click, std::str::from_utf8(&altered).unwrap()),
            None
        );
        assert_eq!(
            signer.verify(TokenKind::Click, &text[..text.len() - 2]),
            None
        );
        assert_eq!(signer.verify(TokenKind::Click, "garbage"), None);
    }
}
