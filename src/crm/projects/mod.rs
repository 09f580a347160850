//! Projects: the product or campaign lines a tenant markets. Leads belong to
//! at most one project, so a project carries what campaigns and content need
//! to know about its audience (topics, brand voice, a monthly lead goal).

mod resolver;
mod service;
mod types;

pub(crate) use resolver::{ProjectMutation, ProjectQuery};
pub(crate) use types::Project;
