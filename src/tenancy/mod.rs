//! Tenant isolation: who is asking (`RequestCtx`), what they may do (`Role`),
//! and the only ways services reach tenant data (`scoped`).

mod ctx;
mod role;
pub mod scoped;

pub use ctx::{Actor, RequestCtx, RequestMeta};
pub use role::{Role, Scope};
