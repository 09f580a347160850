//! Values parsed once at the edge. Once you hold one, it is valid.

mod email;
mod password;
mod slug;
mod text;

pub use email::EmailAddress;
pub use password::Password;
pub use slug::Slug;
pub use text::{optional_text, required_text};
