//! The client's address: the peer of the TCP connection, or — when that peer
//! is one of the configured trusted reverse proxies (`server.trusted_proxies`)
//! — the address the proxies name in `X-Forwarded-For`.
//!
//! [`resolve`] runs before everything else and puts a [`ClientAddress`] into
//! the request's extensions; the rate limits, the per-address sign-in
//! counters and the audit trail's "from where" read it (through
//! [`client_address`]). `/metrics` keeps checking the peer itself, which a
//! header cannot change.
//!
//! `X-Forwarded-For` is read from the right: each trusted proxy appends the
//! address it received the request from, so the first address from the
//! right that is not a trusted proxy is the client; what a client wrote into
//! the header itself lies further left and is never believed. Without
//! trusted proxies (the default) the header is ignored.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;

use super::hardening::HttpConfig;
use super::metrics::AddressRange;

/// The header trusted proxies append the client's address to.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client of a request, as [`resolve`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// Finds the client's address once per request (a layer over the whole
/// router).
pub async fn resolve(
    State(config): State<Arc<HttpConfig>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if let Some(peer) = peer {
        let client = behind_proxies(peer, request.headers(), &config.trusted_proxies);
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// The client's address from a request's extensions: the resolved one, else
/// the peer, else (only for in-process callers without a connection) none.
pub fn client_address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ClientAddress>()
        .map(|ClientAddress(address)| *address)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(address)| address.ip())
        })
}

/// [`client_address`], or the unspecified address when there is none.
pub fn client_address_or_unspecified(extensions: &Extensions) -> IpAddr {
    client_address(extensions).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy;
/// then the right-most address of `X-Forwarded-For` that is not one. An
/// entry that is not an address ends the walk at the last trusted hop.
pub fn behind_proxies(peer: IpAddr, headers: &HeaderMap, trusted: &[AddressRange]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|range| range.contains(address));
    if !is_trusted(peer) {
        return peer.to_canonical();
    }
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(address) = parse_hop(hop) else {
            break;
        };
        client = address;
        if !is_trusted(address) {
            break;
        }
    }
    client.to_canonical()
}

/// An address as proxies write it: `10.0.0.1`, `2001:db8::1`, and also
/// `[2001:db8::1]:4711` or `10.0.0.1:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies() -> Vec<AddressRange> {
        vec!["10.0.8.0/24".parse().unwrap(), "::1".parse().unwrap()]
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(
            behind_proxies(ip("198.51.100.7"), &forged, &[]),
            ip("198.51.100.7")
        );
        assert_eq!(
            behind_proxies(ip("10.0.8.1"), &forged, &[]),
            ip("10.0.8.1"),
            "a proxy not configured as trusted is the client"
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let forged = headers(&["203.0.113.9"]);
        assert_eq!(
            behind_proxies(ip("198.51.100.7"), &forged, &proxies()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
        // The client forged an entry; the proxy appended the real address.
        let chain = headers(&["203.0.113.9, 198.51.100.7"]);
        assert_eq!(
            behind_proxies(ip("10.0.8.2"), &chain, &proxies()),
            ip("198.51.100.7")
        );
        // Two trusted proxies in a row, in two header lines.
        let chain = headers(&["203.0.113.9, 198.51.100.7", "10.0.8.3"]);
        assert_eq!(
            behind_proxies(ip("10.0.8.2"), &chain, &proxies()),
            ip("198.51.100.7")
        );
        // IPv6 and ports as some proxies write them; mapped IPv4 is IPv4.
        let chain = headers(&["[2001:db8::7]:51000"]);
        assert_eq!(
            behind_proxies(ip("::1"), &chain, &proxies()),
            ip("2001:db8::7")
        );
        let chain = headers(&["::ffff:198.51.100.7"]);
        assert_eq!(
            behind_proxies(ip("10.0.8.2"), &chain, &proxies()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_missing_or_broken_header_leaves_the_last_trusted_hop() {
        assert_eq!(
            behind_proxies(ip("10.0.8.2"), &HeaderMap::new(), &proxies()),
            ip("10.0.8.2")
        );
        let chain = headers(&["198.51.100.7, unknown"]);
        assert_eq!(
            behind_proxies(ip("10.0.8.2"), &chain, &proxies()),
            ip("10.0.8.2")
        );
        let chain = headers(&["10.0.8.9"]);
        assert_eq!(
            behind_proxies(ip("10.0.8.2"), &chain, &proxies()),
            ip("10.0.8.9"),
            "only proxies: the first one is the client"
        );
    }
}
