//! Custom variables (seed 001 `customVariables`): tenant-defined values for
//! personalisation, used in templates as `{{ vars.<key> }}`. Rendering takes
//! [`service::active_values`]; template validation checks names against
//! [`service::keys`].

mod resolver;
pub mod service;
mod types;

pub use resolver::{CustomVariableMutation, CustomVariableQuery};
pub use service::{active_values, keys};
pub use types::{CustomVariable, CustomVariableCategory};
