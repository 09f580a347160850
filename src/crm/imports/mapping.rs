//! Where each column of an import goes, and one line of the file read as
//! the `createLead` input it stands for, so that an imported lead passes
//! exactly the checks an API call does.
//!
//! A column maps to a lead attribute by its GraphQL name (`email`,
//! `firstName`, … as `LEAD_ATTRIBUTES` declares them), to `tags` (split on
//! `,`, `;` or `|`), `status`, `companyName` or `companyWebsite` (the
//! company is found by its normalised domain or its name, else created),
//! or to `customFields.<key>` (read as the definition's type).

use async_graphql::{Name, Value};
use entity::custom_field_definitions;
use entity::sea_orm_active_enums::CustomFieldType;
use serde_json::Map;

use crate::attributes::{Attribute, ScoreKind};
use crate::crm::leads::attributes::LEAD_ATTRIBUTES;
use crate::error::{AppError, AppResult};

/// Where one column goes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Target {
    Attribute(&'static str),
    Tags,
    Status,
    CompanyName,
    CompanyWebsite,
    CustomField(String),
}

const CUSTOM_PREFIX: &str = "customFields.";

impl Target {
    /// The target a mapping names, if it is one.
    pub(crate) fn parse(
        name: &str,
        definitions: &[custom_field_definitions::Model],
    ) -> Option<Self> {
        match name {
            "tags" => Some(Self::Tags),
            "status" => Some(Self::Status),
            "companyName" => Some(Self::CompanyName),
            "companyWebsite" => Some(Self::CompanyWebsite),
            _ => {
                if let Some(key) = name.strip_prefix(CUSTOM_PREFIX) {
                    return definitions
                        .iter()
                        .any(|d| d.key == key)
                        .then(|| Self::CustomField(key.to_owned()));
                }
                attribute(name).map(|a| Self::Attribute(a.name))
            }
        }
    }

    pub(crate) fn name(&self) -> String {
        match self {
            Self::Attribute(name) => (*name).to_owned(),
            Self::Tags => "tags".into(),
            Self::Status => "status".into(),
            Self::CompanyName => "companyName".into(),
            Self::CompanyWebsite => "companyWebsite".into(),
            Self::CustomField(key) => format!("{CUSTOM_PREFIX}{key}"),
        }
    }
}

pub(crate) fn attribute(name: &str) -> Option<&'static Attribute<entity::leads::Model>> {
    LEAD_ATTRIBUTES.iter().find(|a| a.name == name)
}

/// Headers compared without case, spaces or punctuation.
fn folded(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Other names people give the columns, folded.
const SYNONYMS: &[(&str, &str)] = &[
    ("mail", "email"),
    ("emailaddress", "email"),
    ("firstname", "firstName"),
    ("givenname", "firstName"),
    ("forename", "firstName"),
    ("vorname", "firstName"),
    ("lastname", "lastName"),
    ("surname", "lastName"),
    ("familyname", "lastName"),
    ("nachname", "lastName"),
    ("telephone", "phone"),
    ("phonenumber", "phone"),
    ("mobile", "phone"),
    ("title", "jobTitle"),
    ("position", "jobTitle"),
    ("role", "jobTitle"),
    ("town", "city"),
    ("stadt", "city"),
    ("land", "country"),
    ("linkedin", "linkedinUrl"),
    ("labels", "tags"),
    ("tag", "tags"),
    ("company", "companyName"),
    ("organization", "companyName"),
    ("organisation", "companyName"),
    ("firma", "companyName"),
    ("website", "companyWebsite"),
    ("url", "companyWebsite"),
    ("domain", "companyWebsite"),
    ("web", "companyWebsite"),
];

/// The target each header most likely means (none when nothing fits),
/// never the same target twice.
pub(crate) fn suggest(
    headers: &[String],
    definitions: &[custom_field_definitions::Model],
) -> Vec<Option<String>> {
    let mut taken: Vec<String> = Vec::new();
    headers
        .iter()
        .map(|header| {
            let key = folded(header);
            let guess = LEAD_ATTRIBUTES
                .iter()
                .map(|a| a.name.to_owned())
                .chain(
                    ["tags", "status", "companyName", "companyWebsite"]
                        .into_iter()
                        .map(String::from),
                )
                .find(|name| folded(name) == key)
                .or_else(|| {
                    SYNONYMS
                        .iter()
                        .find(|(synonym, _)| *synonym == key)
                        .map(|(_, name)| (*name).to_owned())
                })
                .or_else(|| {
                    definitions
                        .iter()
                        .find(|d| folded(&d.key) == key || folded(&d.label) == key)
                        .map(|d| format!("{CUSTOM_PREFIX}{}", d.key))
                })?;
            if taken.contains(&guess) {
                return None;
            }
            taken.push(guess.clone());
            Some(guess)
        })
        .collect()
}

/// A checked mapping: the target of each column (none: skipped).
#[derive(Clone, Debug, Default)]
pub(crate) struct Mapping {
    pub columns: Vec<Option<Target>>,
}

impl Mapping {
    /// Checks a mapping given as `(header, target)` pairs against the
    /// file's headers, naming `path.i.column` or `path.i.field` when wrong.
    pub(crate) fn check(
        headers: &[String],
        given: &[(String, Option<String>)],
        definitions: &[custom_field_definitions::Model],
        path: &str,
    ) -> AppResult<Self> {
        let mut columns = vec![None; headers.len()];
        let mut seen: Vec<Target> = Vec::new();
        for (i, (column, field)) in given.iter().enumerate() {
            let Some(index) = headers.iter().position(|h| h == column) else {
                return Err(AppError::invalid(
                    format!("{path}.{i}.column"),
                    format!("the file has no column \"{column}\""),
                ));
            };
            let Some(field) = field else { continue };
            let target = Target::parse(field, definitions).ok_or_else(|| {
                AppError::invalid(
                    format!("{path}.{i}.field"),
                    format!(
                        "\"{field}\" is not a lead field, tags, status, companyName, \
                         companyWebsite or customFields.<key> of a defined custom field"
                    ),
                )
            })?;
            if seen.contains(&target) {
                return Err(AppError::invalid(
                    format!("{path}.{i}.field"),
                    format!("another column already goes to {field}"),
                ));
            }
            seen.push(target.clone());
            columns[index] = Some(target);
        }
        if seen.is_empty() {
            return Err(AppError::invalid(path, "map at least one column"));
        }
        Ok(Self { columns })
    }

    /// Stored with the batch, as `(header, target)` pairs.
    pub(crate) fn to_json(&self, headers: &[String]) -> serde_json::Value {
        serde_json::Value::Array(
            headers
                .iter()
                .zip(&self.columns)
                .map(|(header, target)| {
                    serde_json::json!({ "column": header, "field": target.as_ref().map(Target::name) })
                })
                .collect(),
        )
    }

    pub(crate) fn pairs(json: &serde_json::Value) -> Vec<(String, Option<String>)> {
        json.as_array()
            .into_iter()
            .flatten()
            .filter_map(|pair| {
                Some((
                    pair["column"].as_str()?.to_owned(),
                    pair["field"].as_str().map(str::to_owned),
                ))
            })
            .collect()
    }
}

/// What is wrong with one line: the column (by header) and why.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RowError {
    pub column: Option<String>,
    pub message: String,
}

/// One line of the file as the input of `createLead` (a GraphQL input
/// object), and the company it names.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub lead: async_graphql::indexmap::IndexMap<Name, Value>,
    pub custom_fields: Map<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub company_name: Option<String>,
    pub company_website: Option<String>,
}

/// Reads a line by the mapping; empty cells are left out (a lead keeps its
/// default or, on update, its value).
pub(crate) fn read_row(
    mapping: &Mapping,
    headers: &[String],
    record: &[String],
    definitions: &[custom_field_definitions::Model],
) -> Result<Row, RowError> {
    let mut row = Row::default();
    for (index, target) in mapping.columns.iter().enumerate() {
        let Some(target) = target else { continue };
        let text = record.get(index).map_or("", |cell| cell.trim());
        if text.is_empty() {
            continue;
        }
        let fail = |message: String| RowError {
            column: headers.get(index).cloned(),
            message,
        };
        match target {
            Target::Attribute(name) => {
                let attribute = attribute(name).expect("checked when mapped");
                row.lead
                    .insert(Name::new(*name), typed(attribute.kind, text).map_err(fail)?);
            }
            Target::Tags => row.tags.extend(
                text.split([',', ';', '|'])
                    .map(str::trim)
                    .filter(|tag| !tag.is_empty())
                    .map(str::to_owned),
            ),
            Target::Status => {
                let status = choice(
                    text,
                    &crate::attributes::spellings::<crate::crm::leads::types::LeadStatus>(),
                )
                .map_err(fail)?;
                row.lead.insert(Name::new("status"), status);
            }
            Target::CompanyName => row.company_name = Some(text.to_owned()),
            Target::CompanyWebsite => row.company_website = Some(text.to_owned()),
            Target::CustomField(key) => {
                let definition = definitions
                    .iter()
                    .find(|d| &d.key == key)
                    .expect("checked when mapped");
                row.custom_fields
                    .insert(key.clone(), custom_value(definition, text).map_err(fail)?);
            }
        }
    }
    Ok(row)
}

/// A cell as a value of the attribute's kind.
pub(crate) fn typed(kind: ScoreKind, text: &str) -> Result<Value, String> {
    match kind {
        ScoreKind::Text => Ok(Value::String(text.to_owned())),
        ScoreKind::Number => number(text).map(|n| Value::Number(n.into())),
        ScoreKind::Bool => flag(text).map(Value::Boolean),
        ScoreKind::Choice(spellings) => choice(text, &spellings()),
    }
}

fn number(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .map_err(|_| format!("\"{text}\" is not a whole number"))
}

fn flag(text: &str) -> Result<bool, String> {
    match text.to_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!("\"{text}\" is not yes or no (true/false, 1/0)")),
    }
}

/// One of an enum's spellings, ignoring case, spaces and hyphens
/// (`Follow up 1` for `FOLLOW_UP_1`).
fn choice(text: &str, spellings: &[String]) -> Result<Value, String> {
    let wanted: String = text
        .trim()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .flat_map(char::to_lowercase)
        .collect();
    spellings
        .iter()
        .find(|s| **s == wanted)
        .map(|s| Value::Enum(Name::new(s.to_uppercase())))
        .ok_or_else(|| format!("\"{text}\" is not one of: {}", spellings.join(", ")))
}

/// A cell as a custom field value of the definition's type (the custom
/// field rules then check it as they check an API call's).
fn custom_value(
    definition: &custom_field_definitions::Model,
    text: &str,
) -> Result<serde_json::Value, String> {
    typed_custom(definition.field_type, text)
}

/// Text as a value of a custom field type (a public form's fields have the
/// same kinds of value).
pub(crate) fn typed_custom(
    field_type: CustomFieldType,
    text: &str,
) -> Result<serde_json::Value, String> {
    Ok(match field_type {
        CustomFieldType::Number => {
            let number: f64 = text
                .parse()
                .map_err(|_| format!("\"{text}\" is not a number"))?;
            serde_json::Number::from_f64(number)
                .map(serde_json::Value::Number)
                .ok_or_else(|| format!("\"{text}\" is not a number"))?
        }
        CustomFieldType::Boolean => serde_json::Value::Bool(flag(text)?),
        CustomFieldType::Multiselect => serde_json::Value::Array(
            text.split([',', ';', '|'])
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| serde_json::Value::String(v.to_owned()))
                .collect(),
        ),
        _ => serde_json::Value::String(text.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn headers_are_matched_by_name_and_synonym_never_twice() {
        let suggested = suggest(
            &headers(&[
                "E-Mail",
                "First Name",
                "Surname",
                "Company",
                "Website",
                "Mail",
                "Notes",
            ]),
            &[],
        );
        assert_eq!(
            suggested,
            [
                Some("email".to_owned()),
                Some("firstName".to_owned()),
                Some("lastName".to_owned()),
                Some("companyName".to_owned()),
                Some("companyWebsite".to_owned()),
                None,
                None
            ]
        );
    }

    #[test]
    fn a_mapping_names_what_is_wrong() {
        let file = headers(&["email", "score"]);
        let wrong_column = Mapping::check(
            &file,
            &[("mail".into(), Some("email".into()))],
            &[],
            "mapping",
        );
        assert!(
            matches!(wrong_column, Err(AppError::BadUserInput { field, .. }) if field == "mapping.0.column")
        );
        let twice = Mapping::check(
            &file,
            &[
                ("email".into(), Some("email".into())),
                ("score".into(), Some("email".into())),
            ],
            &[],
            "mapping",
        );
        assert!(
            matches!(twice, Err(AppError::BadUserInput { field, .. }) if field == "mapping.1.field")
        );
        let unknown = Mapping::check(
            &file,
            &[("score".into(), Some("customFields.nope".into()))],
            &[],
            "mapping",
        );
        assert!(
            matches!(unknown, Err(AppError::BadUserInput { field, .. }) if field == "mapping.0.field")
        );
    }

    #[test]
    fn cells_are_read_as_their_targets_kind() {
        let file = headers(&["email", "decides", "status", "tags", "quality"]);
        let mapping = Mapping::check(
            &file,
            &[
                ("email".into(), Some("email".into())),
                ("decides".into(), Some("isDecisionMaker".into())),
                ("status".into(), Some("status".into())),
                ("tags".into(), Some("tags".into())),
                ("quality".into(), Some("qualityScore".into())),
            ],
            &[],
            "mapping",
        )
        .unwrap();
        let cells = headers(&["a@x.org", "Yes", "follow up 1", "vip; b2b|fair", ""]);
        let row = read_row(&mapping, &file, &cells, &[]).unwrap();
        assert_eq!(row.lead["isDecisionMaker"], Value::Boolean(true));
        assert_eq!(row.lead["status"], Value::Enum(Name::new("FOLLOW_UP_1")));
        assert_eq!(row.tags, ["vip", "b2b", "fair"]);
        assert!(!row.lead.contains_key("qualityScore"));
        let bad = headers(&["a@x.org", "perhaps", "", "", "lots"]);
        let error = read_row(&mapping, &file, &bad, &[]).unwrap_err();
        assert_eq!(error.column.as_deref(), Some("decides"));
    }
}
