//! A lead's attributes: its plain value columns, each declared once here.
//!
//! A declaration gives the field of `Lead`, of `CreateLeadInput` and
//! `UpdateLeadInput`, of `LeadFilter` (`[filter …]`), the template variable
//! `lead.<name>` (`[… template …]`) and the scoring criterion (`[… score]`).
//! CONTRIBUTING.md ("Adding a column to leads") has the whole recipe.

use entity::leads;
use entity::sea_orm_active_enums::{
    BookingPotential as BookingPotentialModel, VerificationStatus as VerificationModel,
};

use super::types::{BookingPotential, VerificationStatus};
use crate::attributes::{
    Choice, Country, Email, Flag, Percent, Phone, RequiredChoice, Text, TimeZone, Url,
};

crate::attributes! {
    model: leads::Model,
    entity: leads,
    object: LeadAttributes,
    create: CreateLeadAttributes,
    update: UpdateLeadAttributes,
    filter: LeadAttributeFilter,
    table: LEAD_ATTRIBUTES,
    fields {
        //                                                          [filter template score]
        first_name: FirstName = "firstName", Text, [false true false];
        last_name: LastName = "lastName", Text, [false true false];
        email: Email = "email", Email, [true true true];
        phone: Phone = "phone", Phone, [false true false];
        job_title: JobTitle = "jobTitle", Text, [true true true];
        /// ISO 3166 alpha-2, e.g. `DE`.
        country: Country = "country", Country, [true true true];
        city: City = "city", Text, [true true true];
        /// 0–100: how complete and trustworthy the lead's data is.
        quality_score: QualityScore = "qualityScore", Percent, [true false true];
        /// Result of verifying the lead's email address.
        verification_status: VerificationStatus = "verificationStatus",
            RequiredChoice<VerificationStatus, VerificationModel>, [false false true];
        /// BANT: who decides.
        authority: Authority = "authority", Text, [false false false];
        /// BANT: what they need.
        need: Need = "need", Text, [false false false];
        /// BANT: when they will buy.
        timeline: Timeline = "timeline", Text, [false false false];
        /// The lead's LinkedIn profile (http or https).
        linkedin_url: LinkedinUrl = "linkedinUrl", Url, [true true true];
        /// Whether the lead decides on the purchase (null: not known).
        is_decision_maker: IsDecisionMaker = "isDecisionMaker", Flag, [true true true];
        /// How likely the lead's business is to book online.
        booking_potential: BookingPotential = "bookingPotential",
            Choice<BookingPotential, BookingPotentialModel>, [true true true];
        /// 0–100: how far the lead's business is online (website, booking, listings).
        digital_maturity_score: DigitalMaturityScore = "digitalMaturityScore",
            Percent, [true true true];
        /// Where the lead is in the follow-up plan, in the team's own words.
        follow_up_stage: FollowUpStage = "followUpStage", Text, [true true true];
        /// The lead's IANA time zone (`Europe/Berlin`): campaigns can send
        /// in each lead's own working hours.
        time_zone: TimeZone = "timeZone", TimeZone, [false true false];
    }
}
