//! Starting the HTTP server: shared by `promohub serve`, the tests and the
//! benchmark, so all three run the same router the same way.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::app::router;
use crate::state::AppState;

/// Serves until `shutdown` resolves. Connect info gives handlers the peer
/// address (audit log, login attempts).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `serve` runs the job workers beside the HTTP server (ARCHITECTURE.md).
    crate::jobs::runner::start(state.shared.clone());
    let shared = state.shared.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    // Mailboxes this process watched are let go for another to take.
    shared
        .mailbox_watchers
        .stop_and_wait(std::time::Duration::from_secs(5))
        .await;
    served
}
