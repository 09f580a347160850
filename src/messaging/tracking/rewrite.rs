//! Puts tracking into an outgoing HTML body: each web link goes through a
//! click redirect and an open pixel closes the body. The HTML is rewritten
//! as a stream with lol_html, never with regexes, so comments, scripts and
//! odd markup cannot fool the link detection.

use std::cell::Cell;
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::html_content::{ContentType, Element};
use lol_html::{RewriteStrSettings, element, end, end_tag, rewrite_str};

use crate::error::AppError;

/// An HTML body with tracking in place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrackedHtml {
    pub html: String,
    /// The original URL of each tracked link, in document order; a link's
    /// position here is the position passed to `tracked_url`.
    pub links: Vec<String>,
}

/// Rewrites every absolute http(s) `<a href>` to `tracked_url(position,
/// original)` and, with a `pixel_url`, adds an invisible open pixel as the
/// last thing in `<body>` (or the document, when there is no body).
///
/// Left alone: mailto:, tel:, `#anchors`, relative URLs, links marked
/// `data-no-track`, and URLs for which `keep_as_is` is true (the unsubscribe
/// link, which must work without the tracker).
pub(crate) fn add_tracking(
    html: &str,
    pixel_url: Option<&str>,
    keep_as_is: &dyn Fn(&str) -> bool,
    tracked_url: &mut dyn FnMut(usize, &str) -> String,
) -> Result<TrackedHtml, AppError> {
    let mut links = Vec::new();
    let pixel = pixel_url.map(|url| {
        format!(
            r#"<img src="{}" width="1" height="1" alt="" style="display:none;border:0">"#,
            escape_attribute(url)
        )
    });
    // Shared with the `</body>` handler, which lol_html requires to be 'static.
    let pixel_placed = Rc::new(Cell::new(false));

    let mut settings = RewriteStrSettings::new()
        .append_element_content_handler(element!("a[href]", |el| {
            track_link(el, keep_as_is, &mut *tracked_url, &mut links)
        }));
    if let Some(pixel) = pixel {
        let body_pixel = pixel.clone();
        let body_placed = Rc::clone(&pixel_placed);
        settings = settings
            .append_element_content_handler(element!("body", move |el| {
                let (pixel, placed) = (body_pixel.clone(), Rc::clone(&body_placed));
                el.on_end_tag(end_tag!(move |end| {
                    // A second `<body>` in broken markup gets no second pixel.
                    if !placed.replace(true) {
                        end.before(&pixel, ContentType::Html);
                    }
                    Ok(())
                }))
            }))
            // No `</body>` seen (no body, or one left unclosed): append at the end.
            .append_document_content_handler(end!(move |end| {
                if !pixel_placed.get() {
                    end.append(&pixel, ContentType::Html);
                }
                Ok(())
            }));
    }

    let html = rewrite_str(html, settings).map_err(rewriting_error)?;
    Ok(TrackedHtml { html, links })
}

fn track_link(
    el: &mut Element,
    keep_as_is: &dyn Fn(&str) -> bool,
    tracked_url: &mut dyn FnMut(usize, &str) -> String,
    links: &mut Vec<String>,
) -> lol_html::HandlerResult {
    if el.has_attribute("data-no-track") {
        return Ok(());
    }
    let Some(raw) = el.get_attribute("href") else {
        return Ok(());
    };
    // Attribute values arrive as written (`&amp;`); browsers also ignore
    // surrounding whitespace in a URL.
    let original = decode_entities(&raw).trim().to_owned();
    if !is_web_url(&original) || keep_as_is(&original) {
        return Ok(());
    }
    let tracked = tracked_url(links.len(), &original);
    el.set_attribute("href", &escape_attribute(&tracked))?;
    links.push(original);
    Ok(())
}

/// Absolute http(s) URLs only: everything else either is not a web page
/// (mailto:, tel:) or resolves against a base an email does not have.
fn is_web_url(url: &str) -> bool {
    ["http://", "https://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
    })
}

/// Decodes the character references that occur in URLs: `&amp;`, `&lt;`,
/// `&gt;`, `&quot;`, `&apos;` and numeric ones. Anything else is kept as
/// written, as the rare named entity in an href is not worth a table of 2,000.
fn decode_entities(raw: &str) -> String {
    let mut decoded = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('&') {
        decoded.push_str(&rest[..start]);
        rest = &rest[start..];
        match decode_reference(rest) {
            Some((character, length)) => {
                decoded.push(character);
                rest = &rest[length..];
            }
            None => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// The character a reference at the start of `text` (which starts with `&`)
/// stands for, and the reference's length.
fn decode_reference(text: &str) -> Option<(char, usize)> {
    // The longest reference handled is `&#x10FFFF;`.
    let end = text.get(..10.min(text.len()))?.find(';')?;
    let name = &text[1..end];
    let character = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) if is_all(hex, char::is_ascii_hexdigit) => {
                    u32::from_str_radix(hex, 16).ok()?
                }
                None if is_all(number, char::is_ascii_digit) => number.parse().ok()?,
                _ => return None,
            };
            char::from_u32(code)?
        }
    };
    Some((character, end + 1))
}

fn is_all(text: &str, test: fn(&char) -> bool) -> bool {
    !text.is_empty() && text.chars().all(|c| test(&c))
}

/// Escapes a value for a double-quoted attribute. lol_html escapes `"` but
/// writes `&` as is, which would turn `?a=1&copy=2` into `?a=1©=2`.
fn escape_attribute(value: &str) -> String {
    value.replace('&', "&amp;").replace('"', "&quot;")
}

fn rewriting_error(error: RewritingError) -> AppError {
    match error {
        // Markup lol_html refuses to guess about (e.g. a `<script>` inside a
        // `<select>`) comes from the template author, who can fix it.
        RewritingError::ParsingAmbiguity(ambiguity) => {
            AppError::invalid("htmlBody", ambiguity.to_string())
        }
        other => AppError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIXEL: &str = r#"<img src="https://t.example/o/1.gif" width="1" height="1" alt="" style="display:none;border:0">"#;

    /// Tracks with `https://t.example/c/<position>`, keeping the unsubscribe link.
    fn track(html: &str, pixel_url: Option<&str>) -> TrackedHtml {
        add_tracking(
            html,
            pixel_url,
            &|url| url.starts_with("https://t.example/u/"),
            &mut |position, _| format!("https://t.example/c/{position}"),
        )
        .unwrap()
    }

    #[test]
    fn web_links_are_rewritten_in_order_with_their_positions() {
        let html = r#"<p><a href="https://a.example/">A</a> <a class="x" href="http://b.example/page">B</a></p>"#;

        let tracked = track(html, None);

        assert_eq!(
            tracked.html,
            r#"<p><a href="https://t.example/c/0">A</a> <a class="x" href="https://t.example/c/1">B</a></p>"#
        );
        assert_eq!(
            tracked.links,
            ["https://a.example/", "http://b.example/page"]
        );
    }

    #[test]
    fn other_links_are_left_untouched() {
        let html = concat!(
            r#"<a href="mailto:ada@example.com">m</a><a href="tel:+4420">t</a>"#,
            r##"<a href="#top">a</a><a href="/relative">r</a><a href="//cdn.example/x">p</a>"##,
            r#"<a data-no-track href="https://a.example/">n</a>"#,
            r#"<a href="https://t.example/u/abc">u</a><a name="anchor">x</a><a href="https://">e</a>"#,
        );

        let tracked = track(html, None);

        assert_eq!(tracked.html, html);
        assert!(tracked.links.is_empty());
    }

    #[test]
    fn escaped_ampersands_round_trip() {
        let html = r#"<a href="https://a.example/?a=1&amp;copy=2&#38;b=&quot;x&quot;">A</a>"#;
        let mut seen = String::new();

        let tracked = add_tracking(html, None, &|_| false, &mut |_, url| {
            seen = url.to_owned();
            format!("https://t.example/c/0?to={url}")
        })
        .unwrap();

        assert_eq!(seen, r#"https://a.example/?a=1&copy=2&b="x""#);
        assert_eq!(tracked.links, [seen.as_str()]);
        assert_eq!(
            tracked.html,
            r#"<a href="https://t.example/c/0?to=https://a.example/?a=1&amp;copy=2&amp;b=&quot;x&quot;">A</a>"#
        );
    }

    #[test]
    fn the_pixel_closes_the_body() {
        let tracked = track(
            "<html><body><p>Hi</p></body></html>",
            Some("https://t.example/o/1.gif"),
        );

        assert_eq!(
            tracked.html,
            format!("<html><body><p>Hi</p>{PIXEL}</body></html>")
        );
    }

    #[test]
    fn without_a_body_the_pixel_ends_the_document() {
        let tracked = track("<p>Hi</p>", Some("https://t.example/o/1.gif"));

        assert_eq!(tracked.html, format!("<p>Hi</p>{PIXEL}"));
    }

    #[test]
    fn an_unclosed_body_still_gets_one_pixel() {
        let tracked = track("<body><p>Hi", Some("https://t.example/o/1.gif"));

        assert_eq!(tracked.html.matches("<img").count(), 1);
        assert!(tracked.html.ends_with(PIXEL));
    }

    #[test]
    fn non_ascii_text_is_preserved() {
        let html = r#"<p>Grüße, Zoë — 東京 🎉 <a href="https://a.example/café">ici</a></p>"#;

        let tracked = track(html, None);

        assert_eq!(
            tracked.html,
            r#"<p>Grüße, Zoë — 東京 🎉 <a href="https://t.example/c/0">ici</a></p>"#
        );
        assert_eq!(tracked.links, ["https://a.example/café"]);
    }

    #[test]
    fn malformed_html_does_not_panic() {
        for html in [
            "<a href=\"https://a.example/",
            "<a href=https://a.example/>x",
            "</body></body><a href='https://b.example'>",
            "<<<>>><a href",
            "<select><script>alert(1)</script></select><a href=\"https://a.example\">",
            "&#xFFFFFFFF; &#; &amp",
            "",
        ] {
            let _ = add_tracking(
                html,
                Some("https://t.example/o"),
                &|_| false,
                &mut |position, _| format!("https://t.example/c/{position}"),
            );
        }
    }

    #[test]
    fn decodes_only_well_formed_references() {
        assert_eq!(
            decode_entities("a&amp;b&#65;&#x42;&bogus;&#xZZ;&"),
            "a&bAB&bogus;&#xZZ;&"
        );
    }
}
