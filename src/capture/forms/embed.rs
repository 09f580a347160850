//! The form as an HTML page: accessible (every control labelled, help and
//! errors tied to it with `aria-describedby`, an error summary announced
//! first), styled with the tenant's branding, and working without
//! JavaScript (a plain POST). Everything a tenant or a visitor typed is
//! escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use entity::sea_orm_active_enums::FormFieldType;
use entity::{form_fields, forms};

use super::submit::{DRAWN, FieldError, HONEYPOT, PAGE, VISITOR};
use super::types::options_of;

/// Text as HTML text or attribute value.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The tenant's colour, when it is a plain CSS hex colour (anything else
/// could break out of the style).
fn colour(branding: &serde_json::Value) -> String {
    ["primaryColor", "primary_color", "color"]
        .iter()
        .find_map(|key| branding.get(*key).and_then(|v| v.as_str()))
        .filter(|c| {
            c.len() <= 9 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
        })
        .unwrap_or("#2563eb")
        .to_owned()
}

fn logo(branding: &serde_json::Value) -> Option<String> {
    ["logoUrl", "logo_url", "logo"]
        .iter()
        .find_map(|key| branding.get(*key).and_then(|v| v.as_str()))
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
        .map(escape)
}

/// A whole page around `body`.
pub(crate) fn page(title: &str, branding: &serde_json::Value, body: &str) -> String {
    let colour = colour(branding);
    let logo = logo(branding)
        .map(|url| format!("<img src=\"{url}\" alt=\"\" style=\"max-height:3rem\">"))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#111}}\
         label{{display:block;font-weight:600;margin-top:1rem}}\
         input,select,textarea{{display:block;width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;font:inherit}}\
         input[type=checkbox]{{display:inline;width:auto}}\
         .help{{color:#555;font-size:.9rem}} .error{{color:#b91c1c;font-size:.9rem}}\
         .hp{{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}}\
         button{{margin-top:1.5rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:{colour};color:#fff;font:inherit;cursor:pointer}}\
         </style></head><body>{logo}{body}</body></html>",
        title = escape(title),
    )
}

/// The form, with the values given and the errors to show (a submission
/// sent back).
pub(crate) fn form_page(
    form: &forms::Model,
    fields: &[form_fields::Model],
    branding: &serde_json::Value,
    action: &str,
    drawn: &str,
    given: &BTreeMap<String, Vec<String>>,
    errors: &[FieldError],
) -> String {
    let title = form.title.as_deref().unwrap_or(&form.name);
    let mut body = format!("<h1>{}</h1>", escape(title));
    if let Some(description) = &form.description {
        let _ = write!(body, "<p>{}</p>", escape(description));
    }
    if !errors.is_empty() {
        body.push_str(
            "<div role=\"alert\" tabindex=\"-1\"><p><strong>Please correct the following:</strong></p><ul>",
        );
        for error in errors {
            let label = fields
                .iter()
                .find(|f| f.key == error.field)
                .map_or(error.field.as_str(), |f| f.label.as_str());
            let _ = write!(
                body,
                "<li><a href=\"#f-{}\">{}: {}</a></li>",
                escape(&error.field),
                escape(label),
                escape(&error.message)
            );
        }
        body.push_str("</ul></div>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}\" accept-charset=\"utf-8\" novalidate>",
        escape(action)
    );
    for field in fields {
        let error = errors.iter().find(|e| e.field == field.key);
        field_html(&mut body, field, given.get(&field.key), error);
    }
    // The honeypot: hidden from people (and screen readers), not from bots.
    let _ = write!(
        body,
        "<div class=\"hp\" aria-hidden=\"true\"><label for=\"{HONEYPOT}\">Leave this empty</label>\
         <input type=\"text\" id=\"{HONEYPOT}\" name=\"{HONEYPOT}\" tabindex=\"-1\" autocomplete=\"off\"></div>\
         <input type=\"hidden\" name=\"{DRAWN}\" value=\"{}\">",
        escape(drawn)
    );
    // The page-view tracker's visitor and the page the form is on.
    for name in [VISITOR, PAGE] {
        if let Some(value) = given.get(name).and_then(|v| v.first()) {
            let _ = write!(
                body,
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            );
        }
    }
    body.push_str("<button type=\"submit\">Submit</button></form>");
    page(title, branding, &body)
}

fn field_html(
    out: &mut String,
    field: &form_fields::Model,
    given: Option<&Vec<String>>,
    error: Option<&FieldError>,
) {
    let key = escape(&field.key);
    let id = format!("f-{key}");
    let value = given
        .and_then(|v| v.first().cloned())
        .or_else(|| field.default_value.clone())
        .unwrap_or_default();
    let required = if field.required {
        " required aria-required=\"true\""
    } else {
        ""
    };
    let mut described = Vec::new();
    let mut after = String::new();
    if let Some(help) = &field.help_text {
        described.push(format!("{id}-help"));
        let _ = write!(
            after,
            "<div class=\"help\" id=\"{id}-help\">{}</div>",
            escape(help)
        );
    }
    if let Some(error) = error {
        described.push(format!("{id}-error"));
        let _ = write!(
            after,
            "<div class=\"error\" id=\"{id}-error\">{}</div>",
            escape(&error.message)
        );
    }
    let aria = format!(
        "{}{}",
        if described.is_empty() {
            String::new()
        } else {
            format!(" aria-describedby=\"{}\"", described.join(" "))
        },
        if error.is_some() {
            " aria-invalid=\"true\""
        } else {
            ""
        }
    );
    let placeholder = field
        .placeholder
        .as_ref()
        .map(|p| format!(" placeholder=\"{}\"", escape(p)))
        .unwrap_or_default();
    let label = format!(
        "{}{}",
        escape(&field.label),
        if field.required {
            " <span aria-hidden=\"true\">*</span>"
        } else {
            ""
        }
    );
    let input = |kind: &str| {
        format!(
            "<label for=\"{id}\">{label}</label><input type=\"{kind}\" id=\"{id}\" name=\"{key}\" value=\"{}\"{placeholder}{required}{aria}>",
            escape(&value)
        )
    };
    let html = match field.field_type {
        FormFieldType::Hidden => {
            let _ = write!(
                out,
                "<input type=\"hidden\" name=\"{key}\" value=\"{}\">",
                escape(&value)
            );
            return;
        }
        FormFieldType::Text => input("text"),
        FormFieldType::Email => input("email"),
        FormFieldType::Phone => input("tel"),
        FormFieldType::Number => input("number"),
        FormFieldType::Date => input("date"),
        FormFieldType::Textarea => format!(
            "<label for=\"{id}\">{label}</label><textarea id=\"{id}\" name=\"{key}\" rows=\"5\"{placeholder}{required}{aria}>{}</textarea>",
            escape(&value)
        ),
        FormFieldType::Select => {
            let mut html = format!(
                "<label for=\"{id}\">{label}</label><select id=\"{id}\" name=\"{key}\"{required}{aria}><option value=\"\">—</option>"
            );
            for option in options_of(field) {
                let selected = if option.value == value {
                    " selected"
                } else {
                    ""
                };
                let _ = write!(
                    html,
                    "<option value=\"{}\"{selected}>{}</option>",
                    escape(&option.value),
                    escape(&option.label)
                );
            }
            html.push_str("</select>");
            html
        }
        FormFieldType::Multiselect => {
            let chosen: Vec<&String> = given.map(|v| v.iter().collect()).unwrap_or_default();
            let mut html = format!("<fieldset id=\"{id}\"{aria}><legend>{label}</legend>");
            for (i, option) in options_of(field).into_iter().enumerate() {
                let checked = if chosen.contains(&&option.value) {
                    " checked"
                } else {
                    ""
                };
                let _ = write!(
                    html,
                    "<div><input type=\"checkbox\" id=\"{id}-{i}\" name=\"{key}\" value=\"{}\"{checked}> <label for=\"{id}-{i}\" style=\"display:inline;font-weight:400\">{}</label></div>",
                    escape(&option.value),
                    escape(&option.label)
                );
            }
            html.push_str("</fieldset>");
            html
        }
        FormFieldType::Checkbox | FormFieldType::Consent => {
            let checked = if given.is_some_and(|v| !v.is_empty()) {
                " checked"
            } else {
                ""
            };
            format!(
                "<div style=\"margin-top:1rem\"><input type=\"checkbox\" id=\"{id}\" name=\"{key}\" value=\"on\"{checked}{required}{aria}> <label for=\"{id}\" style=\"display:inline\">{label}</label></div>"
            )
        }
    };
    out.push_str("<div>");
    out.push_str(&html);
    out.push_str(&after);
    out.push_str("</div>");
}
