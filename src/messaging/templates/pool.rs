//! The render pool. Rendering is CPU work whose cost the template's author
//! decides, so it never runs on the async workers that answer requests (a
//! render there stalls every request on that thread, `/health` included):
//! it runs on tokio's blocking threads, at most
//! `Config::template_render_threads` at once (`blocking::BoundedBlocking`),
//! so a burst of expensive renders queues here rather than taking every
//! blocking thread and core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::render::RenderLimits;
use crate::blocking::BoundedBlocking;
use crate::config::Config;
use crate::error::AppResult;

pub(crate) struct RenderPool {
    slots: BoundedBlocking,
    limits: RenderLimits,
}

/// Set once the caller stopped waiting (its request was dropped, e.g. at the
/// request timeout): a batch checks it between messages and stops.
pub(crate) struct Abandoned(Arc<AtomicBool>);

impl Abandoned {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Marks the work abandoned when the waiting future is dropped.
struct MarkOnDrop(Arc<AtomicBool>);

impl Drop for MarkOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl RenderPool {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            slots: BoundedBlocking::new(config.template_render_threads()),
            limits: RenderLimits::of(&config.limits),
        }
    }

    /// The budget every render gets.
    pub(crate) fn limits(&self) -> RenderLimits {
        self.limits
    }

    /// Runs `work` on a blocking thread once a slot is free. The slot is
    /// held until `work` returns, even if the caller stops waiting, so the
    /// bound counts renders really running.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Abandoned) -> T + Send + 'static,
    ) -> AppResult<T> {
        let flag = Arc::new(AtomicBool::new(false));
        let _mark = MarkOnDrop(flag.clone());
        let abandoned = Abandoned(flag);
        self.slots.run(move || work(&abandoned)).await
    }
}
