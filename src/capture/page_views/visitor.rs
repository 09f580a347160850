//! What a page view's request says about its visitor: device, browser and
//! OS from the user agent (woothee), whether it is a known crawler, the
//! country and city (a trusted proxy's header, else a `.mmdb` file), and
//! the address as stored (truncated unless configured otherwise).

use std::net::IpAddr;

use axum::http::HeaderMap;
use entity::sea_orm_active_enums::DeviceType;

use crate::config::Capture;

/// The user agent, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Agent {
    pub device: DeviceType,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub bot: bool,
}

fn known(value: &str) -> Option<String> {
    (!value.is_empty() && value != woothee::woothee::VALUE_UNKNOWN).then(|| value.to_owned())
}

pub(crate) fn agent(user_agent: Option<&str>) -> Agent {
    let Some(ua) = user_agent.filter(|ua| !ua.trim().is_empty()) else {
        // No user agent at all: a script, not a browser.
        return Agent {
            device: DeviceType::Other,
            browser: None,
            os: None,
            bot: true,
        };
    };
    let parsed = woothee::parser::Parser::new().parse(ua);
    let crawler = parsed.as_ref().is_some_and(|p| p.category == "crawler");
    let bot = crawler || crate::messaging::tracking::machine::is_machine_agent(Some(ua));
    let Some(parsed) = parsed else {
        return Agent {
            device: DeviceType::Other,
            browser: None,
            os: None,
            bot,
        };
    };
    let lower = ua.to_lowercase();
    let tablet = lower.contains("ipad")
        || lower.contains("tablet")
        || (lower.contains("android") && !lower.contains("mobile"));
    let device = match parsed.category {
        _ if tablet => DeviceType::Tablet,
        "pc" => DeviceType::Desktop,
        "smartphone" | "mobilephone" => DeviceType::Mobile,
        _ => DeviceType::Other,
    };
    Agent {
        device,
        browser: known(parsed.name),
        os: known(parsed.os),
        bot,
    }
}

/// Where a visitor is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Place {
    pub country: Option<String>,
    pub city: Option<String>,
}

/// Finds visitors' places: the configured headers of a trusted proxy,
/// else the `.mmdb` file.
pub(crate) struct Geo {
    country_header: Option<String>,
    city_header: Option<String>,
    database: Option<maxminddb::Reader<Vec<u8>>>,
}

impl Geo {
    /// Fails when the configured database cannot be read (a startup error
    /// is better than silently missing every place).
    pub(crate) fn new(config: &Capture) -> anyhow::Result<Self> {
        let database = match &config.geo_mmdb {
            Some(path) => Some(
                maxminddb::Reader::open_readfile(path)
                    .map_err(|e| anyhow::anyhow!("PROMOHUB_GEO_MMDB {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Ok(Self {
            country_header: config.geo_country_header.clone(),
            city_header: config.geo_city_header.clone(),
            database,
        })
    }

    pub(crate) fn locate(&self, headers: &HeaderMap, via_proxy: bool, ip: Option<IpAddr>) -> Place {
        let header = |name: &Option<String>| {
            name.as_ref()
                .filter(|_| via_proxy)
                .and_then(|n| headers.get(n.as_str()))
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && *v != "XX" && v.len() <= 100)
                .map(str::to_owned)
        };
        let mut place = Place {
            country: header(&self.country_header)
                .filter(|c| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
                .map(|c| c.to_uppercase()),
            city: header(&self.city_header),
        };
        if place.country.is_none()
            && let (Some(database), Some(ip)) = (&self.database, ip)
            && let Ok(found) = database.lookup(ip)
            && let Ok(Some(city)) = found.decode::<maxminddb::geoip2::City>()
        {
            place.country = city.country.iso_code.map(str::to_owned);
            place.city = place.city.or(city.city.names.english.map(str::to_owned));
        }
        place
    }
}

/// The address as stored: the last octet of IPv4 and the last 80 bits of
/// IPv6 zeroed (enough for a country, not for a household), unless full
/// addresses are kept.
pub(crate) fn stored_ip(ip: Option<IpAddr>, keep_full: bool) -> Option<String> {
    let ip = ip?;
    if keep_full {
        return Some(ip.to_string());
    }
    Some(match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            std::net::Ipv4Addr::new(a, b, c, 0).to_string()
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_give_device_browser_os_and_bots() {
        let desktop = agent(Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        ));
        assert_eq!(desktop.device, DeviceType::Desktop);
        assert_eq!(desktop.browser.as_deref(), Some("Chrome"));
        assert!(!desktop.bot);
        let phone = agent(Some(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        ));
        assert_eq!(phone.device, DeviceType::Mobile);
        let tablet = agent(Some(
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        ));
        assert_eq!(tablet.device, DeviceType::Tablet);
        let crawler = agent(Some(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ));
        assert!(crawler.bot);
        assert!(agent(None).bot);
    }

    #[test]
    fn addresses_are_truncated_unless_kept() {
        let v4: IpAddr = "203.0.113.77".parse().unwrap();
        assert_eq!(stored_ip(Some(v4), false).as_deref(), Some("203.0.113.0"));
        assert_eq!(stored_ip(Some(v4), true).as_deref(), Some("203.0.113.77"));
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(stored_ip(Some(v6), false).as_deref(), Some("2001:db8:1::"));
    }
}
