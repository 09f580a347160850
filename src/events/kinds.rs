//! What a domain event says happened. Stored as text (`lead.created`), so
//! features add kinds without a migration and an older node can still read
//! a log that holds a newer kind (it skips what it does not know).

/// What happened in a tenant.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DomainEventKind {
    LeadCreated,
    /// Fields of the lead changed: the payload's `fields` names them.
    LeadChanged,
    LeadDeleted,
    LeadRestored,
    /// The lead was merged into another (payload `into`) and is gone.
    LeadMerged,
    MemberInvited,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    ApiKeyCreated,
    ApiKeyRevoked,
    TenantUpdated,
    /// An admin resent a message whose outcome was unknown or that failed;
    /// the payload keeps what it was (`previousStatus`,
    /// `previousMessageIdHeader`, `previousError`) and its new
    /// `messageIdHeader`.
    MessageResent,
    SegmentCreated,
    /// A segment's name, description, project or filter changed (payload
    /// `fields`), or leads joined or left a static one (payload `added`,
    /// `removed`).
    SegmentChanged,
    SegmentDeleted,
    /// A public form was submitted: payload `formId`, `submissionId`,
    /// `leadId`, `outcome` (`created` or `updated`).
    FormSubmitted,
}

impl DomainEventKind {
    /// Every kind, as the GraphQL enum lists them (no second list to keep).
    pub fn all() -> impl Iterator<Item = Self> {
        <Self as async_graphql::resolver_utils::EnumType>::items()
            .iter()
            .map(|item| item.value)
    }

    /// How the log spells it.
    pub fn spelling(self) -> &'static str {
        match self {
            Self::LeadCreated => "lead.created",
            Self::LeadChanged => "lead.changed",
            Self::LeadDeleted => "lead.deleted",
            Self::LeadRestored => "lead.restored",
            Self::LeadMerged => "lead.merged",
            Self::MemberInvited => "member.invited",
            Self::MemberJoined => "member.joined",
            Self::MemberRoleChanged => "member.role_changed",
            Self::MemberRemoved => "member.removed",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::TenantUpdated => "tenant.updated",
            Self::MessageResent => "message.resent",
            Self::SegmentCreated => "segment.created",
            Self::SegmentChanged => "segment.changed",
            Self::SegmentDeleted => "segment.deleted",
            Self::FormSubmitted => "form.submitted",
        }
    }

    /// The kind a stored spelling names; `None` for one this release does
    /// not know (written by a newer node).
    pub fn parse(spelling: &str) -> Option<Self> {
        Self::all().find(|kind| kind.spelling() == spelling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_spelling() {
        for kind in DomainEventKind::all() {
            assert_eq!(DomainEventKind::parse(kind.spelling()), Some(kind));
        }
        let mut spellings: Vec<_> = DomainEventKind::all().map(|k| k.spelling()).collect();
        spellings.sort_unstable();
        spellings.dedup();
        assert_eq!(spellings.len(), DomainEventKind::all().count());
        assert_eq!(spellings.len(), 17);
        assert_eq!(DomainEventKind::parse("campaign.launched"), None);
    }
}
