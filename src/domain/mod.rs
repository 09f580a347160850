//! Values parsed once at the edge. Once you hold one, it is valid.

mod email;
mod money;
mod password;
mod slug;
mod text;

pub(crate) use email::EmailAddress;
pub(crate) use money::{CurrencyCode, Decimal, Money, rescale};
pub(crate) use password::Password;
pub(crate) use slug::Slug;
pub(crate) use text::{optional_text, required_text};
