//! Which columns a page of leads reads, from what the query selects.
//!
//! The usual list (name, email, score, company name, stage name, owner
//! email) shows about 15 values a row, but whole rows are about 85 (leads
//! 40, companies 23, stages 10, users 9). Decoding the rest was a quarter of
//! the server's work for a page, and sending it a third of PostgreSQL's.
//! So a page reads only the columns of the fields its selection names.
//!
//! A field not listed here (and any field added later) makes its table read
//! every column, so a missing entry costs speed, never a wrong value. A
//! column left out leaves its model field blank; page rows go only to the
//! page's own nodes, never to a loader, so nothing else sees a blank.

use std::marker::PhantomData;

use sea_orm::{EntityTrait, IdenStatic, Iterable};

use entity::{companies, lead_stages, leads, users};

/// The columns of one table a page reads, as flags in the order of the
/// entity's `Column` enum (the order `find()` selects in).
pub struct Picked<E: EntityTrait> {
    read: Vec<bool>,
    entity: PhantomData<E>,
}

impl<E: EntityTrait> Picked<E> {
    pub fn all() -> Self {
        Self {
            read: E::Column::iter().map(|_| true).collect(),
            entity: PhantomData,
        }
    }

    /// `always`, plus what each of `fields` reads; every column once a
    /// field is not in `known`.
    fn for_fields<'f>(
        always: &[E::Column],
        fields: impl IntoIterator<Item = &'f str>,
        known: Fields<E::Column>,
    ) -> Self {
        let mut wanted: Vec<&'static str> = always.iter().map(|c| c.as_str()).collect();
        for field in fields {
            match known.iter().find(|(name, _)| *name == field) {
                Some((_, columns)) => wanted.extend(columns.iter().map(|c| c.as_str())),
                None => return Self::all(),
            }
        }
        Self {
            read: E::Column::iter()
                .map(|column| wanted.contains(&column.as_str()))
                .collect(),
            entity: PhantomData,
        }
    }

    /// The columns read, in `Column` order.
    pub fn columns(&self) -> impl Iterator<Item = E::Column> + '_ {
        E::Column::iter()
            .zip(&self.read)
            .filter_map(|(column, read)| read.then_some(column))
    }

    pub fn count(&self) -> usize {
        self.read.iter().filter(|read| **read).count()
    }

    /// Where each column is in a row holding the read columns, in order,
    /// from `start` (indexed by `Column as usize`; `None`: not read).
    pub fn positions(&self, start: usize) -> Vec<Option<usize>> {
        let mut next = start;
        self.read
            .iter()
            .map(|read| {
                read.then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    }
}

/// GraphQL fields of a type and the columns each reads.
type Fields<C> = &'static [(&'static str, &'static [C])];

/// What a page reads: the leads' columns, and each relation it joins
/// (`None`: not selected, so not joined).
pub struct PageColumns {
    pub lead: Picked<leads::Entity>,
    pub company: Option<Picked<companies::Entity>>,
    pub stage: Option<Picked<lead_stages::Entity>>,
    pub owner: Option<Picked<users::Entity>>,
}

impl PageColumns {
    pub fn joins_any(&self) -> bool {
        self.company.is_some() || self.stage.is_some() || self.owner.is_some()
    }
}

/// A page's selection under `edges { node { … } }`: the node's field names,
/// and each relation's, over every place the query names them.
#[derive(Default)]
pub struct NodeSelection<'a> {
    pub lead: Vec<&'a str>,
    pub company: Option<Vec<&'a str>>,
    pub stage: Option<Vec<&'a str>>,
    pub owner: Option<Vec<&'a str>>,
}

/// The columns for `selection`. A lead page always reads the tenant, the id
/// and `sort` (its cursors and order are made of them); a relation always
/// reads its id (and tenant, where it has one).
pub fn for_selection(selection: &NodeSelection<'_>, sort: Option<leads::Column>) -> PageColumns {
    let mut always = vec![leads::Column::TenantId, leads::Column::Id];
    always.extend(sort);
    PageColumns {
        lead: Picked::for_fields(&always, selection.lead.iter().copied(), LEAD_FIELDS),
        company: selection.company.as_ref().map(|fields| {
            Picked::for_fields(
                &[companies::Column::TenantId, companies::Column::Id],
                fields.iter().copied(),
                COMPANY_FIELDS,
            )
        }),
        stage: selection.stage.as_ref().map(|fields| {
            Picked::for_fields(
                &[lead_stages::Column::TenantId, lead_stages::Column::Id],
                fields.iter().copied(),
                STAGE_FIELDS,
            )
        }),
        owner: selection.owner.as_ref().map(|fields| {
            Picked::for_fields(&[users::Column::Id], fields.iter().copied(), USER_FIELDS)
        }),
    }
}

/// The columns each field of `Lead` reads (see `leads::types::Lead`). The
/// id is always read; `tags`, `activities`, `notes` and `messages` need
/// nothing else of the lead.
const LEAD_FIELDS: Fields<leads::Column> = &[
    ("__typename", &[]),
    ("id", &[]),
    ("tags", &[]),
    ("activities", &[]),
    ("notes", &[]),
    ("messages", &[]),
    (
        "fullName",
        &[
            leads::Column::FirstName,
            leads::Column::LastName,
            leads::Column::Email,
            leads::Column::Phone,
        ],
    ),
    ("firstName", &[leads::Column::FirstName]),
    ("lastName", &[leads::Column::LastName]),
    ("email", &[leads::Column::Email]),
    ("phone", &[leads::Column::Phone]),
    ("jobTitle", &[leads::Column::JobTitle]),
    ("country", &[leads::Column::Country]),
    ("city", &[leads::Column::City]),
    ("status", &[leads::Column::Status]),
    ("score", &[leads::Column::Score]),
    ("qualityScore", &[leads::Column::QualityScore]),
    ("verificationStatus", &[leads::Column::VerificationStatus]),
    ("budgetCents", &[leads::Column::BudgetCents]),
    ("authority", &[leads::Column::Authority]),
    ("need", &[leads::Column::Need]),
    ("timeline", &[leads::Column::Timeline]),
    ("lifetimeValueCents", &[leads::Column::LifetimeValueCents]),
    ("currency", &[leads::Column::Currency]),
    ("emailsSent", &[leads::Column::EmailsSent]),
    ("emailsOpened", &[leads::Column::EmailsOpened]),
    ("emailsClicked", &[leads::Column::EmailsClicked]),
    ("lastContactedAt", &[leads::Column::LastContactedAt]),
    ("lastRespondedAt", &[leads::Column::LastRespondedAt]),
    ("customFields", &[leads::Column::CustomFields]),
    ("enrichment", &[leads::Column::Enrichment]),
    ("convertedAt", &[leads::Column::ConvertedAt]),
    ("createdAt", &[leads::Column::CreatedAt]),
    ("updatedAt", &[leads::Column::UpdatedAt]),
    ("deletedAt", &[leads::Column::DeletedAt]),
    ("company", &[leads::Column::CompanyId]),
    ("stage", &[leads::Column::StageId]),
    ("owner", &[leads::Column::OwnerId]),
    ("source", &[leads::Column::SourceId]),
    ("project", &[leads::Column::ProjectId]),
];

/// The columns a field of `Company` reads (see `companies::Company`).
const COMPANY_FIELDS: Fields<companies::Column> = &[
    ("__typename", &[]),
    ("id", &[]),
    ("leads", &[]),
    ("notes", &[]),
    ("name", &[companies::Column::Name]),
    ("website", &[companies::Column::Website]),
    ("domain", &[companies::Column::Domain]),
    ("industry", &[companies::Column::Industry]),
    ("size", &[companies::Column::Size]),
    ("phone", &[companies::Column::Phone]),
    ("description", &[companies::Column::Description]),
    ("enrichment", &[companies::Column::Enrichment]),
    ("customFields", &[companies::Column::CustomFields]),
    ("createdAt", &[companies::Column::CreatedAt]),
    ("updatedAt", &[companies::Column::UpdatedAt]),
    (
        "address",
        &[
            companies::Column::AddressLine1,
            companies::Column::AddressLine2,
            companies::Column::City,
            companies::Column::Region,
            companies::Column::PostalCode,
            companies::Column::Country,
        ],
    ),
];

/// The columns a field of `LeadStage` reads.
const STAGE_FIELDS: Fields<lead_stages::Column> = &[
    ("__typename", &[]),
    ("id", &[]),
    ("name", &[lead_stages::Column::Name]),
    ("position", &[lead_stages::Column::Position]),
    ("color", &[lead_stages::Column::Color]),
    ("isDefault", &[lead_stages::Column::IsDefault]),
    ("isWon", &[lead_stages::Column::IsWon]),
    ("isLost", &[lead_stages::Column::IsLost]),
];

/// The columns a field of `User` reads (never the password hash).
const USER_FIELDS: Fields<users::Column> = &[
    ("__typename", &[]),
    ("id", &[]),
    ("email", &[users::Column::Email]),
    ("name", &[users::Column::Name]),
    ("locale", &[users::Column::Locale]),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn names<E: EntityTrait>(picked: &Picked<E>) -> Vec<&'static str> {
        picked.columns().map(|c| c.as_str()).collect()
    }

    #[test]
    fn a_page_reads_the_columns_of_the_fields_it_shows_and_its_keys() {
        let selection = NodeSelection {
            lead: vec!["id", "fullName", "score", "company"],
            company: Some(vec!["name", "__typename"]),
            stage: None,
            owner: Some(vec!["email"]),
        };
        let columns = for_selection(&selection, Some(leads::Column::UpdatedAt));
        assert_eq!(
            names(&columns.lead),
            [
                "tenant_id",
                "id",
                "first_name",
                "last_name",
                "email",
                "phone",
                "company_id",
                "score",
                "updated_at"
            ]
        );
        assert_eq!(
            names(columns.company.as_ref().unwrap()),
            ["tenant_id", "id", "name"]
        );
        assert!(columns.stage.is_none());
        assert_eq!(names(columns.owner.as_ref().unwrap()), ["id", "email"]);
        assert!(columns.joins_any());
    }

    #[test]
    fn a_field_not_known_here_reads_the_whole_row() {
        let selection = NodeSelection {
            lead: vec!["id", "scoreBreakdown"],
            company: Some(vec!["name", "somethingNew"]),
            ..Default::default()
        };
        let columns = for_selection(&selection, None);
        assert_eq!(columns.lead.count(), leads::Column::iter().count());
        assert_eq!(
            columns.company.unwrap().count(),
            companies::Column::iter().count()
        );
    }

    /// Every field listed here is a field of its GraphQL type, so a renamed
    /// field cannot leave a stale entry behind.
    #[test]
    fn every_listed_field_is_a_field_of_its_type() {
        let sdl = crate::graphql::sdl();
        let fields_of = |type_name: &str| -> Vec<String> {
            let start = sdl
                .find(&format!("type {type_name} {{"))
                .unwrap_or_else(|| panic!("no type {type_name} in the schema"));
            let body = &sdl[start..start + sdl[start..].find("\n}").unwrap()];
            body.lines()
                .skip(1)
                .filter_map(|line| {
                    let line = line.trim();
                    let end = line.find([':', '('])?;
                    (!line.starts_with('"') && !line.starts_with('#'))
                        .then(|| line[..end].to_owned())
                })
                .collect()
        };
        let check = |type_name: &str, listed: Vec<&str>| {
            let fields = fields_of(type_name);
            for name in listed {
                assert!(
                    name == "__typename" || fields.iter().any(|f| f == name),
                    "{type_name}.{name} is listed but not in the schema: {fields:?}"
                );
            }
        };
        check("Lead", LEAD_FIELDS.iter().map(|(n, _)| *n).collect());
        check("Company", COMPANY_FIELDS.iter().map(|(n, _)| *n).collect());
        check("LeadStage", STAGE_FIELDS.iter().map(|(n, _)| *n).collect());
        check("User", USER_FIELDS.iter().map(|(n, _)| *n).collect());
    }

    #[test]
    fn positions_count_only_the_columns_read() {
        let selection = NodeSelection {
            lead: vec!["email"],
            ..Default::default()
        };
        let positions = for_selection(&selection, None).lead.positions(0);
        assert_eq!(positions[leads::Column::TenantId as usize], Some(0));
        assert_eq!(positions[leads::Column::Id as usize], Some(1));
        assert_eq!(positions[leads::Column::Email as usize], Some(2));
        assert_eq!(positions[leads::Column::FirstName as usize], None);
        let company = Picked::<companies::Entity>::all().positions(5);
        assert_eq!(company[companies::Column::TenantId as usize], Some(5));
        assert_eq!(company[companies::Column::DeletedBy as usize], Some(27));
    }
}
