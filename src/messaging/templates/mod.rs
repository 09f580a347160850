//! Message templates (DOMAIN.md section 4): CRUD per channel, declared
//! variables, tenant custom variables, and rendering with minijinja.

pub mod context;
pub mod render;
mod resolver;
pub mod service;
pub mod types;

pub use resolver::{TemplateMutation, TemplateQuery};
