//! Who the client is: the connection's peer, or, when the peer is a proxy
//! the configuration trusts (`PROMOHUB_TRUSTED_PROXIES`), the address that
//! proxy reports in `X-Forwarded-For`. A header from anyone else is ignored:
//! otherwise any client could choose the address the audit log, tracking
//! and rate limits see.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::AppState;

/// The client's address, resolved once per request by [`resolve`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl ClientAddr {
    pub(crate) fn of(extensions: &axum::http::Extensions) -> Self {
        extensions.get::<Self>().copied().unwrap_or_default()
    }
}

/// Whether the request reached us through a proxy the configuration
/// trusts, so headers such proxies set (a visitor's country) mean something.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ViaTrustedProxy(pub(crate) bool);

/// Middleware: puts the request's [`ClientAddr`] (and [`ViaTrustedProxy`])
/// in its extensions.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let addr = client_ip(
        peer,
        request.headers(),
        &state.shared.config.trusted_proxies,
    );
    let trusted = &state.shared.config.trusted_proxies;
    let via_proxy = peer.is_some_and(|peer| trusted.iter().any(|net| net.contains(&peer)));
    request.extensions_mut().insert(ClientAddr(addr));
    request.extensions_mut().insert(ViaTrustedProxy(via_proxy));
    next.run(request).await
}

/// Walks `X-Forwarded-For` from the right (each proxy appends the address
/// it received from) while the hop is a trusted proxy; the first hop that
/// is not is the client. An entry that is not an address ends the walk at
/// the last trusted hop, which is then the best answer there is.
fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let got = client_ip(Some(ip("203.0.113.9")), &headers(&["1.2.3.4"]), &trusted);
        assert_eq!(got, Some(ip("203.0.113.9")));
        // Nothing trusted: the header means nothing.
        let got = client_ip(Some(ip("10.0.0.1")), &headers(&["1.2.3.4"]), &[]);
        assert_eq!(got, Some(ip("10.0.0.1")));
    }

    #[test]
    fn a_trusted_proxy_reports_the_client_it_received_from() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // The client's own spoofed entry stays to the left of what the
        // proxy appended, and is never reached.
        let got = client_ip(
            Some(ip("10.0.0.2")),
            &headers(&["6.6.6.6, 198.51.100.7", "10.0.0.3"]),
            &trusted,
        );
        assert_eq!(got, Some(ip("198.51.100.7")));
        // Garbage ends the walk at the last trusted hop.
        let got = client_ip(Some(ip("10.0.0.2")), &headers(&["nonsense"]), &trusted);
        assert_eq!(got, Some(ip("10.0.0.2")));
        let got = client_ip(Some(ip("10.0.0.2")), &headers(&[]), &trusted);
        assert_eq!(got, Some(ip("10.0.0.2")));
    }
}
