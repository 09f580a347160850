//! The few RFC 5322 header rules the providers need: Message-IDs as PromoHub
//! stores them (no angle brackets), the message a reply answers, and header
//! lookup in a raw header block (SendGrid Inbound Parse's `headers` field).

/// A Message-ID as PromoHub stores it: trimmed, without the angle brackets
/// of RFC 5322's `msg-id`. `None` when nothing is left.
pub(crate) fn normalise_message_id(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let inner = trimmed
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(trimmed)
        .trim();
    (!inner.is_empty()).then(|| inner.to_owned())
}

/// The first `msg-id` of an `In-Reply-To` or `References` value, which may
/// list several and carry comments or folding whitespace between them.
pub(crate) fn first_message_id(value: &str) -> Option<String> {
    match value.find('<') {
        Some(open) => {
            let rest = &value[open + 1..];
            normalise_message_id(&rest[..rest.find('>')?])
        }
        // Some mailers drop the brackets; the first word is still the id.
        None => normalise_message_id(value.split_whitespace().next()?),
    }
}

/// The message a reply answers: `In-Reply-To`, else the first `References`
/// entry (RFC 5322 §3.6.4). `None` for mail that answers nothing.
pub(crate) fn reply_target(in_reply_to: Option<&str>, references: Option<&str>) -> Option<String> {
    in_reply_to
        .and_then(first_message_id)
        .or_else(|| references.and_then(first_message_id))
}

/// The unfolded value of the first `name` header in a raw header block
/// (lines up to the first empty one; a whole message works too).
pub(crate) fn find_header(block: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in block.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let continues = line.starts_with([' ', '\t']);
        match (&mut found, continues) {
            // RFC 5322 §2.2.3: a folded line continues the previous header.
            (Some(value), true) => value.push_str(line),
            (Some(_), false) => break,
            (None, false) => {
                if let Some((field, value)) = line.split_once(':')
                    && field.trim().eq_ignore_ascii_case(name)
                {
                    found = Some(value.to_owned());
                }
            }
            (None, true) => {}
        }
    }
    found.map(|value| value.trim().to_owned())
}

/// The bare address of a mailbox such as `"Jane" <jane@example.com>`.
pub(crate) fn bare_address(mailbox: &str) -> Option<String> {
    let address = match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(open), Some(close)) if open < close => &mailbox[open + 1..close],
        _ => mailbox,
    }
    .trim();
    address.contains('@').then(|| address.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_lose_their_angle_brackets() {
        assert_eq!(
            normalise_message_id(" <abc@promohub.test> ").as_deref(),
            Some("abc@promohub.test")
        );
        assert_eq!(
            normalise_message_id("abc@promohub.test").as_deref(),
            Some("abc@promohub.test")
        );
        assert_eq!(normalise_message_id(" <> "), None);
    }

    #[test]
    fn a_reply_answers_in_reply_to_before_references() {
        assert_eq!(
            reply_target(Some("<parent@x>"), Some("<root@x> <parent@x>")).as_deref(),
            Some("parent@x")
        );
        assert_eq!(
            reply_target(None, Some("<root@x>\r\n <parent@x>")).as_deref(),
            Some("root@x")
        );
        assert_eq!(
            reply_target(Some("(comment) <a@x> <b@x>"), None).as_deref(),
            Some("a@x")
        );
        assert_eq!(reply_target(Some("  "), None), None);
    }

    #[test]
    fn headers_are_found_case_insensitively_and_unfolded() {
        let block = "Received: from a\r\n\tby b\r\nreferences: <root@x>\r\n <parent@x>\r\n\
                     Subject: Re: hi\r\n\r\nIn-Reply-To: <body@x>\r\n";
        assert_eq!(
            find_header(block, "References").as_deref(),
            Some("<root@x> <parent@x>")
        );
        assert_eq!(find_header(block, "subject").as_deref(), Some("Re: hi"));
        // The body starts at the empty line: nothing there is a header.
        assert_eq!(find_header(block, "In-Reply-To"), None);
    }

    #[test]
    fn mailboxes_give_their_bare_address() {
        assert_eq!(
            bare_address("\"Doe, Jane\" <jane@example.com>").as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(
            bare_address(" jane@example.com ").as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(bare_address("undisclosed-recipients:;"), None);
    }
}
