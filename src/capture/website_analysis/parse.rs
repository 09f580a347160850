//! What a page's HTML says about how a business takes bookings: the
//! booking words it uses, an embedded booking tool, forms, calendars,
//! prices, galleries, reviews, phone numbers, locations, services and
//! languages. Pure (a string in, facts out), so every heuristic is unit
//! tested on small pages.
//!
//! The HTML is parsed as a browser parses it (html5ever through `scraper`),
//! so broken markup, comments and scripts do not fool the reading: text
//! inside `<script>` or `<style>` is never taken for visible words. Each
//! signal is a heuristic and reads the page's structure first (element
//! ids and classes, form fields, schema.org data) and its words second.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;
use reqwest::Url;
use scraper::{ElementRef, Html, Node};

use entity::sea_orm_active_enums::BookingTool;

use super::types::PageKind;

/// Most services counted (a menu of hundreds is still "many").
const MAX_SERVICES: u32 = 200;

/// Booking words and phrases with their weight towards the 0–10 score: a
/// call to action ("book now") says more than a word that any page may use
/// ("schedule").
const KEYWORDS: &[(&str, u8)] = &[
    ("book now", 2),
    ("book online", 2),
    ("online booking", 2),
    ("book an appointment", 2),
    ("book appointment", 2),
    ("book your appointment", 2),
    ("schedule an appointment", 2),
    ("make an appointment", 2),
    ("request an appointment", 2),
    ("book a table", 2),
    ("book a session", 2),
    ("book a consultation", 2),
    ("reserve now", 2),
    ("termin buchen", 2),
    ("termin vereinbaren", 2),
    ("online buchen", 2),
    ("jetzt buchen", 2),
    ("prendre rendez-vous", 2),
    ("réserver en ligne", 2),
    ("reservar cita", 2),
    ("pedir cita", 2),
    ("appointment", 1),
    ("appointments", 1),
    ("booking", 1),
    ("bookings", 1),
    ("reservation", 1),
    ("reservations", 1),
    ("reserve", 1),
    ("schedule", 1),
    ("availability", 1),
    ("termin", 1),
    ("termine", 1),
    ("rendez-vous", 1),
    ("cita", 1),
];

/// Where each booking tool lives: a host (or its subdomains) and, where
/// the host serves more than bookings, a path prefix.
const TOOLS: &[(BookingTool, &str, &str)] = &[
    (BookingTool::Calendly, "calendly.com", ""),
    (BookingTool::Acuity, "acuityscheduling.com", ""),
    (BookingTool::Acuity, "as.me", ""),
    (BookingTool::Square, "squareup.com", "/appointments"),
    (BookingTool::Square, "book.squareup.com", ""),
    (BookingTool::Simplybook, "simplybook.me", ""),
    (BookingTool::Simplybook, "simplybook.it", ""),
    (BookingTool::Simplybook, "simplybook.net", ""),
    (BookingTool::Setmore, "setmore.com", ""),
    (BookingTool::Booksy, "booksy.com", ""),
    (BookingTool::Fresha, "fresha.com", ""),
    (BookingTool::Vagaro, "vagaro.com", ""),
    (BookingTool::Mindbody, "mindbodyonline.com", ""),
    (BookingTool::Mindbody, "mindbody.io", ""),
    (BookingTool::Schedulicity, "schedulicity.com", ""),
    (BookingTool::Youcanbookme, "youcanbook.me", ""),
    (BookingTool::HubspotMeetings, "meetings.hubspot.com", ""),
    (BookingTool::HubspotMeetings, "meetings-eu1.hubspot.com", ""),
    (
        BookingTool::GoogleCalendar,
        "calendar.google.com",
        "/calendar/appointments",
    ),
    (BookingTool::GoogleCalendar, "calendar.app.google", ""),
    (
        BookingTool::MicrosoftBookings,
        "outlook.office365.com",
        "/owa/calendar",
    ),
    (
        BookingTool::MicrosoftBookings,
        "outlook.office365.com",
        "/book",
    ),
    (
        BookingTool::MicrosoftBookings,
        "outlook.office.com",
        "/book",
    ),
    (BookingTool::Zocdoc, "zocdoc.com", ""),
    (BookingTool::Doctolib, "doctolib.fr", ""),
    (BookingTool::Doctolib, "doctolib.de", ""),
    (BookingTool::Doctolib, "doctolib.it", ""),
    (BookingTool::Opentable, "opentable.com", ""),
    (BookingTool::Opentable, "opentable.co.uk", ""),
    (BookingTool::Opentable, "opentable.de", ""),
    (BookingTool::Resy, "resy.com", ""),
    (BookingTool::Treatwell, "treatwell.co.uk", ""),
    (BookingTool::Treatwell, "treatwell.de", ""),
    (BookingTool::Treatwell, "treatwell.fr", ""),
    (BookingTool::Treatwell, "treatwell.nl", ""),
    (BookingTool::Timely, "gettimely.com", ""),
    (BookingTool::Appointy, "appointy.com", ""),
    (BookingTool::CalCom, "cal.com", ""),
    (BookingTool::Tidycal, "tidycal.com", ""),
    (BookingTool::Savvycal, "savvycal.com", ""),
    (BookingTool::Bookeo, "bookeo.com", ""),
    (BookingTool::Picktime, "picktime.com", ""),
    (BookingTool::Setster, "setster.com", ""),
];

/// Attributes whose value may be a URL (links, embeds, forms, lazy loaders).
const URL_ATTRIBUTES: &[&str] = &["href", "src", "action", "data-src", "data-url", "data-href"];

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

/// An amount of money: `$45`, `€ 30`, `45,00 €`, `30 EUR`.
static PRICE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?:[$€£]\s?\d{1,5}(?:[.,]\d{2})?)|(?:\b\d{1,5}(?:[.,]\d{2})?\s?(?:€|£|\$|(?:eur|usd|gbp|chf)\b))",
    )
});
/// A phone number in the usual spellings: international (`+49 30 1234567`,
/// `0044 …`) or North American (`(555) 123-4567`, `555-123-4567`).
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?:(?:\+|\b00)\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{2,5}(?:[\s.-]?\d{2,5}){1,3}\b)|(?:\(\d{3}\)\s?\d{3}[\s.-]\d{4}\b)|(?:\b\d{3}[.-]\d{3}[.-]\d{4}\b)",
    )
});
static PRICING_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\b(pricing|prices|price list|our prices|rates|preise|preisliste|tarifs|precios)\b")
});
static GALLERY_LABEL: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b(gallery|portfolio|galerie|our work|lookbook)\b"));
static REVIEWS_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\b(reviews|testimonials|what our (clients|customers|patients|guests) say|bewertungen|kundenstimmen|avis clients)\b|★★★",
    )
});
static LOCATIONS_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\b(our locations|all locations|find a location|choose a location|locations|standorte|filialen|our studios|our salons|our clinics|(two|three|four|five|six|[2-9]|\d{2}) (locations|studios|salons|clinics|branches))\b",
    )
});
static SERVICES_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"\b(services|our services|treatments|leistungen|behandlungen|prestations|servicios|menu)\b",
    )
});
static BOOKING_LINK: LazyLock<Regex> =
    LazyLock::new(|| regex(r"book|appointment|schedule|reserv|termin|buchen|rendez-vous|cita"));
static CONTACT_LINK: LazyLock<Regex> =
    LazyLock::new(|| regex(r"contact|kontakt|contacto|contatti|get-in-touch|reach-us"));
static APPOINTMENT_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"appointment|booking|reservation|preferred[_ -]?(date|time)|termin|rendez|cita|(^|[_ -])(date|time|datum|uhrzeit)($|[_ -])",
    )
});
static URL_IN_SCRIPT: LazyLock<Regex> =
    LazyLock::new(|| regex(r#"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)\\]*"#));

/// What one page shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageFacts {
    /// Booking words and phrases found in its visible text.
    pub keywords: BTreeSet<&'static str>,
    /// The first booking tool it links to or embeds.
    pub booking_tool: Option<BookingTool>,
    /// A form asking for a date or time, or for an appointment.
    pub appointment_form: bool,
    /// A calendar or date picker widget.
    pub calendar: bool,
    pub pricing: bool,
    pub gallery: bool,
    pub reviews: bool,
    /// A form with a message box and an email field.
    pub contact_form: bool,
    /// A phone number (a `tel:` link or one in the text).
    pub phone: bool,
    pub multiple_locations: bool,
    /// How many services it lists.
    pub services: u32,
    /// Language codes it declares (`en`, `de`).
    pub languages: BTreeSet<String>,
    /// A page of the same site worth reading next: a booking page, else a
    /// contact page.
    pub next: Option<(PageKind, Url)>,
}

/// Reads one page; `url` is where it was fetched from (the end of any
/// redirects), to resolve its links.
pub(crate) fn parse(html: &str, url: &Url) -> PageFacts {
    let document = Html::parse_document(html);
    let mut facts = PageFacts::default();
    let mut labels = String::new();
    let mut addresses = 0usize;
    let mut booking_link: Option<Url> = None;
    let mut contact_link: Option<Url> = None;
    let root = document.root_element();
    if let Some(lang) = root.value().attr("lang") {
        add_language(&mut facts.languages, lang);
    }
    for element in root.descendent_elements() {
        let el = element.value();
        let name = el.name();
        let marker = format!(
            "{} {}",
            el.id().unwrap_or_default(),
            el.attr("class").unwrap_or_default()
        )
        .to_lowercase();
        for attribute in URL_ATTRIBUTES {
            if let Some(value) = el.attr(attribute)
                && facts.booking_tool.is_none()
            {
                facts.booking_tool = tool_of(url, value);
            }
        }
        if ["calendar", "datepicker", "flatpickr", "fullcalendar"]
            .iter()
            .any(|m| marker.contains(m))
        {
            facts.calendar = true;
        }
        if ["gallery", "portfolio", "lightbox", "galerie"]
            .iter()
            .any(|m| marker.contains(m))
        {
            facts.gallery = true;
        }
        if ["review", "testimonial", "trustpilot", "star-rating"]
            .iter()
            .any(|m| marker.contains(m))
        {
            facts.reviews = true;
        }
        if ["locations", "standorte", "filialen"]
            .iter()
            .any(|m| marker.contains(m))
        {
            facts.multiple_locations = true;
        }
        let itemprop = el.attr("itemprop").unwrap_or_default().to_lowercase();
        if itemprop.contains("review") || itemprop.contains("aggregaterating") {
            facts.reviews = true;
        }
        if el
            .attr("itemtype")
            .is_some_and(|t| t.to_lowercase().contains("postaladdress"))
            || name == "address"
        {
            addresses += 1;
        }
        if let Some(lang) = el.attr("hreflang") {
            add_language(&mut facts.languages, lang);
        }
        match name {
            "meta" => read_meta(el, &mut facts.languages),
            "iframe"
                if el
                    .attr("src")
                    .is_some_and(|src| src.contains("calendar.google.com")) =>
            {
                facts.calendar = true;
            }
            "a" => {
                let href = el.attr("href").unwrap_or_default();
                if href.trim_start().to_lowercase().starts_with("tel:") {
                    facts.phone = true;
                }
                let text = words(element);
                labels.push_str(&text);
                labels.push('\n');
                if let Some(link) = same_site_link(url, href) {
                    let said = format!("{} {}", link.path().to_lowercase(), text);
                    if booking_link.is_none() && BOOKING_LINK.is_match(&said) {
                        booking_link = Some(link);
                    } else if contact_link.is_none() && CONTACT_LINK.is_match(&said) {
                        contact_link = Some(link);
                    }
                }
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "button" | "summary" => {
                labels.push_str(&words(element));
                labels.push('\n');
            }
            "form" => {
                let form = read_form(element);
                facts.appointment_form |= form.appointment;
                facts.contact_form |= form.contact;
            }
            "script" => {
                let code: String = element.text().collect();
                if el.attr("type") == Some("application/ld+json") {
                    read_structured_data(&code, &mut facts, &mut addresses);
                } else if facts.booking_tool.is_none() {
                    facts.booking_tool = URL_IN_SCRIPT
                        .find_iter(&code.to_lowercase())
                        .find_map(|m| tool_of(url, m.as_str()));
                }
            }
            _ => {}
        }
        if ["section", "div", "ul", "ol", "main", "article", "table"].contains(&name)
            && ["service", "treatment", "leistung", "behandlung"]
                .iter()
                .any(|m| marker.contains(m))
            && !inside(element, &["nav", "header", "footer"])
        {
            facts.services = facts.services.max(listed(element));
        }
        if matches!(name, "h1" | "h2" | "h3") && SERVICES_LABEL.is_match(&words(element)) {
            facts.services = facts.services.max(listed_after(element));
        }
    }
    let text = visible_text(&document);
    for (word, _) in KEYWORDS {
        if has_phrase(&text, word) {
            facts.keywords.insert(word);
        }
    }
    facts.pricing |= PRICE.find_iter(&text).take(2).count() == 2 || PRICING_LABEL.is_match(&labels);
    facts.gallery |= GALLERY_LABEL.is_match(&labels);
    facts.reviews |= REVIEWS_TEXT.is_match(&text);
    facts.multiple_locations |= addresses >= 2 || LOCATIONS_TEXT.is_match(&labels);
    facts.phone |= PHONE.is_match(&text);
    facts.services = facts.services.min(MAX_SERVICES);
    facts.next = booking_link
        .map(|link| (PageKind::Booking, link))
        .or(contact_link.map(|link| (PageKind::Contact, link)));
    facts
}

/// Whether `phrase` occurs in `text` as whole words ("book now", not
/// "facebook nowhere"). A plain substring search per phrase: a set of
/// word-bounded patterns over a 2 MB page took seconds.
fn has_phrase(text: &str, phrase: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    text.match_indices(phrase).any(|(at, _)| {
        !word(text[..at].chars().next_back()) && !word(text[at + phrase.len()..].chars().next())
    })
}

/// The text of an element, lowercase, whitespace collapsed.
fn words(element: ElementRef<'_>) -> String {
    normalise(&element.text().collect::<Vec<_>>().join(" "))
}

fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// What a reader sees: every text node outside scripts, styles and
/// templates, with button and submit labels, lowercase.
fn visible_text(document: &Html) -> String {
    let mut text = String::new();
    for node in document.tree.nodes() {
        match node.value() {
            Node::Text(t) => {
                let hidden = node
                    .parent()
                    .and_then(|p| p.value().as_element().map(|e| e.name().to_owned()))
                    .is_some_and(|parent| {
                        matches!(
                            parent.as_str(),
                            "script" | "style" | "noscript" | "template"
                        )
                    });
                if !hidden {
                    text.push_str(t);
                    text.push(' ');
                }
            }
            Node::Element(el) if el.name() == "input" => {
                if matches!(el.attr("type"), Some("submit" | "button"))
                    && let Some(value) = el.attr("value")
                {
                    text.push_str(value);
                    text.push(' ');
                }
            }
            _ => {}
        }
    }
    normalise(&text)
}

/// Whether `element` sits inside one of `names`.
fn inside(element: ElementRef<'_>, names: &[&str]) -> bool {
    element.ancestors().any(|node| {
        node.value()
            .as_element()
            .is_some_and(|el| names.contains(&el.name()))
    })
}

/// How many items a container lists: its list items, else its headings,
/// else its child elements that look like cards.
fn listed(container: ElementRef<'_>) -> u32 {
    let mut items = 0u32;
    let mut headings = 0u32;
    for el in container.descendent_elements() {
        match el.value().name() {
            "li" | "tr" => items += 1,
            "h3" | "h4" | "h5" => headings += 1,
            _ => {}
        }
    }
    if items > 0 {
        return items;
    }
    if headings > 0 {
        return headings;
    }
    container
        .child_elements()
        .filter(|child| {
            child
                .value()
                .attr("class")
                .is_some_and(|c| ["item", "card", "service"].iter().any(|m| c.contains(m)))
        })
        .count() as u32
}

/// What follows a "Services" heading up to the next heading of its rank.
fn listed_after(heading: ElementRef<'_>) -> u32 {
    let rank = heading.value().name().to_owned();
    let mut count = 0;
    for sibling in heading.next_siblings().filter_map(ElementRef::wrap) {
        if sibling.value().name() == rank {
            break;
        }
        count += listed(sibling);
    }
    count
}

/// What a form is for, read off its fields.
struct FormPurpose {
    appointment: bool,
    contact: bool,
}

fn read_form(form: ElementRef<'_>) -> FormPurpose {
    let mut message = false;
    let mut email = false;
    let mut appointment = form
        .value()
        .attr("action")
        .is_some_and(|action| APPOINTMENT_FIELD.is_match(&action.to_lowercase()));
    for field in form.descendent_elements() {
        let el = field.value();
        if !matches!(el.name(), "input" | "select" | "textarea") {
            continue;
        }
        let kind = el.attr("type").unwrap_or("text").to_lowercase();
        let said = [el.attr("name"), el.id(), el.attr("placeholder")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if matches!(kind.as_str(), "date" | "datetime-local" | "time")
            || APPOINTMENT_FIELD.is_match(&said)
        {
            appointment = true;
        }
        if el.name() == "textarea" {
            message = true;
        }
        if kind == "email" || said.contains("email") || said.contains("e-mail") {
            email = true;
        }
    }
    FormPurpose {
        appointment,
        contact: message && email,
    }
}

fn read_meta(el: &scraper::node::Element, languages: &mut BTreeSet<String>) {
    let key = el
        .attr("http-equiv")
        .or_else(|| el.attr("property"))
        .unwrap_or_default()
        .to_lowercase();
    if matches!(
        key.as_str(),
        "content-language" | "og:locale" | "og:locale:alternate"
    ) && let Some(content) = el.attr("content")
    {
        for lang in content.split(',') {
            add_language(languages, lang);
        }
    }
}

/// Adds a language tag's primary subtag (`en-US`, `en_GB` → `en`).
fn add_language(languages: &mut BTreeSet<String>, tag: &str) {
    let primary = tag
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase()) {
        languages.insert(primary);
    }
}

/// The booking tool a URL (absolute, protocol-relative or relative to
/// `base`) belongs to.
fn tool_of(base: &Url, value: &str) -> Option<BookingTool> {
    let value = value.trim();
    // A relative URL stays on the page's own site.
    if !value.contains("//") {
        return None;
    }
    let url = base.join(value).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    let path = url.path().to_ascii_lowercase();
    TOOLS.iter().find_map(|(tool, domain, prefix)| {
        let on_host = host == *domain || host.ends_with(&format!(".{domain}"));
        (on_host && path.starts_with(prefix)).then_some(*tool)
    })
}

/// `href` as a URL on the page's own site (the same host, with or without
/// `www.`), other than the page itself.
fn same_site_link(page: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let mut link = page.join(href).ok()?;
    if !matches!(link.scheme(), "http" | "https") {
        return None;
    }
    link.set_fragment(None);
    let bare = |url: &Url| {
        url.host_str()
            .map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
    };
    let mut here = page.clone();
    here.set_fragment(None);
    (bare(&link) == bare(page) && link != here).then_some(link)
}

/// schema.org data: reviews and ratings, postal addresses, services.
fn read_structured_data(code: &str, facts: &mut PageFacts, addresses: &mut usize) {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(code) else {
        return;
    };
    let mut services = 0u32;
    let mut stack = vec![&json];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => {
                let types: Vec<String> = match map.get("@type") {
                    Some(serde_json::Value::String(t)) => vec![t.to_lowercase()],
                    Some(serde_json::Value::Array(ts)) => ts
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_lowercase))
                        .collect(),
                    _ => Vec::new(),
                };
                for t in &types {
                    match t.as_str() {
                        "review" | "aggregaterating" => facts.reviews = true,
                        "postaladdress" => *addresses += 1,
                        "service" => services += 1,
                        _ => {}
                    }
                }
                if map.contains_key("aggregateRating") || map.contains_key("review") {
                    facts.reviews = true;
                }
                if let Some(serde_json::Value::Object(catalog)) = map.get("hasOfferCatalog")
                    && let Some(serde_json::Value::Array(items)) = catalog.get("itemListElement")
                {
                    services = services.max(items.len() as u32);
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    facts.services = facts.services.max(services);
}

/// The analysis of a whole site: every page's facts together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Signals {
    pub booking_keywords: Vec<String>,
    /// 0–10, from the booking words' weights.
    pub booking_keyword_score: i32,
    pub booking_tool: Option<BookingTool>,
    /// A booking tool or an appointment form: a visitor can book online.
    pub has_online_booking: bool,
    pub has_appointment_form: bool,
    pub has_calendar: bool,
    pub has_pricing: bool,
    pub has_gallery: bool,
    pub has_reviews: bool,
    pub has_contact_form: bool,
    /// A phone number is the only way to get in touch or book: no form,
    /// no booking tool.
    pub has_phone_only: bool,
    pub has_multiple_locations: bool,
    pub services_count: i32,
    pub languages: Vec<String>,
}

impl Signals {
    /// What the pages say together: a signal any page shows, the most
    /// services any page lists, every language, the first tool found.
    pub(crate) fn of(pages: &[PageFacts]) -> Self {
        let any = |f: fn(&PageFacts) -> bool| pages.iter().any(f);
        let keywords: BTreeSet<&'static str> = pages
            .iter()
            .flat_map(|p| p.keywords.iter().copied())
            .collect();
        let score: u32 = KEYWORDS
            .iter()
            .filter(|(word, _)| keywords.contains(word))
            .map(|(_, weight)| u32::from(*weight))
            .sum();
        let booking_tool = pages.iter().find_map(|p| p.booking_tool);
        let appointment_form = any(|p| p.appointment_form);
        let contact_form = any(|p| p.contact_form);
        Self {
            booking_keywords: keywords.iter().map(|w| (*w).to_owned()).collect(),
            booking_keyword_score: score.min(10) as i32,
            booking_tool,
            has_online_booking: booking_tool.is_some() || appointment_form,
            has_appointment_form: appointment_form,
            has_calendar: any(|p| p.calendar),
            has_pricing: any(|p| p.pricing),
            has_gallery: any(|p| p.gallery),
            has_reviews: any(|p| p.reviews),
            has_contact_form: contact_form,
            has_phone_only: any(|p| p.phone)
                && !contact_form
                && !appointment_form
                && booking_tool.is_none(),
            has_multiple_locations: any(|p| p.multiple_locations),
            services_count: pages.iter().map(|p| p.services).max().unwrap_or(0) as i32,
            languages: pages
                .iter()
                .flat_map(|p| p.languages.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn page(html: &str) -> PageFacts {
        parse(html, &url("https://salon.example/"))
    }

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/websites/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn a_salon_with_calendly_shows_every_booking_signal() {
        let facts = parse(
            &fixture("salon/index.html"),
            &url("https://bella-salon.test/"),
        );
        let signals = Signals::of(std::slice::from_ref(&facts));

        assert_eq!(signals.booking_tool, Some(BookingTool::Calendly));
        assert!(signals.has_online_booking);
        assert!(signals.booking_keywords.contains(&"book now".to_owned()));
        assert!(signals.booking_keyword_score >= 5, "{signals:?}");
        assert!(signals.has_pricing && signals.has_gallery && signals.has_reviews);
        assert!(signals.has_multiple_locations);
        assert_eq!(signals.services_count, 5);
        assert_eq!(signals.languages, vec!["de", "en"]);
        assert!(
            !signals.has_phone_only,
            "a booking tool is more than a phone"
        );
        assert_eq!(
            facts.next,
            Some((
                PageKind::Booking,
                url("https://bella-salon.test/book-appointment")
            ))
        );
    }

    #[test]
    fn a_plumber_with_only_a_phone_number_is_phone_only() {
        let facts = parse(&fixture("plumber/index.html"), &url("http://plumber.test/"));
        let signals = Signals::of(std::slice::from_ref(&facts));

        assert!(signals.has_phone_only, "{signals:?}");
        assert!(!signals.has_online_booking);
        assert_eq!(signals.booking_tool, None);
        assert_eq!(signals.booking_keyword_score, 0);
        assert!(!signals.has_pricing && !signals.has_gallery && !signals.has_reviews);
        assert_eq!(signals.languages, vec!["en"]);
        assert_eq!(
            facts.next,
            Some((PageKind::Contact, url("http://plumber.test/contact.html")))
        );
    }

    #[test]
    fn booking_words_in_scripts_and_styles_are_not_read() {
        let facts = page(
            "<html><head><style>.book-now{}</style></head><body>\
             <script>var label = 'Book now, book online';</script>\
             <p>Welcome</p></body></html>",
        );
        assert!(facts.keywords.is_empty(), "{:?}", facts.keywords);
    }

    #[test]
    fn the_score_weighs_calls_to_action_above_plain_words_and_stops_at_10() {
        let weak = Signals::of(&[page("<p>Check our schedule and availability.</p>")]);
        assert_eq!(weak.booking_keyword_score, 2);
        let strong = Signals::of(&[page(
            "<p>Book now! Book online. Online booking. Make an appointment. \
             Book a consultation. Reserve now. Appointments and reservations.</p>",
        )]);
        assert_eq!(strong.booking_keyword_score, 10);
        assert!(strong.booking_keywords.contains(&"appointments".to_owned()));
        let inside_words = page("<p>Like our facebook nowhere else; no rebooking fees.</p>");
        assert!(
            inside_words.keywords.is_empty(),
            "{:?}",
            inside_words.keywords
        );
    }

    #[test]
    fn booking_tools_are_recognised_by_where_their_links_and_embeds_point() {
        for (html, tool) in [
            (
                "<a href='https://app.acuityscheduling.com/schedule.php?owner=1'>x</a>",
                BookingTool::Acuity,
            ),
            (
                "<iframe src='//book.squareup.com/appointments/abc'></iframe>",
                BookingTool::Square,
            ),
            (
                "<a href='https://squareup.com/appointments/book/xyz'>x</a>",
                BookingTool::Square,
            ),
            (
                "<script src='https://widget.simplybook.me/v2/widget/widget.js'></script>",
                BookingTool::Simplybook,
            ),
            (
                "<a href='https://acme.setmore.com'>x</a>",
                BookingTool::Setmore,
            ),
            (
                "<a href='https://booksy.com/en-us/123_barber'>x</a>",
                BookingTool::Booksy,
            ),
            (
                "<script>Calendly.initBadgeWidget({ url: 'https://calendly.com/acme' });</script>",
                BookingTool::Calendly,
            ),
            (
                "<a href='https://calendar.google.com/calendar/appointments/schedules/x'>x</a>",
                BookingTool::GoogleCalendar,
            ),
        ] {
            assert_eq!(page(html).booking_tool, Some(tool), "{html}");
        }
        for html in [
            "<a href='https://squareup.com/shop'>Square shop</a>",
            "<a href='https://fiscal.com/x'>not cal.com</a>",
            "<p>We used to use calendly.com</p>",
        ] {
            assert_eq!(page(html).booking_tool, None, "{html}");
        }
    }

    #[test]
    fn forms_are_told_apart_by_their_fields() {
        let contact =
            page("<form><input type=email name=email><textarea name=message></textarea></form>");
        assert!(contact.contact_form && !contact.appointment_form);
        let appointment =
            page("<form action='/book'><input name=name><input type=date name=day></form>");
        assert!(appointment.appointment_form && !appointment.contact_form);
        let newsletter = page("<form><input type=email name=email></form>");
        assert!(!newsletter.contact_form && !newsletter.appointment_form);
        let search = page("<form role=search><input type=search name=q></form>");
        assert!(!search.contact_form && !search.appointment_form);
    }

    #[test]
    fn languages_come_from_lang_hreflang_and_locale_tags() {
        let facts = page(
            "<html lang='en-GB'><head>\
             <link rel=alternate hreflang='fr-FR' href='/fr'>\
             <link rel=alternate hreflang='x-default' href='/'>\
             <meta property='og:locale:alternate' content='es_ES'>\
             </head><body></body></html>",
        );
        let languages: Vec<&str> = facts.languages.iter().map(String::as_str).collect();
        assert_eq!(languages, vec!["en", "es", "fr"]);
    }

    #[test]
    fn the_next_page_stays_on_the_site_and_prefers_booking_to_contact() {
        let facts = page(
            "<a href='#top'>Top</a><a href='https://other.example/contact'>Them</a>\
             <a href='/kontakt'>Kontakt</a><a href='https://www.salon.example/termin'>Termin</a>\
             <a href='mailto:x@salon.example'>Mail us</a>",
        );
        assert_eq!(
            facts.next,
            Some((PageKind::Booking, url("https://www.salon.example/termin")))
        );
        let none = page("<a href='/'>Home</a><a href='https://calendly.com/x'>Book</a>");
        assert_eq!(none.next, None);
    }

    #[test]
    fn structured_data_counts_reviews_addresses_and_services() {
        let facts = page(
            r#"<script type="application/ld+json">{"@context":"https://schema.org",
              "@graph":[
                {"@type":"HairSalon","aggregateRating":{"@type":"AggregateRating","ratingValue":4.8},
                 "address":{"@type":"PostalAddress","streetAddress":"1 Main St"},
                 "hasOfferCatalog":{"@type":"OfferCatalog","itemListElement":[{},{},{}]}},
                {"@type":"HairSalon","address":{"@type":"PostalAddress","streetAddress":"2 High St"}}
              ]}</script>"#,
        );
        assert!(facts.reviews);
        assert!(facts.multiple_locations);
        assert_eq!(facts.services, 3);
    }

    #[test]
    fn broken_markup_still_reads() {
        let facts = page("<p>Book now<div class=gallery><img src=a.jpg><p>Call +1 555 123 4567");
        assert!(facts.keywords.contains("book now"));
        assert!(facts.gallery);
        assert!(facts.phone);
    }
}
