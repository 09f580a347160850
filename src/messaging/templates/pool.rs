//! The render pool: the server's side of the render workers (`worker.rs`).
//!
//! Rendering is work whose cost the template's author decides, in steps and
//! in memory, so it never runs in the server: each render goes to a worker
//! process, at most `Config::template_render_threads` at once, the rest
//! waiting their turn. Workers are started on first use and kept; one that
//! dies (over its memory cap) or whose caller stopped waiting (the request
//! timed out or its client left) is killed and replaced by a fresh one on
//! the next render, so a runaway template never outlives its request.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, Semaphore};

use super::render::{RenderLimits, Rendered, TemplateSource};
use super::worker::{Answer, Compiled, HELLO, Hello, JobHeader};
use crate::config::Config;
use crate::error::{AppError, AppResult};

/// How long a new worker may take to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What one context of a job came to; `None` when it was not rendered
/// (`max_rendered` reached, or an earlier context exceeded the limits).
pub(crate) type Outcome = Option<AppResult<Rendered>>;

pub(crate) struct RenderPool {
    turns: Semaphore,
    idle: Mutex<Vec<Worker>>,
    program: Option<PathBuf>,
    memory_bytes: u64,
    limits: RenderLimits,
}

impl RenderPool {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            turns: Semaphore::new(config.template_render_threads()),
            idle: Mutex::new(Vec::new()),
            program: config.limits.template_render_worker.clone(),
            memory_bytes: config.limits.template_memory_bytes,
            limits: RenderLimits::of(&config.limits),
        }
    }

    /// Renders `source` for each context, in order, at most `max_rendered`
    /// of them successfully. A template that does not compile fails the
    /// whole call, as does a worker that died rendering (its memory cap:
    /// `LIMIT_EXCEEDED`).
    pub(crate) async fn render(
        &self,
        source: &TemplateSource,
        contexts: impl ExactSizeIterator<Item = serde_json::Value>,
        max_rendered: usize,
    ) -> AppResult<Vec<Outcome>> {
        let _turn = self.turns.acquire().await.map_err(AppError::internal)?;
        let mut worker = match self.idle.lock().await.pop() {
            Some(worker) => worker,
            None => self.start().await?,
        };
        let header = JobHeader {
            source: source.clone(),
            limits: self.limits,
            count: contexts.len(),
            max_rendered,
        };
        // If this future is dropped here (the caller stopped waiting), the
        // worker is dropped with it, and dropping kills the process.
        match worker.run(&header, contexts).await {
            Ok(outcomes) => {
                self.idle.lock().await.push(worker);
                outcomes
            }
            Err(failure) => Err(worker.ended(failure, self.memory_bytes).await),
        }
    }

    async fn start(&self) -> AppResult<Worker> {
        let program = match &self.program {
            Some(program) => program.clone(),
            None => super::worker::this_program().map_err(AppError::internal)?,
        };
        let mut child = Command::new(&program)
            .arg("render-worker")
            .arg("--memory-bytes")
            .arg(self.memory_bytes.to_string())
            // A worker runs code tenants wrote: it gets no secret, no
            // database address, nothing from the server's environment.
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                AppError::internal(anyhow::anyhow!(
                    "could not start the render worker {}: {error}",
                    program.display()
                ))
            })?;
        let mut worker = Worker {
            stdin: BufWriter::new(child.stdin.take().expect("piped stdin")),
            stdout: BufReader::new(child.stdout.take().expect("piped stdout")),
            stderr: child.stderr.take().expect("piped stderr"),
            child,
        };
        let hello = tokio::time::timeout(START_TIMEOUT, worker.read::<Hello>()).await;
        match hello {
            Ok(Ok(hello)) if hello.ready == HELLO => Ok(worker),
            _ => Err(AppError::internal(anyhow::anyhow!(
                "{} did not start as a render worker (PROMOHUB_TEMPLATE_RENDER_WORKER must \
                 name the promohub binary)",
                program.display()
            ))),
        }
    }
}

struct Worker {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: ChildStderr,
}

impl Worker {
    /// One job. The outer error is the worker failing (it died, or broke
    /// the protocol); the inner one, the template not compiling.
    async fn run(
        &mut self,
        header: &JobHeader,
        contexts: impl Iterator<Item = serde_json::Value>,
    ) -> std::io::Result<AppResult<Vec<Outcome>>> {
        let Self { stdin, stdout, .. } = self;
        // Written and read at once: a job's contexts and answers are each
        // larger than a pipe holds.
        let write = async {
            write_line(stdin, header).await?;
            for context in contexts.take(header.count) {
                write_line(stdin, &context).await?;
            }
            stdin.flush().await
        };
        let read = async {
            if let Err(error) = read_line::<Compiled>(stdout).await? {
                return Ok(Err(AppError::from(error)));
            }
            let mut outcomes = Vec::with_capacity(header.count);
            for _ in 0..header.count {
                outcomes.push(match read_line::<Answer>(stdout).await? {
                    Answer::Rendered(message) => Some(Ok(message)),
                    Answer::Failed(error) => Some(Err(AppError::from(error))),
                    Answer::Skipped => None,
                });
            }
            Ok(Ok(outcomes))
        };
        let ((), outcomes) = tokio::try_join!(write, read)?;
        Ok(outcomes)
    }

    async fn read<T: serde::de::DeserializeOwned>(&mut self) -> std::io::Result<T> {
        read_line(&mut self.stdout).await
    }

    /// What a worker that failed mid-job means for the caller. Its stderr
    /// says why it ended: an allocation over the cap is the template's
    /// doing; anything else is ours.
    async fn ended(mut self, failure: std::io::Error, memory_bytes: u64) -> AppError {
        let _ = self.child.start_kill();
        let status = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        let said = read_some(&mut self.stderr).await;
        if said.contains("memory allocation of") {
            metrics::counter!("promohub_template_renders_over_memory_total").increment(1);
            return AppError::limit_exceeded(format!(
                "the template needs more than {} MiB of memory to render, the template memory \
                 limit; text that doubles in a loop is the usual cause",
                memory_bytes / (1024 * 1024)
            ));
        }
        AppError::internal(anyhow::anyhow!(
            "the render worker failed ({failure}); it ended with {status:?} and said: {said}"
        ))
    }
}

async fn write_line(
    out: &mut BufWriter<ChildStdin>,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    out.write_all(&line).await
}

async fn read_line<T: serde::de::DeserializeOwned>(
    input: &mut BufReader<ChildStdout>,
) -> std::io::Result<T> {
    let mut line = String::new();
    if input.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(serde_json::from_str(&line)?)
}

/// The first few kilobytes of what a dead worker wrote to stderr.
async fn read_some(stderr: &mut (impl AsyncRead + Unpin)) -> String {
    let mut said = Vec::new();
    let mut first = stderr.take(4096);
    let _ = tokio::time::timeout(Duration::from_secs(1), first.read_to_end(&mut said)).await;
    String::from_utf8_lossy(&said).into_owned()
}
