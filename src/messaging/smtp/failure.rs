//! Why a delivery failed, and what the sender should do about it.
//!
//! The failover and retry code asks four questions and never reads SMTP
//! codes itself: is the account at fault (try the next one), is the server
//! throttling (give the slot back, rest the account, wait), is it worth
//! retrying later, is the message itself refused for good.

use std::fmt;
use std::time::Duration;

/// The step of the SMTP conversation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Opening the TCP connection; with implicit TLS also the handshake,
    /// which lettre performs inside its connect and reports the same way.
    Connect,
    /// The server's greeting, or its reply to EHLO.
    Greeting,
    /// STARTTLS: refused, not offered, or the handshake failed.
    Tls,
    Auth,
    MailFrom,
    RcptTo,
    /// The DATA command, the transfer and the server's final reply; also the
    /// caller's `before_data` refusing, in which case nothing was sent.
    Data,
    /// Building the message from its parts, before any connection.
    Build,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Greeting => "greeting",
            Stage::Tls => "TLS",
            Stage::Auth => "AUTH",
            Stage::MailFrom => "MAIL FROM",
            Stage::RcptTo => "RCPT TO",
            Stage::Data => "DATA",
            Stage::Build => "build",
        })
    }
}

/// A failed delivery: where it failed, and the server's code and text when
/// the server answered (`code` is `None` when the conversation broke first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendFailure {
    pub stage: Stage,
    pub code: Option<u16>,
    pub message: String,
}

impl SendFailure {
    pub(super) fn new(stage: Stage, code: Option<u16>, message: impl Into<String>) -> Self {
        Self {
            stage,
            code,
            message: message.into(),
        }
    }

    /// Keeps the server's code and its own words; lettre's display would
    /// prefix them with "permanent error (550)".
    pub(super) fn from_smtp(stage: Stage, error: &lettre::transport::smtp::Error) -> Self {
        match error.status() {
            Some(code) => {
                let text = std::error::Error::source(error).map(ToString::to_string);
                Self::new(stage, Some(code.into()), text.unwrap_or_default())
            }
            None => Self::new(stage, None, error.to_string()),
        }
    }

    pub(super) fn timed_out(stage: Stage, limit: Duration) -> Self {
        Self::new(stage, None, format!("no answer within {limit:?}"))
    }

    /// The account is at fault or unreachable, so the next sender account
    /// may well succeed: connection, TLS and greeting failures, AUTH
    /// failures, any 4xx, a refused sender, and a connection lost before
    /// the recipient was accepted.
    ///
    /// A connection lost during DATA is not: the message may have arrived,
    /// and only the caller's "transfer started" marker can say.
    pub fn is_account_problem(&self) -> bool {
        match (self.stage, self.code_class()) {
            (Stage::Build, _) => false,
            (_, Some(4)) => true,
            (Stage::Connect | Stage::Greeting | Stage::Tls | Stage::Auth, _) => true,
            (Stage::MailFrom, _) | (Stage::RcptTo, None) => true,
            (Stage::RcptTo | Stage::Data, _) => false,
        }
    }

    /// Worth retrying later with backoff: any 4xx, and any failure before
    /// the server could answer (refused or timed-out connections, dropped
    /// sockets), since nothing final was said.
    ///
    /// After `before_data` has run the caller's marker, not this flag,
    /// decides whether a second attempt is safe.
    pub fn is_transient(&self) -> bool {
        match self.code_class() {
            Some(class) => class == 4,
            None => self.stage != Stage::Build,
        }
    }

    /// The server answered "not now" with a code: SES's `454 Throttling
    /// failure: Maximum sending rate exceeded`, `421` (closing, too busy),
    /// `450`/`451`/`452` to MAIL or RCPT, any other 4xx. The message was not
    /// taken; it waits for a slot (on this account after it rests, or on
    /// another) without being marked failed or using up an attempt.
    pub fn is_throttle(&self) -> bool {
        self.code_class() == Some(4)
    }

    /// The message itself is refused for good (5xx on RCPT TO or on DATA,
    /// such as 550 no such user or 554 rejected), or could not be built:
    /// mark it bounced or failed, with no retry and no failover.
    pub fn is_permanent_for_message(&self) -> bool {
        match self.stage {
            Stage::Build => true,
            Stage::RcptTo | Stage::Data => self.code_class() == Some(5),
            _ => false,
        }
    }

    fn code_class(&self) -> Option<u16> {
        self.code.map(|code| code / 100)
    }
}

impl fmt::Display for SendFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(
                f,
                "SMTP {} failed with {code}: {}",
                self.stage, self.message
            ),
            None => write!(f, "SMTP {} failed: {}", self.stage, self.message),
        }
    }
}

impl std::error::Error for SendFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(stage: Stage, code: Option<u16>) -> SendFailure {
        SendFailure::new(stage, code, "")
    }

    #[test]
    fn every_4xx_reply_is_a_throttle_and_nothing_else_is() {
        let throttles = [
            (Stage::MailFrom, Some(454)),
            (Stage::Greeting, Some(421)),
            (Stage::RcptTo, Some(450)),
            (Stage::RcptTo, Some(451)),
            (Stage::RcptTo, Some(452)),
            (Stage::Data, Some(451)),
        ];
        let not = [
            (Stage::Connect, None),
            (Stage::RcptTo, Some(550)),
            (Stage::Data, None),
            (Stage::Auth, Some(535)),
        ];
        for (stage, code) in throttles {
            assert!(failure(stage, code).is_throttle(), "{stage} {code:?}");
        }
        for (stage, code) in not {
            assert!(!failure(stage, code).is_throttle(), "{stage} {code:?}");
        }
    }

    /// (stage, code) → (account problem, transient, permanent for message)
    #[test]
    fn each_failure_gets_the_decision_its_stage_and_code_call_for() {
        let cases = [
            (Stage::Connect, None, (true, true, false)),
            (Stage::Greeting, Some(421), (true, true, false)),
            (Stage::Greeting, Some(554), (true, false, false)),
            (Stage::Tls, None, (true, true, false)),
            (Stage::Auth, Some(535), (true, false, false)),
            (Stage::Auth, Some(534), (true, false, false)),
            (Stage::Auth, Some(454), (true, true, false)),
            (Stage::MailFrom, Some(451), (true, true, false)),
            (Stage::MailFrom, Some(530), (true, false, false)),
            (Stage::MailFrom, Some(550), (true, false, false)),
            (Stage::MailFrom, None, (true, true, false)),
            (Stage::RcptTo, Some(450), (true, true, false)),
            (Stage::RcptTo, Some(550), (false, false, true)),
            (Stage::RcptTo, None, (true, true, false)),
            (Stage::Data, Some(451), (true, true, false)),
            (Stage::Data, Some(554), (false, false, true)),
            (Stage::Data, None, (false, true, false)),
            (Stage::Build, None, (false, false, true)),
        ];
        for (stage, code, expected) in cases {
            let failure = failure(stage, code);
            let actual = (
                failure.is_account_problem(),
                failure.is_transient(),
                failure.is_permanent_for_message(),
            );
            assert_eq!(actual, expected, "{stage} {code:?}");
        }
    }

    #[test]
    fn the_display_names_the_stage_and_keeps_the_servers_words() {
        let failure = SendFailure::new(Stage::RcptTo, Some(550), "5.1.1 No such user");

        assert_eq!(
            failure.to_string(),
            "SMTP RCPT TO failed with 550: 5.1.1 No such user"
        );
    }
}
