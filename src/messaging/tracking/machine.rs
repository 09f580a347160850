//! Telling machines from people. Mail security gateways open and follow
//! every link of an incoming message within seconds, and link previewers
//! fetch them too; counting those as engagement inflates open and click
//! rates, so they are stored as `machine` events and kept out of the human
//! figures.

/// Lowercase fragments of user agents that belong to scanners, previewers
/// and scripts rather than mail clients.
const MACHINE_AGENTS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "scanner",
    "barracuda",
    "mimecast",
    "proofpoint",
    "urldefense",
    "safelinks",
    "symantec",
    "messagelabs",
    "trendmicro",
    "fortiguard",
    "sophos",
    "cisco",
    "ironport",
    "appengine-google",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "headlesschrome",
    "phantomjs",
    "facebookexternalhit",
    "slackbot",
    "linkedinbot",
    "skypeuripreview",
    "whatsapp",
    "preview",
];

pub(crate) fn is_machine_agent(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent else {
        // Real mail clients always send one.
        return true;
    };
    let agent = agent.to_ascii_lowercase();
    agent.trim().is_empty() || MACHINE_AGENTS.iter().any(|marker| agent.contains(marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanners_and_scripts_are_machines_mail_clients_are_not() {
        for agent in [
            "Mozilla/5.0 (compatible; Barracuda Sentinel)",
            "Mimecast URL protect",
            "python-requests/2.31",
            "curl/8.5.0",
            "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0",
            "",
        ] {
            assert!(is_machine_agent(Some(agent)), "{agent}");
        }
        assert!(is_machine_agent(None));
        for agent in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Thunderbird/115.6.0",
            "Microsoft Outlook 16.0.17126",
        ] {
            assert!(!is_machine_agent(Some(agent)), "{agent}");
        }
    }
}
