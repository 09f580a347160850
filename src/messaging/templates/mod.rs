//! Message templates (DOMAIN.md section 4): CRUD per channel, declared
//! variables, tenant custom variables, and rendering with minijinja.

pub(crate) mod context;
pub(crate) mod pool;
pub(crate) mod render;
mod resolver;
pub(crate) mod service;
pub(crate) mod types;
pub(crate) mod worker;

pub(crate) use resolver::{TemplateMutation, TemplateQuery};
