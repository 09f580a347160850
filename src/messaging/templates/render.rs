//! Rendering message templates with minijinja. `check` runs when a template
//! is saved, so a typo in a variable name is an error for the author rather
//! than a blank in 10,000 sent emails; `CompiledTemplate` parses the parts
//! once and renders them per lead when the template is sent.
//!
//! A template is a program its author wrote: nested `range()` loops run for
//! minutes. Every render therefore has a budget (`RenderLimits`: minijinja
//! fuel, counted in instructions, and a cap on each part's output), and
//! renders run in the render workers (`worker.rs`, `pool.rs`), child
//! processes with a memory cap, never in the server.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

pub(crate) use super::context::DeclaredVariable;
use super::context::{RESERVED_NAMES, SENDER_FIELDS, TENANT_FIELDS, company_fields, lead_fields};
use crate::error::AppError;

// Template names double as the error field of each part.
const SUBJECT: &str = "subject";
const TEXT_BODY: &str = "textBody";
const HTML_BODY: &str = "htmlBody";

/// How deep loops, blocks and macro calls may nest (minijinja counts a loop
/// as 1, a macro call as more). Emails nest a few levels; minijinja's own
/// maximum (500) is sized for a main thread's stack, and renders run on
/// blocking threads with smaller ones.
const RECURSION_LIMIT: usize = 100;

/// What rendering one part of a template may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RenderLimits {
    /// minijinja fuel: roughly the instructions one render may run.
    pub fuel: u64,
    /// The most bytes one rendered part may have.
    pub output_bytes: usize,
}

impl RenderLimits {
    pub(crate) fn of(limits: &crate::config::Limits) -> Self {
        Self {
            fuel: limits.template_fuel,
            output_bytes: limits.template_output_bytes,
        }
    }
}

/// Line width of the text body derived from HTML: the customary plain-text
/// email width, which leaves room for quoting in replies.
const TEXT_WIDTH: usize = 78;

/// Names the template language binds itself, so a declared variable of that
/// name could never be read.
const LANGUAGE_NAMES: &[&str] = &[
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else",
    "loop", "self", "super", "caller", "varargs", "kwargs",
];

/// The three sources of a template; an email needs a subject and at least one
/// body, which the caller checks.
pub(crate) struct TemplateParts<'a> {
    pub subject: Option<&'a str>,
    pub text_body: Option<&'a str>,
    pub html_body: Option<&'a str>,
}

impl TemplateParts<'_> {
    fn named(&self) -> [(&'static str, Option<&str>); 3] {
        [
            (SUBJECT, self.subject),
            (TEXT_BODY, self.text_body),
            (HTML_BODY, self.html_body),
        ]
    }
}

/// A template's sources, owned: what a render worker is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TemplateSource {
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
}

impl TemplateSource {
    pub(crate) fn of(parts: &TemplateParts) -> Self {
        Self {
            subject: parts.subject.map(str::to_owned),
            text_body: parts.text_body.map(str::to_owned),
            html_body: parts.html_body.map(str::to_owned),
        }
    }

    pub(crate) fn parts(&self) -> TemplateParts<'_> {
        TemplateParts {
            subject: self.subject.as_deref(),
            text_body: self.text_body.as_deref(),
            html_body: self.html_body.as_deref(),
        }
    }
}

/// One message, ready to send. `text_body` is derived from the HTML when the
/// template has no text part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rendered {
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
}

/// Checks a template before it is saved: the syntax of each part, the
/// declared variables, and that every variable used is one the context
/// provides (see `context.rs`), a declared one, or a tenant custom variable.
pub(crate) fn check(
    parts: &TemplateParts,
    declared: &[DeclaredVariable],
    custom_variable_keys: &BTreeSet<String>,
) -> Result<(), AppError> {
    let env = environment();
    let globals: BTreeSet<&str> = env.globals().map(|(name, _)| name).collect();
    check_declared(declared, &globals)?;
    let scope = Scope {
        declared,
        custom_variable_keys,
        globals,
    };
    for (part, source) in parts.named() {
        let Some(source) = source else { continue };
        let template = env
            .template_from_named_str(part, source)
            .map_err(|error| template_error(part, &error))?;
        // Sorted, so the same template always reports the same variable first.
        let used: BTreeSet<String> = template.undeclared_variables(true).into_iter().collect();
        if let Some(unknown) = used.iter().find(|path| !scope.knows(path)) {
            return Err(AppError::invalid(
                part,
                format!("unknown variable \"{unknown}\""),
            ));
        }
    }
    Ok(())
}

/// The context of the trial render a saved template gets (see
/// `templates::service`): declared variables at their defaults, every other
/// value undefined. It finds a template that exceeds its limits whatever the
/// lead, such as nested `range()` loops; other render errors depend on the
/// lead's values, which a sample does not have.
pub(crate) fn sample_context(declared: &[DeclaredVariable]) -> serde_json::Value {
    declared
        .iter()
        .filter_map(|variable| {
            let default = variable.default.clone()?;
            Some((variable.name.clone(), default.into()))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// What a trial render's outcome means for saving: only an error of the
/// limits refuses the template.
pub(crate) fn trial_verdict(outcome: Result<Rendered, AppError>) -> Result<(), AppError> {
    match outcome {
        Err(error @ AppError::LimitExceeded(_)) => Err(error),
        _ => Ok(()),
    }
}

/// A template parsed once, to render for many leads (a bulk send renders one
/// template for thousands of leads).
#[derive(Debug, Clone)]
pub(crate) struct CompiledTemplate {
    env: Environment<'static>,
    limits: RenderLimits,
}

impl CompiledTemplate {
    pub(crate) fn compile(parts: &TemplateParts, limits: RenderLimits) -> Result<Self, AppError> {
        let mut env = environment();
        // Fuel is counted per render, so each part of each message gets the
        // whole budget.
        env.set_fuel(Some(limits.fuel));
        for (part, source) in parts.named() {
            if let Some(source) = source {
                env.add_template_owned(part, source.to_owned())
                    .map_err(|error| template_error(part, &error))?;
            }
        }
        Ok(Self { env, limits })
    }

    /// Renders every part against a context from `build_context`.
    pub(crate) fn render(&self, context: &serde_json::Value) -> Result<Rendered, AppError> {
        let context = template_value(context);
        let subject = self.render_part(SUBJECT, &context)?.unwrap_or_default();
        let html_body = self.render_part(HTML_BODY, &context)?;
        let text_body = match self.render_part(TEXT_BODY, &context)? {
            Some(text) => text,
            None => html_body
                .as_deref()
                .map(html_to_text)
                .transpose()?
                .unwrap_or_default(),
        };
        Ok(Rendered {
            subject: one_line(&subject),
            text_body,
            html_body,
        })
    }

    fn render_part(&self, part: &str, context: &Value) -> Result<Option<String>, AppError> {
        // Only absent parts are missing from the environment.
        let Ok(template) = self.env.get_template(part) else {
            return Ok(None);
        };
        let mut output = CappedOutput::new(self.limits.output_bytes);
        match template.render_captured_to(context, &mut output) {
            Ok(_) => String::from_utf8(output.bytes)
                .map(Some)
                .map_err(AppError::internal),
            Err(_) if output.overflowed => Err(AppError::limit_exceeded(format!(
                "{part}: the rendered text is larger than {} bytes, the template output limit",
                self.limits.output_bytes
            ))),
            Err(error) if error.kind() == ErrorKind::OutOfFuel => {
                Err(AppError::limit_exceeded(format!(
                    "{part}: the template needs more than {} steps to render, the template \
                     fuel limit; loops over large ranges are the usual cause",
                    self.limits.fuel
                )))
            }
            Err(error) => Err(template_error(part, &error)),
        }
    }
}

/// A part's output, refused past the cap: the failed write stops minijinja
/// at once, so a runaway template never holds more than the cap in memory.
struct CappedOutput {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl CappedOutput {
    fn new(cap: usize) -> Self {
        Self {
            bytes: Vec::new(),
            cap,
            overflowed: false,
        }
    }
}

impl io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.cap {
            self.overflowed = true;
            return Err(io::Error::other("template output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The one environment configuration, shared by `check` and rendering so
/// both agree on what a template means.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Only the HTML body is markup: a lead named `<b>` is text there, and the
    // subject and text body must not show `&lt;b&gt;`.
    env.set_auto_escape_callback(|name| {
        if name == HTML_BODY {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    // Chainable rather than Lenient: a missing company or custom field stays
    // undefined all the way down (`lead.custom.address.city`) and prints
    // empty, instead of failing the send for that lead.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    // `debug()` would print the whole context into an email.
    env.remove_global("debug");
    env.set_recursion_limit(RECURSION_LIMIT);
    env
}

/// What a template may refer to, besides its own locals.
struct Scope<'a> {
    declared: &'a [DeclaredVariable],
    custom_variable_keys: &'a BTreeSet<String>,
    /// Functions the environment provides (`range`, `dict`, `namespace`).
    globals: BTreeSet<&'a str>,
}

impl Scope<'_> {
    /// Whether a dotted path (as minijinja reports it) names something the
    /// context provides. Only the first two segments are checked: below a
    /// known field (a custom field's sub-object, a string method) the value
    /// itself decides, and a miss renders empty.
    fn knows(&self, path: &str) -> bool {
        let mut segments = path.split('.');
        let root = segments.next().unwrap_or_default();
        let Some(field) = segments.next() else {
            return RESERVED_NAMES.contains(&root) || self.is_declared_or_global(root);
        };
        match root {
            "lead" => lead_fields().any(|name| name == field),
            "company" => company_fields().any(|name| name == field),
            "sender" => SENDER_FIELDS.contains(&field),
            "tenant" => TENANT_FIELDS.contains(&field),
            "vars" => self.custom_variable_keys.contains(field),
            "unsubscribeUrl" => false,
            _ => self.is_declared_or_global(root),
        }
    }

    fn is_declared_or_global(&self, name: &str) -> bool {
        self.declared.iter().any(|variable| variable.name == name) || self.globals.contains(name)
    }
}

fn check_declared(declared: &[DeclaredVariable], globals: &BTreeSet<&str>) -> Result<(), AppError> {
    let mut seen = BTreeSet::new();
    for (index, variable) in declared.iter().enumerate() {
        let name = variable.name.as_str();
        let field = format!("variables[{index}].name");
        if !is_identifier(name) {
            return Err(AppError::invalid(
                field,
                "must start with a letter or underscore and contain only letters, digits and underscores",
            ));
        }
        if RESERVED_NAMES.contains(&name)
            || LANGUAGE_NAMES.contains(&name)
            || globals.contains(name)
        {
            return Err(AppError::invalid(
                field,
                format!("\"{name}\" is a reserved name"),
            ));
        }
        if !seen.insert(name) {
            return Err(AppError::invalid(
                field,
                format!("\"{name}\" is declared twice"),
            ));
        }
    }
    Ok(())
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first == '_' || first.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A minijinja error as bad input on the part it came from, e.g.
/// `htmlBody: line 3: syntax error: unexpected end of input`.
fn template_error(part: &str, error: &minijinja::Error) -> AppError {
    let message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    match error.line() {
        Some(line) => AppError::invalid(part, format!("line {line}: {message}")),
        None => AppError::invalid(part, message),
    }
}

/// JSON to a template value by hand (minijinja is built without its `serde`
/// feature). Nulls become undefined, so they print empty and `default` applies.
fn template_value(json: &serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match json {
        Json::Null => Value::UNDEFINED,
        Json::Bool(flag) => Value::from(*flag),
        Json::Number(number) => number
            .as_i64()
            .map(Value::from)
            .or_else(|| number.as_u64().map(Value::from))
            .unwrap_or_else(|| Value::from(number.as_f64().unwrap_or(f64::NAN))),
        Json::String(text) => Value::from(text.as_str()),
        Json::Array(items) => items.iter().map(template_value).collect(),
        Json::Object(members) => Value::from_object(
            members
                .iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key.clone(), template_value(value)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// Plain text for mail clients that show no HTML; links become numbered
/// footnotes, unwrapped so they stay clickable.
fn html_to_text(html: &str) -> Result<String, AppError> {
    html2text::config::plain()
        .no_link_wrapping()
        .string_from_read(html.as_bytes(), TEXT_WIDTH)
        .map_err(AppError::internal)
}

/// A subject is one header line: the line breaks `{% if %}` blocks leave
/// behind become single spaces.
fn one_line(subject: &str) -> String {
    subject
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::messaging::templates::context::{ContextInput, build_context};

    /// Compiles and renders in one go.
    fn render_once(
        parts: &TemplateParts,
        context: &serde_json::Value,
    ) -> Result<Rendered, AppError> {
        CompiledTemplate::compile(parts, LIMITS)?.render(context)
    }

    /// Generous enough for every test below but the ones about limits.
    const LIMITS: RenderLimits = RenderLimits {
        fuel: 1_000_000,
        output_bytes: 512 * 1024,
    };
    use crate::messaging::templates::context::tests::{company, context_for, lead};

    fn parts<'a>(
        subject: &'a str,
        text: Option<&'a str>,
        html: Option<&'a str>,
    ) -> TemplateParts<'a> {
        TemplateParts {
            subject: Some(subject),
            text_body: text,
            html_body: html,
        }
    }

    fn full_context() -> serde_json::Value {
        context_for(&lead(), Some(&company()))
    }

    fn check_html(html: &str) -> Result<(), AppError> {
        check(&parts("Hi", None, Some(html)), &[], &BTreeSet::new())
    }

    fn bad_input(result: Result<impl std::fmt::Debug, AppError>) -> (String, String) {
        match result {
            Err(AppError::BadUserInput { field, message }) => (field, message),
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    fn var(name: &str, default: Option<&str>) -> DeclaredVariable {
        DeclaredVariable {
            name: name.into(),
            default: default.map(Into::into),
        }
    }

    #[test]
    fn renders_every_namespace() {
        let source = "{{ lead.fullName }}|{{ lead.status }}|{{ lead.score }}|{{ lead.custom.plan }}|\
                      {{ company.name }}|{{ company.size }}|{{ company.custom.segment }}|\
                      {{ sender.name }}|{{ sender.email }}|{{ tenant.name }}|{{ unsubscribeUrl }}";

        let rendered = render_once(&parts("s", Some(source), None), &full_context()).unwrap();

        assert_eq!(
            rendered.text_body,
            "Ada Lovelace|follow_up_1|42|pro|Analytical Engines|small|b2b|\
             Grace|grace@promohub.example|Acme|https://t.example/u/abc"
        );
    }

    #[test]
    fn missing_values_render_empty_and_take_defaults() {
        let mut lead = lead();
        lead.first_name = None;
        let context = context_for(&lead, None);
        let source = "[{{ lead.firstName }}][{{ company.name }}][{{ lead.custom.nickname }}]\
                      [{{ lead.custom.address.city }}] Hi {{ lead.firstName | default(\"there\") }}";

        let rendered = render_once(&parts("s", Some(source), None), &context).unwrap();

        assert_eq!(rendered.text_body, "[][][][] Hi there");
    }

    #[test]
    fn escapes_html_but_not_the_subject_or_text() {
        let mut lead = lead();
        lead.first_name = Some("<script>".into());
        let context = context_for(&lead, None);
        let template = parts(
            "Hi {{ lead.firstName }}",
            Some("Hi {{ lead.firstName }}"),
            Some("<p>Hi {{ lead.firstName }}</p>"),
        );

        let rendered = render_once(&template, &context).unwrap();

        assert_eq!(rendered.subject, "Hi <script>");
        assert_eq!(rendered.text_body, "Hi <script>");
        assert_eq!(rendered.html_body.unwrap(), "<p>Hi &lt;script&gt;</p>");
    }

    #[test]
    fn derives_the_text_body_from_html() {
        let html = "<h1>Hello {{ lead.firstName }}</h1><p>See <a href=\"https://promohub.example/offer\">our offer</a>.</p>";

        let rendered = render_once(&parts("s", None, Some(html)), &full_context()).unwrap();

        assert!(
            rendered.text_body.contains("Hello Ada"),
            "{}",
            rendered.text_body
        );
        assert!(
            rendered.text_body.contains("our offer"),
            "{}",
            rendered.text_body
        );
        assert!(
            rendered
                .text_body
                .contains("https://promohub.example/offer"),
            "{}",
            rendered.text_body
        );
        assert!(!rendered.text_body.contains("<p>"));
    }

    #[test]
    fn the_subject_is_one_line() {
        let subject = "{% if lead.firstName %}\n  Hi {{ lead.firstName }}\n{% endif %}\n, news";

        let rendered = render_once(&parts(subject, Some("x"), None), &full_context()).unwrap();

        assert_eq!(rendered.subject, "Hi Ada , news");
    }

    #[test]
    fn accepts_every_context_path_and_loop_locals() {
        let keys = BTreeSet::from(["region".to_owned()]);
        let html = "{{ lead.firstName }}{{ lead.custom.a.b }}{{ company.domain }}{{ company.custom.x }}\
                    {{ sender.email }}{{ tenant.name }}{{ vars.region }}{{ unsubscribeUrl }}{{ offer.code }}\
                    {% for t in lead.tags %}{{ t }}{{ loop.index }}{% endfor %}\
                    {% set greeting = 'Hi' %}{{ greeting }}{% for i in range(2) %}{{ i }}{% endfor %}";

        let result = check(&parts("s", None, Some(html)), &[var("offer", None)], &keys);

        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn rejects_an_unknown_variable_naming_its_part() {
        for (html, unknown) in [
            ("{{ lead.nickname }}", "lead.nickname"),
            ("{{ company.revenue }}", "company.revenue"),
            ("{{ sender.phone }}", "sender.phone"),
            ("{{ vars.region }}", "vars.region"),
            ("{{ first_name }}", "first_name"),
            ("{{ debug() }}", "debug"),
        ] {
            let (field, message) = bad_input(check_html(html));

            assert_eq!(field, "htmlBody");
            assert_eq!(message, format!("unknown variable \"{unknown}\""));
        }
    }

    #[test]
    fn a_syntax_error_names_the_part_and_line() {
        let template = parts("Hi", Some("line one\nline two {{ lead.firstName "), None);

        let (field, message) = bad_input(check(&template, &[], &BTreeSet::new()));

        assert_eq!(field, "textBody");
        assert!(message.starts_with("line 2: syntax error"), "{message}");
    }

    #[test]
    fn rejects_bad_declared_variables_by_position() {
        for (declared, field) in [
            (vec![var("1st", None)], "variables[0].name"),
            (
                vec![var("ok", None), var("has-dash", None)],
                "variables[1].name",
            ),
            (vec![var("lead", None)], "variables[0].name"),
            (vec![var("unsubscribeUrl", None)], "variables[0].name"),
            (
                vec![var("offer", None), var("offer", None)],
                "variables[1].name",
            ),
        ] {
            let (actual, _) = bad_input(check(
                &parts("Hi", Some("x"), None),
                &declared,
                &BTreeSet::new(),
            ));

            assert_eq!(actual, field, "{declared:?}");
        }
    }

    #[test]
    fn a_declared_variable_takes_the_provided_value_else_its_default() {
        let lead = lead();
        let declared = [var("offer", Some("10%")), var("deadline", Some("Friday"))];
        let provided = json!({ "offer": "25%" });
        let context = build_context(&ContextInput {
            lead: &lead,
            lead_tags: &[],
            company: None,
            sender_name: None,
            sender_email: None,
            tenant_name: "Acme",
            custom_variables: &[],
            declared: &declared,
            provided: provided.as_object().unwrap(),
            unsubscribe_url: "",
        });

        let rendered = render_once(
            &parts("{{ offer }} until {{ deadline }}", Some("x"), None),
            &context,
        )
        .unwrap();

        assert_eq!(rendered.subject, "25% until Friday");
    }

    #[test]
    fn vars_prefer_lead_then_company_then_default() {
        let (mut lead, mut company) = (lead(), company());
        lead.custom_fields = json!({ "a": "lead" });
        company.custom_fields = json!({ "a": "company", "b": "company" });
        let variables = [
            ("a".to_owned(), "default".to_owned()),
            ("b".to_owned(), "default".to_owned()),
            ("c".to_owned(), "default".to_owned()),
        ];
        let context = build_context(&ContextInput {
            lead: &lead,
            lead_tags: &[],
            company: Some(&company),
            sender_name: None,
            sender_email: None,
            tenant_name: "Acme",
            custom_variables: &variables,
            declared: &[],
            provided: &serde_json::Map::new(),
            unsubscribe_url: "",
        });

        let rendered = render_once(
            &parts("{{ vars.a }} {{ vars.b }} {{ vars.c }}", Some("x"), None),
            &context,
        )
        .unwrap();

        assert_eq!(rendered.subject, "lead company default");
    }

    #[test]
    fn a_render_time_error_names_the_part() {
        let template = parts("Hi", Some("{{ lead.score + lead.firstName }}"), None);

        let (field, _) = bad_input(render_once(&template, &full_context()));

        assert_eq!(field, "textBody");
    }

    #[test]
    fn a_compiled_template_renders_ten_thousand_times() {
        let template = CompiledTemplate::compile(
            &parts(
                "Hi {{ lead.firstName }}",
                Some("Hello {{ lead.fullName }} at {{ company.name }}"),
                Some(
                    "<p>Hello {{ lead.fullName }}{% for t in lead.tags %} #{{ t }}{% endfor %}</p>",
                ),
            ),
            LIMITS,
        )
        .unwrap();
        let context = full_context();

        for _ in 0..10_000 {
            let rendered = template.render(&context).unwrap();
            assert_eq!(rendered.subject, "Hi Ada");
        }
    }

    /// Nested loops of 10^8 iterations in all that print nothing (so only
    /// fuel stops them): minutes of work unbounded.
    const NESTED_RANGES: &str =
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}";

    fn limit_message(result: Result<impl std::fmt::Debug, AppError>) -> String {
        match result {
            Err(AppError::LimitExceeded(message)) => message,
            other => panic!("expected a limit error, got {other:?}"),
        }
    }

    #[test]
    fn a_render_that_runs_out_of_fuel_is_a_limit_error_naming_the_part() {
        let template = parts("Hi", None, Some(NESTED_RANGES));
        let started = std::time::Instant::now();

        let message = limit_message(render_once(&template, &full_context()));

        assert!(message.starts_with("htmlBody: "), "{message}");
        assert!(message.contains("1000000 steps"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn fuel_is_counted_per_render_and_leaves_room_for_real_loops() {
        // Five hundred rows of a table, a few values each, in every message.
        let rows = "{% for i in range(500) %}<tr><td>{{ i }}</td><td>{{ lead.fullName }}</td>\
                    <td>{% if i is even %}{{ company.name | upper }}{% endif %}</td></tr>{% endfor %}";
        let template =
            CompiledTemplate::compile(&parts("{{ lead.firstName }}", None, Some(rows)), LIMITS)
                .unwrap();
        let context = full_context();

        for _ in 0..3 {
            let rendered = template.render(&context).unwrap();
            assert!(rendered.html_body.unwrap().contains("ANALYTICAL ENGINES"));
        }
    }

    #[test]
    fn output_past_the_cap_is_a_limit_error_naming_the_part() {
        let limits = RenderLimits {
            fuel: 1_000_000,
            output_bytes: 1024,
        };
        let text = "{% for i in range(1000) %}0123456789{% endfor %}";
        let template = CompiledTemplate::compile(&parts("Hi", Some(text), None), limits).unwrap();

        let message = limit_message(template.render(&full_context()));

        assert!(message.starts_with("textBody: "), "{message}");
        assert!(message.contains("1024 bytes"), "{message}");
    }

    #[test]
    fn output_up_to_the_cap_renders() {
        let limits = RenderLimits {
            fuel: 1_000_000,
            output_bytes: 10_000,
        };
        let text = "{% for i in range(1000) %}0123456789{% endfor %}";
        let template = CompiledTemplate::compile(&parts("Hi", Some(text), None), limits).unwrap();

        let rendered = template.render(&full_context()).unwrap();

        assert_eq!(rendered.text_body.len(), 10_000);
    }

    #[test]
    fn the_subject_has_the_same_limits() {
        let template = parts(NESTED_RANGES, Some("x"), None);

        let message = limit_message(render_once(&template, &full_context()));

        assert!(message.starts_with("subject: "), "{message}");
    }

    #[test]
    fn deep_recursion_is_an_error_not_a_stack_overflow() {
        let source = "{% macro down(n) %}{% if n %}{{ down(n - 1) }}{% endif %}{% endmacro %}{{ down(100000) }}";
        let template = CompiledTemplate::compile(&parts("Hi", Some(source), None), LIMITS).unwrap();

        let result = std::thread::Builder::new()
            // A quarter of the render worker's main thread stack.
            .stack_size(2 * 1024 * 1024)
            .spawn(move || template.render(&full_context()).map(|_| ()))
            .unwrap()
            .join()
            .expect("no stack overflow");

        assert!(result.is_err());
    }

    #[test]
    fn a_trial_render_refuses_a_template_over_its_limits_whatever_the_lead() {
        let declared = [var("offer", Some("10%"))];
        let sample = sample_context(&declared);

        let bomb = trial_verdict(render_once(
            &parts("Hi", None, Some(NESTED_RANGES)),
            &sample,
        ));
        let lead_dependent_error = trial_verdict(render_once(
            &parts(
                "Hi {{ offer }}",
                Some("{{ lead.score + lead.firstName }}"),
                None,
            ),
            &sample,
        ));

        assert_eq!(sample, serde_json::json!({ "offer": "10%" }));
        assert!(limit_message(bomb).starts_with("htmlBody: "));
        assert!(lead_dependent_error.is_ok(), "{lead_dependent_error:?}");
    }
}
