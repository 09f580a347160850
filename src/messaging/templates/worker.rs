//! The render worker: a child process (`promohub render-worker`) that
//! renders templates for the server and nothing else.
//!
//! Fuel bounds the steps a template runs, and the output cap what it
//! prints, but not what it builds in between: `{% set s = s ~ s %}` doubles
//! a string at every step, 27 steps make a gigabyte, a few more end the
//! process, and every tenant with it. Memory cannot be bounded inside one
//! process (an allocation that fails aborts the process), so templates are
//! rendered here, in a process that caps its own memory at start
//! (`setrlimit`). A template over the cap ends this worker, not the server:
//! the pool (`pool.rs`) answers `LIMIT_EXCEEDED` and starts another.
//!
//! The conversation is JSON lines over stdin and stdout. The worker says
//! `Hello` once; then, per job, the server writes a `JobHeader` and
//! `count` contexts, and the worker answers whether the template compiled
//! and, if it did, one `Answer` per context, in order. The server writes
//! and reads at once, so neither side waits on a full pipe.

use std::io::{BufRead, BufWriter, Write};

use serde::{Deserialize, Serialize};

use super::render::{CompiledTemplate, RenderLimits, Rendered, TemplateSource};
use crate::error::AppError;

/// The worker's first line; anything else means the configured program is
/// not a PromoHub of this protocol.
pub(crate) const HELLO: &str = "promohub-render-worker/1";

#[derive(Serialize, Deserialize)]
pub(crate) struct Hello {
    pub ready: String,
}

/// One job: a template, its limits, and how many contexts follow.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobHeader {
    pub source: TemplateSource,
    pub limits: RenderLimits,
    pub count: usize,
    /// Contexts after this many successful renders are answered `Skipped`.
    pub max_rendered: usize,
}

/// Whether the template compiled; on `Err`, no answers follow.
pub(crate) type Compiled = Result<(), WireError>;

/// What became of one context.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Answer {
    Rendered(Rendered),
    Failed(WireError),
    /// Not rendered: `max_rendered` was reached, or an earlier context
    /// exceeded the template limits (every later one would spend the whole
    /// budget again).
    Skipped,
}

/// A render error as it crosses the pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireError {
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
const INTERNAL: &str = "INTERNAL";

impl From<AppError> for WireError {
    fn from(error: AppError) -> Self {
        let (code, field, message) = match error {
            AppError::LimitExceeded(message) => (LIMIT_EXCEEDED, None, message),
            AppError::BadUserInput { field, message } => (BAD_USER_INPUT, Some(field), message),
            AppError::Internal(error) => (INTERNAL, None, format!("{error:#}")),
            other => (INTERNAL, None, other.public_message()),
        };
        Self {
            code: code.to_owned(),
            field,
            message,
        }
    }
}

impl From<WireError> for AppError {
    fn from(error: WireError) -> Self {
        match (error.code.as_str(), error.field) {
            (LIMIT_EXCEEDED, _) => AppError::limit_exceeded(error.message),
            (BAD_USER_INPUT, Some(field)) => AppError::invalid(field, error.message),
            _ => AppError::internal(anyhow::anyhow!("render worker: {}", error.message)),
        }
    }
}

/// `promohub render-worker`: caps this process's memory, then serves jobs
/// from stdin until it closes.
pub fn run(memory_bytes: u64) -> anyhow::Result<()> {
    if rlimit::Resource::DATA.get()?.0 != memory_bytes {
        return restart_capped(memory_bytes);
    }
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    write_line(
        &mut out,
        &Hello {
            ready: HELLO.to_owned(),
        },
    )?;
    out.flush()?;
    serve(stdin, &mut out)
}

/// Sets the caps and starts this program again under them (limits survive
/// `exec`). A cap set in a running process does not hold: the allocator
/// reserved its arenas at start, and memory mapped before `setrlimit` is
/// never counted against it (a worker capped at 64 MiB grew past 500 MiB).
///
/// The data segment (heap and private writable mappings) is what a runaway
/// template grows; the address space would also count reservations never
/// touched. No core file: a worker ended by the cap is expected, and its
/// memory is what a tenant chose to put there.
fn restart_capped(memory_bytes: u64) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;

    use rlimit::Resource;
    Resource::CORE.set(0, 0)?;
    Resource::DATA.set(memory_bytes, memory_bytes)?;
    let error = std::process::Command::new(this_program()?)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(error.into())
}

/// The program this process runs, to start again as a worker. On Linux,
/// `/proc/self/exe`: it still names this build after a deploy replaced the
/// file on disk (the path `current_exe` gives would then name the new build,
/// or a deleted file).
pub(crate) fn this_program() -> std::io::Result<std::path::PathBuf> {
    let own = std::path::PathBuf::from("/proc/self/exe");
    if own.exists() {
        return Ok(own);
    }
    std::env::current_exe()
}

fn serve(mut input: impl BufRead, out: &mut impl Write) -> anyhow::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let header: JobHeader = serde_json::from_str(&line)?;
        match CompiledTemplate::compile(&header.source.parts(), header.limits) {
            Ok(template) => {
                write_line(out, &Compiled::Ok(()))?;
                render_job(&template, &header, &mut input, out)?;
            }
            Err(error) => {
                write_line(out, &Compiled::Err(error.into()))?;
                for _ in 0..header.count {
                    line.clear();
                    input.read_line(&mut line)?;
                }
            }
        }
        out.flush()?;
    }
}

fn render_job(
    template: &CompiledTemplate,
    header: &JobHeader,
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut rendered = 0;
    let mut over_limits = false;
    for _ in 0..header.count {
        line.clear();
        input.read_line(&mut line)?;
        let answer = if over_limits || rendered >= header.max_rendered {
            Answer::Skipped
        } else {
            let context: serde_json::Value = serde_json::from_str(&line)?;
            match template.render(&context) {
                Ok(message) => {
                    rendered += 1;
                    Answer::Rendered(message)
                }
                Err(error) => {
                    over_limits = matches!(error, AppError::LimitExceeded(_));
                    Answer::Failed(error.into())
                }
            }
        };
        write_line(out, &answer)?;
    }
    Ok(())
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(html: &str, contexts: &[serde_json::Value], max_rendered: usize) -> String {
        let header = JobHeader {
            source: TemplateSource {
                subject: Some("Hi {{ name }}".into()),
                text_body: None,
                html_body: Some(html.into()),
            },
            limits: RenderLimits {
                fuel: 10_000,
                output_bytes: 1024,
            },
            count: contexts.len(),
            max_rendered,
        };
        let mut text = serde_json::to_string(&header).unwrap() + "\n";
        for context in contexts {
            text += &(serde_json::to_string(context).unwrap() + "\n");
        }
        text
    }

    fn answers(input: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        serve(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn each_context_gets_an_answer_in_order_and_jobs_follow_one_another() {
        let contexts = [
            serde_json::json!({ "name": "Ann" }),
            serde_json::json!({ "name": "Bob" }),
            serde_json::json!({ "name": "Cy" }),
        ];
        let input = job("<p>{{ name }}</p>", &contexts, 2) + &job("<p>x</p>", &contexts[..1], 1);
        let got = answers(&input);

        assert_eq!(got[0], serde_json::json!({ "Ok": null }));
        assert_eq!(got[1]["rendered"]["subject"], "Hi Ann");
        assert_eq!(got[2]["rendered"]["htmlBody"], "<p>Bob</p>");
        // The third is past max_rendered.
        assert_eq!(got[3], serde_json::json!("skipped"));
        // The second job.
        assert_eq!(got[4], serde_json::json!({ "Ok": null }));
        assert_eq!(got[5]["rendered"]["htmlBody"], "<p>x</p>");
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn after_a_render_over_the_limits_the_rest_are_skipped() {
        let contexts = [serde_json::json!({}), serde_json::json!({})];
        let got = answers(&job(
            "{% for i in range(100000) %}{% endfor %}",
            &contexts,
            10,
        ));

        assert_eq!(got[1]["failed"]["code"], "LIMIT_EXCEEDED");
        assert_eq!(got[2], serde_json::json!("skipped"));
    }

    #[test]
    fn a_template_that_does_not_compile_is_one_answer_and_its_contexts_are_read() {
        let contexts = [serde_json::json!({})];
        let input = job("{% if %}", &contexts, 1) + &job("<p>ok</p>", &contexts, 1);
        let got = answers(&input);

        assert_eq!(got[0]["Err"]["code"], "BAD_USER_INPUT");
        assert_eq!(got[0]["Err"]["field"], "htmlBody");
        // The next job still lines up.
        assert_eq!(got[1], serde_json::json!({ "Ok": null }));
        assert_eq!(got[2]["rendered"]["htmlBody"], "<p>ok</p>");
    }
}
