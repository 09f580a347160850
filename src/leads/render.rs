//! The nodes of a page of leads, written as JSON straight from their rows
//! when the selection allows.
//!
//! async-graphql resolves every field of every object as a boxed future of
//! its own, polled through a `FuturesUnordered` and merged into the object's
//! map: about 2,700 instructions a field. For a page of 50 leads with their
//! company, stage and owner that was half of the server's work (callgrind,
//! the `leads-page` benchmark), more than reading the page from PostgreSQL.
//! Yet a list mostly selects plain fields: values of the lead's row and of
//! the company, stage and owner rows its page joined, which take no
//! arguments, need no context and cannot fail. For such a selection a
//! [`NodePlan`] is made once per page and writes each node as JSON text
//! (`graphql::raw_json`), which also spares the node's map of values; the
//! connection around the nodes does the same when it can
//! (`leads::connection`).
//!
//! Anything else renders through the executor as before, for the whole node:
//! a field with arguments or directives, a fragment, a response key given
//! twice (the executor merges those), a field missing from the tables
//! below, or a relation the lead's page did not join. The schemas' one
//! extension, the audit log, acts on top-level mutation fields only, never
//! on a node, so nothing that observes fields is skipped.
//!
//! Each table entry writes what its resolver on [`Lead`], `Company`,
//! `LeadStage` or `User` returns, as the executor would: texts, numbers
//! and booleans directly, every other type through `InputType::to_value`,
//! the executor's own conversion. `tests/api/leads_list.rs` selects every
//! entry both ways (plain, and inside a fragment, which the executor
//! renders) and requires the same response text.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, InputType, Name, OutputType, Positioned, ServerResult, Value,
};

use entity::{companies, lead_stages, leads, users};

use super::types::{Lead, LeadStatus, VerificationStatus};
use crate::companies::CompanySize;
use crate::graphql::raw_json::{self, JsonText, WrittenTexts};

/// Writes a field's value from its row.
type Render<M> = fn(&M, &mut JsonText);

fn id(out: &mut JsonText, id: uuid::Uuid) {
    out.string(
        id.hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
}

fn text(out: &mut JsonText, value: &Option<String>) {
    out.optional_string(value.as_deref());
}

/// Any other value, converted as the executor converts its resolver's.
fn graphql(out: &mut JsonText, value: impl InputType) {
    out.value(&value.to_value());
}

fn time(out: &mut JsonText, at: &sea_orm::prelude::DateTimeWithTimeZone) {
    graphql(out, at.to_utc());
}

fn optional_time(out: &mut JsonText, at: &Option<sea_orm::prelude::DateTimeWithTimeZone>) {
    graphql(out, at.map(|at| at.to_utc()));
}

fn json(out: &mut JsonText, value: &serde_json::Value) {
    out.value(&async_graphql::to_value(value).unwrap_or_default());
}

/// `Lead`'s plain fields (see `types::Lead`).
const LEAD: &[(&str, Render<leads::Model>)] = &[
    ("id", |m, out| id(out, m.id)),
    ("firstName", |m, out| text(out, &m.first_name)),
    ("lastName", |m, out| text(out, &m.last_name)),
    ("fullName", |m, out| {
        out.string(&super::service::display_name(m));
    }),
    ("email", |m, out| text(out, &m.email)),
    ("phone", |m, out| text(out, &m.phone)),
    ("jobTitle", |m, out| text(out, &m.job_title)),
    ("country", |m, out| text(out, &m.country)),
    ("city", |m, out| text(out, &m.city)),
    ("status", |m, out| graphql(out, LeadStatus::from(m.status))),
    ("score", |m, out| out.integer(m.score.into())),
    ("qualityScore", |m, out| graphql(out, m.quality_score)),
    ("verificationStatus", |m, out| {
        graphql(out, VerificationStatus::from(m.verification_status));
    }),
    ("budgetCents", |m, out| graphql(out, m.budget_cents)),
    ("authority", |m, out| text(out, &m.authority)),
    ("need", |m, out| text(out, &m.need)),
    ("timeline", |m, out| text(out, &m.timeline)),
    ("lifetimeValueCents", |m, out| {
        out.integer(m.lifetime_value_cents);
    }),
    ("currency", |m, out| out.string(&m.currency)),
    ("emailsSent", |m, out| out.integer(m.emails_sent.into())),
    ("emailsOpened", |m, out| out.integer(m.emails_opened.into())),
    ("emailsClicked", |m, out| {
        out.integer(m.emails_clicked.into())
    }),
    ("lastContactedAt", |m, out| {
        optional_time(out, &m.last_contacted_at);
    }),
    ("lastRespondedAt", |m, out| {
        optional_time(out, &m.last_responded_at);
    }),
    ("customFields", |m, out| json(out, &m.custom_fields)),
    ("enrichment", |m, out| json(out, &m.enrichment)),
    ("convertedAt", |m, out| optional_time(out, &m.converted_at)),
    ("createdAt", |m, out| time(out, &m.created_at)),
    ("updatedAt", |m, out| time(out, &m.updated_at)),
    ("deletedAt", |m, out| optional_time(out, &m.deleted_at)),
];

/// `Company`'s plain fields (see `companies::Company`).
const COMPANY: &[(&str, Render<companies::Model>)] = &[
    ("id", |m, out| id(out, m.id)),
    ("name", |m, out| out.string(&m.name)),
    ("website", |m, out| text(out, &m.website)),
    ("domain", |m, out| text(out, &m.domain)),
    ("industry", |m, out| text(out, &m.industry)),
    ("size", |m, out| graphql(out, m.size.map(CompanySize::from))),
    ("phone", |m, out| text(out, &m.phone)),
    ("description", |m, out| text(out, &m.description)),
    ("createdAt", |m, out| time(out, &m.created_at)),
    ("updatedAt", |m, out| time(out, &m.updated_at)),
];

/// `LeadStage`'s fields (see `pipeline::LeadStage`).
const STAGE: &[(&str, Render<lead_stages::Model>)] = &[
    ("id", |m, out| id(out, m.id)),
    ("name", |m, out| out.string(&m.name)),
    ("position", |m, out| out.integer(m.position.into())),
    ("color", |m, out| out.string(&m.color)),
    ("isDefault", |m, out| out.boolean(m.is_default)),
    ("isWon", |m, out| out.boolean(m.is_won)),
    ("isLost", |m, out| out.boolean(m.is_lost)),
];

/// `User`'s fields (see `auth::types::User`).
const OWNER: &[(&str, Render<users::Model>)] = &[
    ("id", |m, out| id(out, m.id)),
    ("email", |m, out| out.string(&m.email)),
    ("name", |m, out| out.string(&m.name)),
    ("locale", |m, out| out.string(&m.locale)),
];

/// The field names each table renders (`Lead`, `Company`, `LeadStage`,
/// `User`), for the tests that compare them with the executor.
pub fn rendered_fields() -> [(&'static str, Vec<&'static str>); 4] {
    fn names<M>(table: &[(&'static str, Render<M>)]) -> Vec<&'static str> {
        table.iter().map(|(name, _)| *name).collect()
    }
    [
        ("Lead", names(LEAD)),
        ("Company", names(COMPANY)),
        ("LeadStage", names(STAGE)),
        ("User", names(OWNER)),
    ]
}

/// One response key of an object and how to write its value.
enum Leaf<M> {
    Field(Render<M>),
    Typename(&'static str),
}

impl<M> Leaf<M> {
    fn write(&self, row: &M, out: &mut JsonText) {
        match self {
            Leaf::Field(render) => render(row, out),
            Leaf::Typename(name) => out.string(name),
        }
    }
}

/// A plan's response keys, each written ahead as JSON with what precedes
/// it: `{"first":`, then `,"next":`.
fn written_keys<P>(keys: Vec<(Name, P)>) -> Vec<(String, P)> {
    keys.into_iter()
        .enumerate()
        .map(|(index, (key, part))| {
            let mut written = String::from(if index == 0 { "{" } else { "," });
            written.push_str(&raw_json::key(&key));
            (written, part)
        })
        .collect()
}

/// Writes an object of `keys` (see [`written_keys`]), each value by
/// `write`; `None` (and a half-written object) when `write` gives up.
pub(super) fn write_object<P>(
    out: &mut JsonText,
    keys: &[(String, P)],
    mut write: impl FnMut(&P, &mut JsonText) -> Option<()>,
) -> Option<()> {
    for (key, part) in keys {
        out.raw(key);
        write(part, out)?;
    }
    out.raw(if keys.is_empty() { "{}" } else { "}" });
    Some(())
}

/// The plan of each field of `selection` by `part`, under its key written
/// ahead (see [`written_keys`]); `None` if a field is not plain, repeats a
/// key or has no plan.
pub(super) fn plan_keys<P>(
    selection: &SelectionSet,
    mut part: impl FnMut(&Field) -> Option<P>,
) -> Option<Vec<(String, P)>> {
    let mut keys = Vec::with_capacity(selection.items.len());
    for field in plain_fields(selection)? {
        let planned = part(field)?;
        push_unique(&mut keys, field, planned)?;
    }
    Some(written_keys(keys))
}

/// `field` selects nothing of its own (a scalar, or `__typename`).
pub(super) fn leaf(field: &Field) -> Option<()> {
    field.selection_set.node.items.is_empty().then_some(())
}

/// How to write an object of rows `M` for one selection set.
struct ObjectPlan<M> {
    keys: Vec<(String, Leaf<M>)>,
}

impl<M> ObjectPlan<M> {
    /// `None` unless every selection is a plain field of `table` (or
    /// `__typename`) under a key of its own.
    fn of(
        selection: &SelectionSet,
        type_name: &'static str,
        table: &[(&str, Render<M>)],
    ) -> Option<Self> {
        let keys = plan_keys(selection, |field| {
            leaf(field)?;
            Some(match field.name.node.as_str() {
                "__typename" => Leaf::Typename(type_name),
                name => Leaf::Field(lookup(table, name)?),
            })
        })?;
        Some(Self { keys })
    }

    /// A relation's value: null when the lead points at no row.
    fn write_relation(&self, row: Option<&M>, out: &mut JsonText) -> Option<()> {
        match row {
            Some(row) => write_object(out, &self.keys, |leaf, out| {
                leaf.write(row, out);
                Some(())
            }),
            None => {
                out.raw("null");
                Some(())
            }
        }
    }
}

/// What a node's response key holds.
enum Part {
    Lead(Leaf<leads::Model>),
    Company(ObjectPlan<companies::Model>),
    Stage(ObjectPlan<lead_stages::Model>),
    Owner(ObjectPlan<users::Model>),
}

/// How to write the nodes of one `node { … }` selection.
pub struct NodePlan {
    keys: Vec<(String, Part)>,
}

impl NodePlan {
    /// `None` when the executor has to render this selection (see the
    /// module documentation).
    pub(super) fn of(selection: &SelectionSet) -> Option<Self> {
        let keys = plan_keys(selection, |field| {
            let nested = &field.selection_set.node;
            Some(match field.name.node.as_str() {
                "__typename" => Part::Lead(Leaf::Typename("Lead")),
                "company" => Part::Company(ObjectPlan::of(nested, "Company", COMPANY)?),
                "stage" => Part::Stage(ObjectPlan::of(nested, "LeadStage", STAGE)?),
                "owner" => Part::Owner(ObjectPlan::of(nested, "User", OWNER)?),
                name => {
                    leaf(field)?;
                    Part::Lead(Leaf::Field(lookup(LEAD, name)?))
                }
            })
        })?;
        Some(Self { keys })
    }

    /// Writes the node; `None`, having written part of it, when a selected
    /// relation was not read with the lead (it then loads through the
    /// executor).
    pub(super) fn write(&self, lead: &Lead, out: &mut JsonText) -> Option<()> {
        let joined = || lead.joined.as_deref();
        write_object(out, &self.keys, |part, out| match part {
            Part::Lead(leaf) => {
                leaf.write(&lead.model, out);
                Some(())
            }
            Part::Company(plan) => plan.write_relation(joined()?.company.as_ref()?.as_ref(), out),
            Part::Stage(plan) => plan.write_relation(joined()?.stage.as_ref()?.as_ref(), out),
            Part::Owner(plan) => plan.write_relation(joined()?.owner.as_ref()?.as_ref(), out),
        })
    }

    /// The node as a response value, registered in `written`.
    fn render(&self, lead: &Lead, written: Option<&WrittenTexts>) -> Option<Value> {
        let mut out = JsonText::with_capacity(256);
        self.write(lead, &mut out)?;
        Some(out.into_registered_value(written))
    }
}

/// The selection's fields, if each is a field without arguments or
/// directives (no fragments).
fn plain_fields(selection: &SelectionSet) -> Option<impl Iterator<Item = &Field>> {
    fn plain(item: &Positioned<Selection>) -> Option<&Field> {
        match &item.node {
            Selection::Field(field)
                if field.node.arguments.is_empty() && field.node.directives.is_empty() =>
            {
                Some(&field.node)
            }
            _ => None,
        }
    }
    if !selection.items.iter().all(|item| plain(item).is_some()) {
        return None;
    }
    Some(selection.items.iter().filter_map(plain))
}

fn lookup<M>(table: &[(&str, Render<M>)], name: &str) -> Option<Render<M>> {
    table
        .iter()
        .find(|(field, _)| *field == name)
        .map(|(_, render)| *render)
}

/// Adds `field`'s response key, unless it is already there (the executor
/// merges repeated keys; the plan leaves that to it).
fn push_unique<P>(keys: &mut Vec<(Name, P)>, field: &Field, part: P) -> Option<()> {
    let key = &field.response_key().node;
    if keys.iter().any(|(existing, _)| existing == key) {
        return None;
    }
    keys.push((key.clone(), part));
    Some(())
}

/// The plans of one page's nodes, by the selection set they render (a
/// query may select the page's nodes more than once, under aliases).
#[derive(Default)]
pub struct PagePlans {
    by_selection: Mutex<Vec<(usize, Option<Arc<NodePlan>>)>>,
}

impl PagePlans {
    fn for_selection(&self, selection: &SelectionSet) -> Option<Arc<NodePlan>> {
        // The address identifies the selection set: the document outlives
        // the request that holds these plans.
        let address = std::ptr::from_ref(selection) as usize;
        let mut plans = self
            .by_selection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, plan)) = plans.iter().find(|(at, _)| *at == address) {
            return plan.clone();
        }
        let plan = NodePlan::of(selection).map(Arc::new);
        plans.push((address, plan.clone()));
        plan
    }
}

/// A lead as a page's node: the GraphQL type `Lead`, rendered by its page's
/// plan when the selection allows and by the executor otherwise.
pub struct LeadNode {
    lead: Lead,
    plans: Arc<PagePlans>,
}

impl LeadNode {
    pub fn new(lead: Lead, plans: Arc<PagePlans>) -> Self {
        Self { lead, plans }
    }

    pub(super) fn lead(&self) -> &Lead {
        &self.lead
    }
}

impl OutputType for LeadNode {
    fn type_name() -> Cow<'static, str> {
        Lead::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Lead::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let rendered = self.plans.for_selection(&ctx.item.node).and_then(|plan| {
            let written = ctx.data_opt::<Arc<WrittenTexts>>();
            plan.render(&self.lead, written.map(|texts| &**texts))
        });
        match rendered {
            Some(value) => Ok(value),
            None => <Lead as OutputType>::resolve(&self.lead, ctx, field).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};

    use super::*;
    use crate::leads::joined::Joined;

    /// The selection set under `node` in `query`'s only operation.
    fn node_selection(document: &ExecutableDocument) -> &SelectionSet {
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation");
        };
        let mut set = &operation.node.selection_set.node;
        for name in ["leads", "edges", "node"] {
            set = set
                .items
                .iter()
                .find_map(|item| match &item.node {
                    Selection::Field(f) if f.node.name.node == name => {
                        Some(&f.node.selection_set.node)
                    }
                    _ => None,
                })
                .expect(name);
        }
        set
    }

    fn plan(node: &str) -> Option<NodePlan> {
        let document = parse_query(format!("{{ leads {{ edges {{ node {{ {node} }} }} }} }}"))
            .expect("parses");
        NodePlan::of(node_selection(&document))
    }

    #[test]
    fn plans_plain_fields_and_joined_relations() {
        assert!(
            plan("id fullName email score company { name } stage { name } owner { email }")
                .is_some()
        );
        assert!(plan("__typename id handle: email company { __typename id }").is_some());
    }

    #[test]
    fn plans_every_field_of_its_tables() {
        // What `tests/api/leads_list.rs` compares with the executor must be
        // what the plan renders, not a selection it leaves to the executor.
        let [lead, company, stage, user] = rendered_fields();
        let node = format!(
            "__typename {} company {{ __typename {} }} stage {{ {} }} owner {{ {} }}",
            lead.1.join(" "),
            company.1.join(" "),
            stage.1.join(" "),
            user.1.join(" ")
        );
        assert!(plan(&node).is_some());
    }

    #[test]
    fn leaves_everything_else_to_the_executor() {
        for node in [
            "id tags",
            "id activities(first: 3) { edges { node { id } } }",
            "id email @include(if: true)",
            "id ... on Lead { email }",
            "id id",
            "a: email a: phone",
            "company { name leads { edges { node { id } } } }",
            "company { name name }",
            "source { name }",
        ] {
            assert!(plan(node).is_none(), "{node}");
        }
    }

    #[test]
    fn renders_the_leads_row_and_what_its_page_joined() {
        let mut model = crate::templates::context::tests::lead();
        model.email = Some("ada@example.com".into());
        model.phone = None;
        let lead = Lead {
            model: Box::new(model),
            joined: Some(Box::new(Joined {
                company: Some(None),
                stage: None,
                owner: None,
            })),
        };
        let value = plan("mail: email phone company { name } __typename")
            .expect("plain")
            .render(&lead, None)
            .expect("company joined");
        assert_eq!(
            value.into_json().unwrap(),
            serde_json::json!({
                "mail": "ada@example.com",
                "phone": null,
                "company": null,
                "__typename": "Lead",
            })
        );
        // The stage was not joined: the executor loads it.
        assert!(
            plan("stage { name }")
                .unwrap()
                .render(&lead, None)
                .is_none()
        );
    }
}
