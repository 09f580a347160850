//! The MIME message for one recipient, with the headers that mailbox
//! providers require of bulk senders (RFC 8058 one-click unsubscribe).

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::failure::{SendFailure, Stage};

/// One rendered email, ready to be sent to one recipient.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub from_email: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    /// The recipient: `a@b.example` or `Name <a@b.example>`.
    pub to: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: Option<String>,
    /// Without angle brackets, e.g. `0192…@mail.promohub.local`.
    pub message_id: String,
    /// An https URL, for `List-Unsubscribe` and its one-click POST.
    pub unsubscribe_url: String,
    /// A `mailto:` URI, offered next to the URL for clients without https.
    pub unsubscribe_mailto: Option<String>,
}

const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");

/// Builds the message: From (with name), To, Reply-To, Subject, Date,
/// Message-ID, List-Unsubscribe and List-Unsubscribe-Post, and a text body,
/// or text and HTML as multipart/alternative. lettre encodes non-ASCII
/// subjects and names (RFC 2047) and picks each body's transfer encoding.
pub fn build_message(email: &OutgoingEmail) -> Result<Message, SendFailure> {
    let from_address = email
        .from_email
        .parse()
        .map_err(|err| invalid(format!("from_email {:?}: {err}", email.from_email)))?;
    let mut builder = Message::builder()
        .from(Mailbox::new(email.from_name.clone(), from_address))
        .to(parse_mailbox("to", &email.to)?)
        .subject(email.subject.as_str())
        .date_now()
        .message_id(Some(message_id(&email.message_id)?))
        .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, list_unsubscribe(email)?))
        .raw_header(HeaderValue::new(
            LIST_UNSUBSCRIBE_POST,
            "List-Unsubscribe=One-Click".to_owned(),
        ));
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(parse_mailbox("reply_to", reply_to)?);
    }
    let text = email.text_body.clone();
    let built = match &email.html_body {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html.clone())),
        None => builder.singlepart(SinglePart::plain(text)),
    };
    built.map_err(|err| invalid(format!("cannot build the message: {err}")))
}

fn parse_mailbox(field: &str, raw: &str) -> Result<Mailbox, SendFailure> {
    raw.parse()
        .map_err(|err| invalid(format!("{field} {raw:?}: {err}")))
}

fn message_id(id: &str) -> Result<String, SendFailure> {
    let well_formed = id.contains('@') && !id.contains(|c: char| is_delimiter(c) || c == '"');
    if well_formed {
        Ok(format!("<{id}>"))
    } else {
        Err(invalid(format!("message_id {id:?} is not local@domain")))
    }
}

/// `<https://…>` and optionally `, <mailto:…>`. RFC 8058 makes one-click
/// unsubscribe an https URL. A `>` or whitespace would end a URI early and
/// readers split the list on commas, so URIs holding them are refused
/// rather than let the rest be read as another URI.
fn list_unsubscribe(email: &OutgoingEmail) -> Result<String, SendFailure> {
    // Production refuses a non-https public URL at startup; plain http is
    // what a development server on localhost has.
    let url = uri("unsubscribe_url", &email.unsubscribe_url, "https://")
        .or_else(|_| uri("unsubscribe_url", &email.unsubscribe_url, "http://"))?;
    let mut value = format!("<{url}>");
    if let Some(mailto) = &email.unsubscribe_mailto {
        let mailto = uri("unsubscribe_mailto", mailto, "mailto:")?;
        value.push_str(&format!(", <{mailto}>"));
    }
    Ok(value)
}

fn uri<'a>(field: &str, uri: &'a str, scheme: &str) -> Result<&'a str, SendFailure> {
    let has_scheme = uri
        .get(..scheme.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme));
    if has_scheme
        && uri.len() > scheme.len()
        && !uri.contains(|c: char| is_delimiter(c) || c == ',')
    {
        Ok(uri)
    } else {
        Err(invalid(format!("{field} {uri:?} is not a {scheme} URI")))
    }
}

fn is_delimiter(c: char) -> bool {
    c == '<' || c == '>' || c.is_whitespace() || c.is_control()
}

fn invalid(message: String) -> SendFailure {
    SendFailure::new(Stage::Build, None, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            from_email: "news@shop.example".into(),
            from_name: Some("Zoë's Shop".into()),
            reply_to: None,
            to: "ana@example.com".into(),
            subject: "Hello".into(),
            text_body: "Hi Ana".into(),
            html_body: None,
            message_id: "0192abc@mail.promohub.local".into(),
            unsubscribe_url: "https://t.example/u/abc".into(),
            unsubscribe_mailto: Some("mailto:unsub@t.example?subject=abc".into()),
        }
    }

    fn header(message: &Message, name: &str) -> Option<String> {
        message.headers().get_raw(name).map(str::to_owned)
    }

    #[test]
    fn the_unsubscribe_headers_offer_the_url_and_the_mailto_with_one_click() {
        let message = build_message(&email()).unwrap();

        assert_eq!(
            header(&message, "List-Unsubscribe").as_deref(),
            Some("<https://t.example/u/abc>, <mailto:unsub@t.example?subject=abc>")
        );
        assert_eq!(
            header(&message, "List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert_eq!(
            header(&message, "Message-ID").as_deref(),
            Some("<0192abc@mail.promohub.local>")
        );
    }

    #[test]
    fn a_malformed_unsubscribe_url_is_refused_before_sending() {
        for url in [
            "ftp://t.example/u/abc",
            "https://t.example/u> <https://evil.example",
            "https://",
            "https://t.example/u\r\nBcc: x@evil.example",
        ] {
            let failure = build_message(&OutgoingEmail {
                unsubscribe_url: url.into(),
                ..email()
            })
            .unwrap_err();

            assert_eq!(failure.stage, Stage::Build, "{url}");
            assert!(failure.is_permanent_for_message(), "{url}");
        }
    }

    #[test]
    fn an_invalid_recipient_or_message_id_is_a_build_failure() {
        let bad_recipient = OutgoingEmail {
            to: "not an address".into(),
            ..email()
        };
        let bad_id = OutgoingEmail {
            message_id: "<abc@x>".into(),
            ..email()
        };

        assert_eq!(
            build_message(&bad_recipient).unwrap_err().stage,
            Stage::Build
        );
        assert_eq!(build_message(&bad_id).unwrap_err().stage, Stage::Build);
    }
}
