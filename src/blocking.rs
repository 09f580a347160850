//! CPU-bound work whose cost callers decide (argon2's hashes and
//! verifications) runs off the async workers, at most a configured number
//! at once. Callers beyond the bound wait in arrival order (tokio's
//! semaphore is fair); none is refused, so a burst is slower, not failed.
//! Template renders are bounded the same way but run in worker processes
//! (`messaging::templates::pool`), since their memory must be capped too.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};

pub(crate) struct BoundedBlocking {
    permits: Arc<Semaphore>,
}

impl BoundedBlocking {
    /// At most `concurrency` (at least one) at once.
    pub(crate) fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// Runs `work` on tokio's blocking threads once a permit is free.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)?;
        // The permit moves into the task: a caller that gives up (its client
        // went away) does not end the computation, so it must not free the
        // permit either; the bound counts work really running.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(AppError::internal)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_bound_run_at_once_and_the_rest_wait_their_turn() {
        let pool = Arc::new(BoundedBlocking::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));

        let calls: Vec<_> = (0..16)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }

        // Every call ran (none refused), never more than three at a time,
        // and the bound was reached: they did run side by side.
        assert_eq!(most.load(Ordering::SeqCst), 3);
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }
}
