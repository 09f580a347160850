//! What a mail that arrives for a sender is: a reply to one of our messages,
//! an automatic answer to one (out-of-office, vacation notice), a bounce
//! report about one, or nothing of ours. One classifier for every way mail
//! comes in (the sender's IMAP mailbox, SendGrid Inbound Parse), so an
//! out-of-office never counts as a reply on one path and not on another.
//!
//! - Automatic answers follow RFC 3834 (`Auto-Submitted` other than `no`)
//!   and the headers mailers used before it (`X-Autoreply`,
//!   `X-Autorespond`, `Precedence: auto_reply|bulk|junk`, Exchange's
//!   `X-Auto-Response-Suppress: All`/`OOF` on its own automatic mail), with
//!   the usual subjects ("Automatic reply:", "Out of Office"…) as the last
//!   resort for mailers that mark nothing.
//! - Bounce reports are RFC 3464 delivery status notifications
//!   (`multipart/report; report-type=delivery-status`, and RFC 6533's
//!   `global-delivery-status`). The original message is found through the
//!   returned `message/rfc822` or `text/rfc822-headers` part's Message-ID,
//!   then the report's own `In-Reply-To`/`References`. Non-standard bounce
//!   formats (free text from old MTAs) are not recognised: they stay
//!   unrelated mail rather than guesses.
//! - Which recipient result counts: `failed` with a 5.x.x status is a hard
//!   bounce (the address is refused for good, so it is suppressed);
//!   `failed` with a 4.x.x status (the MTA gave up retrying a temporary
//!   problem) is a soft bounce (the message did not arrive, the address
//!   stays); `delayed` is not recorded at all, because the MTA is still
//!   trying and a later report (or none, on success) settles it.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::messaging::webhooks::providers::mail_headers::{
    find_header, first_message_id, normalise_message_id, reply_target,
};

/// What an incoming mail means for our messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// A person answered our message `target` (its Message-ID, without
    /// angle brackets).
    Reply { target: String },
    /// A machine answered our message `target`; `reason` names the header
    /// (or subject) that says so.
    AutoReply { target: String, reason: String },
    /// A delivery status notification about one of our messages.
    Bounce(DeliveryReport),
    /// Mail that answers nothing of ours, or a report we cannot place.
    Unrelated,
}

/// The parts of an RFC 3464 report PromoHub acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeliveryReport {
    /// Message-IDs that may name the original message, best first.
    pub originals: Vec<String>,
    pub recipients: Vec<RecipientResult>,
}

/// One per-recipient block of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecipientResult {
    /// `Final-Recipient`'s address.
    pub recipient: Option<String>,
    /// `failed`, `delayed`, `delivered`, `relayed` or `expanded`.
    pub action: String,
    /// The enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// What a report says happened to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeliveryOutcome {
    /// `failed` with a 5.x.x status: the address does not take mail.
    Hard,
    /// `failed` otherwise: the MTA gave up, the address may be fine.
    Soft,
    /// `delayed`, `delivered`, `relayed`, `expanded`: nothing to record.
    NoBounce,
}

impl RecipientResult {
    pub(crate) fn outcome(&self) -> DeliveryOutcome {
        if !self.action.eq_ignore_ascii_case("failed") {
            return DeliveryOutcome::NoBounce;
        }
        match self.status.as_deref().map(str::trim) {
            Some(status) if status.starts_with('5') => DeliveryOutcome::Hard,
            _ => DeliveryOutcome::Soft,
        }
    }
}

impl DeliveryReport {
    /// The recipient result that matters most: a hard bounce over a soft
    /// one over anything else.
    pub(crate) fn worst(&self) -> Option<&RecipientResult> {
        let rank = |r: &RecipientResult| match r.outcome() {
            DeliveryOutcome::Hard => 2,
            DeliveryOutcome::Soft => 1,
            DeliveryOutcome::NoBounce => 0,
        };
        self.recipients.iter().max_by_key(|r| rank(r))
    }
}

/// Subjects automatic answers start with, lowercase, for mailers that set
/// none of the headers. Only prefixes: "Re: Out of office policy" is a
/// person answering.
const AUTO_SUBJECTS: [&str; 14] = [
    "automatic reply:",
    "auto reply:",
    "auto-reply:",
    "autoreply:",
    "auto response:",
    "out of office",
    "out of the office",
    "vacation reply",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "autosvar",
];

/// Why a mail is an automatic answer, or `None` for one a person wrote.
/// `header` looks a header up by name (any case) and gives its unfolded
/// value; `subject` is the decoded subject.
pub(crate) fn automatic_reply(
    header: impl Fn(&str) -> Option<String>,
    subject: Option<&str>,
) -> Option<String> {
    let value = |name: &str| header(name).map(|v| v.trim().to_ascii_lowercase());
    // RFC 3834 §5: any value other than `no` (parameters may follow `;`).
    if let Some(auto) = value("Auto-Submitted") {
        let keyword = auto.split(';').next().unwrap_or("").trim().to_owned();
        if !keyword.is_empty() && keyword != "no" {
            return Some(format!("Auto-Submitted: {keyword}"));
        }
    }
    for name in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if let Some(v) = value(name)
            && v != "no"
        {
            return Some(format!("{name}: {v}"));
        }
    }
    if let Some(precedence) = value("Precedence")
        && ["auto_reply", "bulk", "junk"].contains(&precedence.as_str())
    {
        return Some(format!("Precedence: {precedence}"));
    }
    // Exchange marks its own automatic mail (out-of-office, rules) so that
    // other robots do not answer it; a person's reply does not carry it.
    if let Some(suppress) = value("X-Auto-Response-Suppress")
        && suppress
            .split(',')
            .map(str::trim)
            .any(|v| v == "all" || v == "oof")
    {
        return Some(format!("X-Auto-Response-Suppress: {suppress}"));
    }
    let subject = subject?.trim().to_lowercase();
    AUTO_SUBJECTS
        .iter()
        .find(|prefix| subject.starts_with(*prefix))
        .map(|prefix| format!("Subject: {prefix}"))
}

/// Classifies a whole mail (RFC 5322 bytes, as an IMAP FETCH gives it).
pub(crate) fn classify(raw: &[u8]) -> Inbound {
    let Some(mail) = MessageParser::default().parse(raw) else {
        return Inbound::Unrelated;
    };
    if let Some(report) = delivery_report(&mail) {
        return Inbound::Bounce(report);
    }
    let header = |name: &str| mail.header_raw(name).map(|v| v.trim().to_owned());
    let Some(target) = reply_target(
        header("In-Reply-To").as_deref(),
        header("References").as_deref(),
    ) else {
        return Inbound::Unrelated;
    };
    match automatic_reply(header, mail.subject()) {
        Some(reason) => Inbound::AutoReply { target, reason },
        None => Inbound::Reply { target },
    }
}

/// The report in a `multipart/report` DSN; `None` for any other mail.
fn delivery_report(mail: &Message<'_>) -> Option<DeliveryReport> {
    let content_type = mail.content_type()?;
    let is_report = content_type.ctype().eq_ignore_ascii_case("multipart")
        && content_type
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && content_type.attribute("report-type").is_some_and(|t| {
            t.eq_ignore_ascii_case("delivery-status")
                || t.eq_ignore_ascii_case("global-delivery-status")
        });
    if !is_report {
        return None;
    }
    let mut originals = Vec::new();
    let mut recipients = Vec::new();
    let mut envelope_id = None;
    for part in mail.parts.iter().skip(1) {
        let Some(part_type) = part.content_type() else {
            continue;
        };
        let kind = format!(
            "{}/{}",
            part_type.ctype().to_ascii_lowercase(),
            part_type.subtype().unwrap_or("").to_ascii_lowercase()
        );
        match (kind.as_str(), &part.body) {
            ("message/delivery-status" | "message/global-delivery-status", _) => {
                let Some(text) = part.text_contents() else {
                    continue;
                };
                let mut blocks = field_blocks(text).into_iter();
                if let Some(per_message) = blocks.next() {
                    envelope_id = field(&per_message, "Original-Envelope-Id")
                        .and_then(|id| normalise_message_id(&id));
                }
                recipients.extend(blocks.filter_map(|block| {
                    Some(RecipientResult {
                        action: field(&block, "Action")?.to_ascii_lowercase(),
                        recipient: field(&block, "Final-Recipient")
                            .or_else(|| field(&block, "Original-Recipient"))
                            .map(|r| address_of(&r)),
                        status: field(&block, "Status")
                            .map(|s| s.split_whitespace().next().unwrap_or("").to_owned()),
                        diagnostic: field(&block, "Diagnostic-Code"),
                    })
                }));
            }
            (_, PartType::Message(original)) => {
                if let Some(id) = original.message_id() {
                    originals.push(id.to_owned());
                }
            }
            ("text/rfc822-headers" | "message/global-headers", _) => {
                if let Some(id) = part
                    .text_contents()
                    .and_then(|headers| find_header(headers, "Message-ID"))
                    .and_then(|id| first_message_id(&id))
                {
                    originals.push(id);
                }
            }
            _ => {}
        }
    }
    originals.extend(envelope_id);
    let header = |name: &str| mail.header_raw(name).map(|v| v.trim().to_owned());
    originals.extend(reply_target(
        header("In-Reply-To").as_deref(),
        header("References").as_deref(),
    ));
    originals.dedup();
    Some(DeliveryReport {
        originals,
        recipients,
    })
}

/// The blocks of `name: value` fields of a delivery-status body (RFC 3464
/// §2.1: per-message fields, then one block per recipient, separated by
/// empty lines), folded lines joined.
fn field_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

fn field(block: &[(String, String)], name: &str) -> Option<String> {
    block
        .iter()
        .find(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
        .filter(|value| !value.is_empty())
}

/// `rfc822; jane@example.com` → `jane@example.com`.
fn address_of(value: &str) -> String {
    value
        .split_once(';')
        .map_or(value, |(_, address)| address)
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| {
            owned
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn rfc_3834_auto_submitted_other_than_no_is_automatic() {
        for value in [
            "auto-replied",
            "auto-generated",
            "Auto-Replied; owner-email=x@y",
        ] {
            assert!(
                automatic_reply(headers(&[("Auto-Submitted", value)]), Some("Re: hi")).is_some(),
                "{value}"
            );
        }
        assert_eq!(
            automatic_reply(headers(&[("Auto-Submitted", "no")]), Some("Re: hi")),
            None
        );
    }

    #[test]
    fn older_autoresponder_headers_and_subjects_are_automatic() {
        for pairs in [
            [("X-Autoreply", "yes")],
            [("X-Autorespond", "Out of office")],
            [("Precedence", "auto_reply")],
            [("Precedence", "bulk")],
            [("X-Auto-Response-Suppress", "All")],
        ] {
            assert!(
                automatic_reply(headers(&pairs), Some("Re: hi")).is_some(),
                "{pairs:?}"
            );
        }
        for subject in [
            "Automatic reply: Spring offers",
            "Out of Office: Spring offers",
            "Abwesenheitsnotiz: Spring offers",
        ] {
            assert!(
                automatic_reply(headers(&[]), Some(subject)).is_some(),
                "{subject}"
            );
        }
    }

    #[test]
    fn a_persons_reply_is_not_automatic() {
        assert_eq!(
            automatic_reply(
                headers(&[("Precedence", "list"), ("X-Auto-Response-Suppress", "")]),
                Some("Re: Out of office policy")
            ),
            None
        );
    }

    const REPORT: &str = "From: MAILER-DAEMON@mx.example.com\r\n\
        To: news@promohub.test\r\n\
        Subject: Undelivered Mail Returned to Sender\r\n\
        Auto-Submitted: auto-replied\r\n\
        Message-ID: <dsn-1@mx.example.com>\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
        \r\n\
        --B\r\n\
        Content-Type: text/plain\r\n\
        \r\n\
        I'm sorry to have to inform you that your message could not be delivered.\r\n\
        --B\r\n\
        Content-Type: message/delivery-status\r\n\
        \r\n\
        Reporting-MTA: dns; mx.example.com\r\n\
        Original-Envelope-Id: env-1\r\n\
        \r\n\
        Final-Recipient: rfc822; jane@example.com\r\n\
        Action: {action}\r\n\
        Status: {status}\r\n\
        Diagnostic-Code: smtp; 550 5.1.1 <jane@example.com>: Recipient address\r\n\
        \trejected: User unknown\r\n\
        \r\n\
        --B\r\n\
        Content-Type: {returned}\r\n\
        \r\n\
        From: news@promohub.test\r\n\
        To: jane@example.com\r\n\
        Message-ID: <ours-1@promohub.test>\r\n\
        Subject: Spring offers\r\n\
        \r\n\
        --B--\r\n";

    fn report(action: &str, status: &str, returned: &str) -> Vec<u8> {
        REPORT
            .replace("{action}", action)
            .replace("{status}", status)
            .replace("{returned}", returned)
            .into_bytes()
    }

    #[test]
    fn a_failed_5xx_report_is_a_hard_bounce_of_the_returned_message() {
        for returned in ["text/rfc822-headers", "message/rfc822"] {
            let Inbound::Bounce(report) = classify(&report("failed", "5.1.1", returned)) else {
                panic!("not a bounce ({returned})");
            };
            assert_eq!(report.originals[0], "ours-1@promohub.test", "{returned}");
            let worst = report.worst().unwrap();
            assert_eq!(worst.outcome(), DeliveryOutcome::Hard);
            assert_eq!(worst.recipient.as_deref(), Some("jane@example.com"));
            assert_eq!(worst.status.as_deref(), Some("5.1.1"));
            assert!(
                worst
                    .diagnostic
                    .as_deref()
                    .unwrap()
                    .ends_with("rejected: User unknown")
            );
        }
    }

    #[test]
    fn a_delay_is_not_a_bounce_and_a_4xx_failure_is_soft() {
        let Inbound::Bounce(delayed) = classify(&report("delayed", "4.4.1", "message/rfc822"))
        else {
            panic!("not a report");
        };
        assert_eq!(
            delayed.worst().unwrap().outcome(),
            DeliveryOutcome::NoBounce
        );
        let Inbound::Bounce(expired) = classify(&report("failed", "4.4.7", "message/rfc822"))
        else {
            panic!("not a report");
        };
        assert_eq!(expired.worst().unwrap().outcome(), DeliveryOutcome::Soft);
    }

    #[test]
    fn replies_auto_replies_and_unrelated_mail_are_told_apart() {
        let reply = b"From: jane@example.com\r\nSubject: Re: Spring offers\r\n\
            In-Reply-To: <ours-1@promohub.test>\r\n\r\nYes please.\r\n";
        assert_eq!(
            classify(reply),
            Inbound::Reply {
                target: "ours-1@promohub.test".into()
            }
        );
        let auto = b"From: jane@example.com\r\nSubject: Automatic reply: Spring offers\r\n\
            Auto-Submitted: auto-replied\r\nReferences: <ours-1@promohub.test>\r\n\r\nAway.\r\n";
        assert!(matches!(
            classify(auto),
            Inbound::AutoReply { target, .. } if target == "ours-1@promohub.test"
        ));
        let unrelated = b"From: boss@example.com\r\nSubject: Lunch?\r\n\r\nNoon.\r\n";
        assert_eq!(classify(unrelated), Inbound::Unrelated);
    }
}
