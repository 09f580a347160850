//! Fetching a site's pages for analysis, as a polite and guarded crawler.
//!
//! - **SSRF-safe** (ARCHITECTURE.md, "Outbound requests"): every request
//!   goes through [`Site::send`], which refuses a literal address the
//!   configuration does not allow, and names are resolved only by
//!   [`CheckedResolver`], which checks every address a name resolves to
//!   and hands the connection exactly those addresses: no second lookup a
//!   rebinding DNS server could answer differently. Redirects are followed
//!   here, hop by hop, never by the HTTP client, so each hop is checked the
//!   same way. No proxy from the environment is used (it would resolve the
//!   name itself). Only the web's ports (80, 443) are reached.
//! - **robots.txt** is read once per origin (scheme, host, port) and obeyed
//!   as RFC 9309 says, for the `PromoHubBot` agent: a missing file allows
//!   everything, an unreachable one (5xx) nothing.
//! - **Bounded**: a timeout for the whole analysis (the caller's) and for
//!   each request, [`MAX_REDIRECTS`] redirects per page, [`MAX_PAGE_BYTES`]
//!   per page (larger pages are refused, not cut), only HTML.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use robotxt::{AccessResult, Robots};

use crate::outbound::{Policy, Refused, ResolveError};

/// The largest page read.
pub(crate) const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;
/// Redirects followed for one page (RFC 9309 asks at least five for
/// robots.txt; browsers follow about twenty, sites need one or two).
pub(crate) const MAX_REDIRECTS: usize = 5;
/// The most of a robots.txt file read (RFC 9309's minimum, which the
/// parser applies too).
const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// How the crawler introduces itself, and the agent robots.txt names.
pub(crate) const USER_AGENT: &str = "PromoHubBot/1.0 (website analysis)";
const ROBOTS_AGENT: &str = "PromoHubBot";
/// The longest wait for a connection (the request timeout bounds the rest).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a page was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// An address the configuration does not allow (a private address, a
    /// port other than 80 or 443, another scheme).
    Refused(String),
    /// robots.txt keeps the crawler out.
    Blocked(String),
    /// No connection could be made (refused, TLS failed, no such name).
    Unreachable(String),
    TimedOut(String),
    TooManyRedirects(String),
    /// Anything else: an HTTP error, too large, not HTML.
    Failed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(why)
            | Self::Blocked(why)
            | Self::Unreachable(why)
            | Self::TimedOut(why)
            | Self::TooManyRedirects(why)
            | Self::Failed(why) => f.write_str(why),
        }
    }
}

/// A page read: where it ended up after redirects, its status and HTML.
#[derive(Debug)]
pub(crate) struct Page {
    pub url: Url,
    pub status: u16,
    pub bytes: usize,
    pub html: String,
}

/// Resolves names for the HTTP client through the outbound policy: every
/// address checked, and only checked addresses returned.
struct CheckedResolver(Arc<Policy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            // Port 0: the client puts in the URL's (a pinned port stays).
            match policy.resolve(name.as_str(), 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(ResolveError::Refused(refused)) => Err(refused.into()),
                Err(ResolveError::Lookup(error)) => Err(std::io::Error::other(error).into()),
            }
        })
    }
}

/// One site's crawl: the client, and the robots.txt rules read so far.
pub(crate) struct Site {
    client: reqwest::Client,
    policy: Arc<Policy>,
    /// By origin; never locked across an await.
    robots: Mutex<HashMap<String, Robots>>,
}

impl Site {
    /// `timeout` bounds each request.
    pub(crate) fn new(policy: Policy, timeout: Duration) -> Result<Self, FetchError> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver(policy.clone())))
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| FetchError::Failed(format!("no HTTP client: {e}")))?;
        Ok(Self {
            client,
            policy,
            robots: Mutex::new(HashMap::new()),
        })
    }

    /// The home page of `domain`: over HTTPS, or over HTTP when HTTPS
    /// cannot connect at all.
    pub(crate) async fn home(&self, domain: &str) -> Result<Page, FetchError> {
        let mut unreachable = String::new();
        for scheme in ["https", "http"] {
            let url = Url::parse(&format!("{scheme}://{domain}/"))
                .map_err(|_| FetchError::Failed(format!("{domain} is not a host name")))?;
            match self.page(url).await {
                Err(FetchError::Unreachable(why)) => unreachable = why,
                other => return other,
            }
        }
        Err(FetchError::Unreachable(unreachable))
    }

    /// Reads the HTML page at `url`, following redirects, within robots.txt.
    pub(crate) async fn page(&self, url: Url) -> Result<Page, FetchError> {
        let (url, response) = self.follow(url, true).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Failed(format!("{url} answered {status}")));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/html")
            .to_ascii_lowercase();
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        if !matches!(mime, "text/html" | "application/xhtml+xml") {
            return Err(FetchError::Failed(format!(
                "{url} is not an HTML page ({mime})"
            )));
        }
        let body = read(response, MAX_PAGE_BYTES, false).await?;
        let html = decode(&body, &content_type);
        Ok(Page {
            url,
            status: status.as_u16(),
            bytes: body.len(),
            html,
        })
    }

    /// Requests `url` and the redirects it leads to, each hop checked (and
    /// within robots.txt when `polite`); the last response and its URL.
    async fn follow(
        &self,
        mut url: Url,
        polite: bool,
    ) -> Result<(Url, reqwest::Response), FetchError> {
        let mut redirects = 0;
        loop {
            if polite {
                self.allowed(&url).await?;
            }
            let response = self.send(&url).await?;
            let location = response.headers().get(LOCATION);
            let Some(location) = location.filter(|_| response.status().is_redirection()) else {
                return Ok((url, response));
            };
            let next = location
                .to_str()
                .ok()
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| FetchError::Failed(format!("{url} redirects to an invalid URL")))?;
            if redirects == MAX_REDIRECTS {
                return Err(FetchError::TooManyRedirects(format!(
                    "{url} redirects more than {MAX_REDIRECTS} times"
                )));
            }
            redirects += 1;
            url = next;
        }
    }

    /// One request, after the checks no resolver sees: the scheme, the
    /// port, and a host written as an address.
    async fn send(&self, url: &Url) -> Result<reqwest::Response, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Refused(format!(
                "{url}: only http and https are fetched"
            )));
        }
        if url.port().is_some_and(|port| port != 80 && port != 443) {
            return Err(FetchError::Refused(format!(
                "{url}: only the web's ports (80, 443) are fetched"
            )));
        }
        let Some(host) = url.host_str() else {
            return Err(FetchError::Refused(format!("{url} has no host")));
        };
        // The URL parser has already turned `0x7f.1` and the like into
        // dotted decimal; names go to the resolver.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            self.policy
                .check_ip(ip)
                .map_err(|refused| FetchError::Refused(refused.to_string()))?;
        }
        self.client
            .get(url.clone())
            .send()
            .await
            .map_err(|error| classify(url, &error))
    }

    /// Refuses `url` when its origin's robots.txt keeps the crawler out.
    async fn allowed(&self, url: &Url) -> Result<(), FetchError> {
        let origin = url.origin().ascii_serialization();
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let known = self.rules().get(&origin).map(|r| r.is_allowed(&path));
        let allowed = match known {
            Some(allowed) => allowed,
            None => {
                // Boxed: reading robots.txt follows redirects too.
                let robots = Box::pin(self.read_robots(url)).await?;
                let allowed = robots.is_allowed(&path);
                self.rules().insert(origin.clone(), robots);
                allowed
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(FetchError::Blocked(format!(
                "robots.txt of {origin} does not allow {path}"
            )))
        }
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, HashMap<String, Robots>> {
        self.robots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The rules of `url`'s origin for this crawler (RFC 9309 2.3.1: a
    /// 4xx or too many redirects allow all, a 5xx allows nothing). A
    /// failed connection is the caller's error: there is no site to obey.
    async fn read_robots(&self, url: &Url) -> Result<Robots, FetchError> {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let access = match self.follow(robots_url, false).await {
            Ok((_, response)) if response.status().is_success() => {
                let body = read(response, MAX_ROBOTS_BYTES, true).await?;
                return Ok(Robots::from_access(
                    AccessResult::Successful(&body),
                    ROBOTS_AGENT,
                ));
            }
            Ok((_, response)) if response.status().is_server_error() => AccessResult::Unreachable,
            Ok(_) => AccessResult::Unavailable,
            Err(FetchError::TooManyRedirects(_)) => AccessResult::TooManyRedirects,
            Err(FetchError::TimedOut(_)) => AccessResult::Unreachable,
            Err(error) => return Err(error),
        };
        Ok(Robots::from_access(access, ROBOTS_AGENT))
    }
}

/// The body, at most `cap` bytes: a larger one is refused, or with `cut`
/// read up to the cap.
async fn read(
    mut response: reqwest::Response,
    cap: usize,
    cut: bool,
) -> Result<Vec<u8>, FetchError> {
    let url = response.url().clone();
    let too_large = || {
        FetchError::Failed(format!(
            "{url} is larger than {} MB",
            cap as f64 / (1024.0 * 1024.0)
        ))
    };
    if !cut
        && response
            .content_length()
            .is_some_and(|len| len > cap as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| classify(&url, &error))?
    {
        if body.len() + chunk.len() > cap {
            if cut {
                body.extend_from_slice(&chunk[..cap - body.len()]);
                break;
            }
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The page's text in the charset its `Content-Type` or a `<meta>` near
/// its start names; UTF-8 otherwise.
fn decode(body: &[u8], content_type: &str) -> String {
    let declared = |text: &str| {
        let at = text.find("charset=")? + "charset=".len();
        let label: String = text[at..]
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            .collect();
        encoding_rs::Encoding::for_label(label.as_bytes())
    };
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
    let encoding = declared(content_type)
        .or_else(|| declared(&head))
        .unwrap_or(encoding_rs::UTF_8);
    encoding.decode(body).0.into_owned()
}

/// A client error as the analysis reports it.
fn classify(url: &Url, error: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return FetchError::Refused(refused.to_string());
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return FetchError::TimedOut(format!("{url} timed out"));
    }
    let mut why = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        why = format!("{why}: {cause}");
        source = cause.source();
    }
    if error.is_connect() {
        FetchError::Unreachable(format!("cannot connect to {url}: {why}"))
    } else {
        FetchError::Failed(format!("{url}: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_decode_in_their_declared_charset() {
        let latin1 = b"<p>Caf\xe9</p>";
        assert_eq!(
            decode(latin1, "text/html; charset=ISO-8859-1"),
            "<p>Café</p>"
        );
        let meta = b"<meta charset=\"windows-1252\"><p>Caf\xe9</p>";
        assert!(decode(meta, "text/html").ends_with("Café</p>"));
        assert_eq!(decode("Café".as_bytes(), "text/html"), "Café");
    }

    #[tokio::test]
    async fn literal_private_addresses_and_odd_ports_are_refused_before_connecting() {
        let site = Site::new(Policy::default(), Duration::from_secs(1)).unwrap();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://0x7f.1/",
            "http://example.com:6379/",
            "ftp://example.com/",
        ] {
            let result = site.send(&Url::parse(url).unwrap()).await;
            assert!(
                matches!(result, Err(FetchError::Refused(_))),
                "{url}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused() {
        let policy = Policy {
            pinned: vec![crate::config::HostPin {
                name: "metadata.test".into(),
                addr: "169.254.169.254:0".parse().unwrap(),
            }],
            ..Policy::default()
        };
        let site = Site::new(policy, Duration::from_secs(1)).unwrap();
        for url in ["http://metadata.test/", "http://localhost/"] {
            let result = site.send(&Url::parse(url).unwrap()).await;
            assert!(
                matches!(result, Err(FetchError::Refused(_))),
                "{url}: {result:?}"
            );
        }
    }
}
