//! The web, carefully: SearXNG search (the configured instance, which may be local), and page
//! fetching with strict guards for every URL that came from a user or a search result: http or
//! https only; the host resolved once and every address checked to be public (no loopback,
//! private, link-local, carrier-grade NAT, metadata, multicast or documentation ranges); the
//! connection pinned to the checked address (no DNS rebinding); redirects followed by hand, each
//! hop checked again; a size and a time limit. Pages are reduced to text.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use reqwest::Url;
use serde::Deserialize;

/// Largest page read, in bytes.
pub const PAGE_LIMIT: usize = 2 * 1024 * 1024;
/// Text kept from one page, in characters.
pub const PAGE_TEXT_LIMIT: usize = 12_000;
const MAX_REDIRECTS: usize = 3;

/// A page that was read.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: String,
    pub title: String,
    pub text: String,
}

/// Fetches pages under the guards.
#[derive(Debug, Clone)]
pub struct Fetcher {
    pub timeout: Duration,
    /// Host names pinned to an address by the operator (like curl's `--resolve`); such a host
    /// is trusted at that address, which may be private. Empty unless set in code (tests).
    pub pinned: HashMap<String, SocketAddr>,
}

impl Fetcher {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            pinned: HashMap::new(),
        }
    }

    /// Reads `url` as text, or says why it was refused or failed.
    pub async fn fetch(&self, url: &str) -> Result<Page, String> {
        let mut current = Url::parse(url).map_err(|_| "not a valid URL".to_string())?;
        for _ in 0..=MAX_REDIRECTS {
            let addr = self.vet(&current).await?;
            let host = current.host_str().unwrap_or_default().to_string();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(self.timeout)
                .no_proxy()
                .resolve(&host, addr)
                .user_agent(concat!("clara/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("no HTTP client: {e}"))?;
            let mut response = client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| format!("the request failed: {}", without_url(&e)))?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or("a redirect without a Location")?;
                current = current
                    .join(location)
                    .map_err(|_| "a redirect to an invalid URL".to_string())?;
                continue;
            }
            if !response.status().is_success() {
                return Err(format!("the page answered {}", response.status().as_u16()));
            }
            let html = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|t| t.contains("html"));
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("reading the page failed: {}", without_url(&e)))?
            {
                if body.len() + chunk.len() > PAGE_LIMIT {
                    return Err(format!(
                        "the page is over {} MiB",
                        PAGE_LIMIT / (1024 * 1024)
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            let raw = String::from_utf8_lossy(&body);
            let title = if html { title_of(&raw) } else { String::new() };
            let text = if html {
                html2text::from_read(raw.as_bytes(), 120).unwrap_or_default()
            } else {
                raw.to_string()
            };
            return Ok(Page {
                url: current.to_string(),
                title,
                text: text.chars().take(PAGE_TEXT_LIMIT).collect(),
            });
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }

    /// The one address to connect to for `url`, if it may be fetched.
    async fn vet(&self, url: &Url) -> Result<SocketAddr, String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "{} links are not fetched (http and https only)",
                url.scheme()
            ));
        }
        let host = url.host_str().ok_or("the link has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        if let Some(pinned) = self.pinned.get(host) {
            return Ok(*pinned);
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(self.timeout, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| "resolving the host timed out".to_string())?
                .map_err(|_| format!("the host {host} does not resolve"))?
                .collect(),
        };
        let first = *addrs.first().ok_or("the host has no address")?;
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "{host} resolves to {}, a non-public address: not fetched",
                bad.ip()
            ));
        }
        Ok(first)
    }
}

/// An error's text without the URL reqwest puts in it (the caller records the URL once).
fn without_url(err: &reqwest::Error) -> String {
    let text = err.to_string();
    if err.is_timeout() {
        "it timed out".into()
    } else {
        text.split(" for url").next().unwrap_or(&text).to_string()
    }
}

fn title_of(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let Some(start) = lower.find("<title") else {
        return String::new();
    };
    let Some(open_end) = lower[start..].find('>') else {
        return String::new();
    };
    let from = start + open_end + 1;
    let to = lower[from..].find("</title").map_or(from, |n| from + n);
    html.get(from..to)
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 (maps IPv4)
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)) // AWS metadata
        }
    }
}

fn public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local() // 169.254/16: cloud metadata lives here
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// One SearXNG result.
#[derive(Debug, Clone, Deserialize)]
pub struct Hit {
    pub url: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub content: String,
}

#[derive(Debug, Deserialize)]
struct SearchAnswer {
    #[serde(default)]
    results: Vec<Hit>,
}

/// A SearXNG instance (the operator's own: it may be on a private address).
#[derive(Debug, Clone)]
pub struct Search {
    pub base: String,
    pub http: reqwest::Client,
}

impl Search {
    /// The first `count` results for `query`.
    pub async fn query(&self, query: &str, count: usize) -> Result<Vec<Hit>, String> {
        let mut url = Url::parse(&format!("{}/search", self.base.trim_end_matches('/')))
            .map_err(|_| "CLARA_SEARCH_URL is not a valid URL".to_string())?;
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("format", "json");
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("the search failed: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!(
                "the search answered {}",
                response.status().as_u16()
            ));
        }
        let answer: SearchAnswer = response
            .json()
            .await
            .map_err(|_| "the search answer is not SearXNG JSON".to_string())?;
        Ok(answer
            .results
            .into_iter()
            .filter(|h| h.url.starts_with("http://") || h.url.starts_with("https://"))
            .take(count)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn refused_links_are_never_requested() {
        let fetcher = Fetcher::new(Duration::from_secs(2));
        for (url, why) in [
            ("ftp://example.org/x", "http and https only"),
            ("file:///etc/passwd", "http and https only"),
            ("http://127.0.0.1:1/", "non-public"),
            ("http://[::1]:1/", "non-public"),
            ("http://10.0.0.1/", "non-public"),
            ("http://169.254.169.254/latest/meta-data/", "non-public"),
            ("http://localhost:1/", "non-public"),
        ] {
            let err = fetcher.fetch(url).await.unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
    }

    #[test]
    fn titles_are_read_from_html() {
        assert_eq!(
            title_of("<html><head><TITLE>\n A  page </title></head>"),
            "A page"
        );
        assert_eq!(title_of("<p>no title</p>"), "");
    }
}
