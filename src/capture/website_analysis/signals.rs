//! A website analysis's signals, declared once (see `crate::attributes`):
//! each gives the field of `WebsiteAnalysis`, its condition in
//! `WebsiteAnalysisFilter` (a lead's or a company's `websiteAnalysis`
//! filter) and the scoring criterion `websiteAnalysis.<name>`.
//!
//! The analysis writes them and no input does, so of what the declaration
//! yields the create and update inputs go unused.

use entity::sea_orm_active_enums::BookingTool as BookingToolModel;
use entity::website_analyses;

use super::types::BookingTool;
use crate::attributes::{Between, Choice, Count, Flag};

crate::attributes! {
    model: website_analyses::Model,
    entity: website_analyses,
    object: WebsiteSignals,
    create: CreateWebsiteSignals,
    update: UpdateWebsiteSignals,
    filter: WebsiteSignalFilter,
    table: WEBSITE_SIGNALS,
    fields {
        //                                                                  [filter template score]
        /// Whether the site uses booking words ("book now", "appointment").
        has_booking_keywords: HasBookingKeywords = "hasBookingKeywords", Flag,
            [true false true];
        /// 0–10: how strongly the site's words invite booking (a call to
        /// action such as "book online" counts twice a word such as
        /// "schedule").
        booking_keyword_score: BookingKeywordScore = "bookingKeywordScore", Between<0, 10>,
            [true false true];
        /// The online booking tool the site links to or embeds.
        booking_tool: BookingTool = "bookingTool", Choice<BookingTool, BookingToolModel>,
            [true false true];
        /// Whether a visitor can book online: a booking tool or an
        /// appointment form.
        has_online_booking: HasOnlineBooking = "hasOnlineBooking", Flag, [true false true];
        /// Whether a form asks for a date, a time or an appointment.
        has_appointment_form: HasAppointmentForm = "hasAppointmentForm", Flag,
            [true false true];
        /// Whether the site shows a calendar or date picker.
        has_calendar: HasCalendar = "hasCalendar", Flag, [true false true];
        /// Whether the site shows prices.
        has_pricing: HasPricing = "hasPricing", Flag, [true false true];
        /// Whether the site has a gallery or portfolio.
        has_gallery: HasGallery = "hasGallery", Flag, [true false true];
        /// Whether the site shows reviews, testimonials or ratings.
        has_reviews: HasReviews = "hasReviews", Flag, [true false true];
        /// Whether a form takes a message and an email address.
        has_contact_form: HasContactForm = "hasContactForm", Flag, [true false true];
        /// Whether a phone number is the only way to get in touch: no form,
        /// no booking tool.
        has_phone_only: HasPhoneOnly = "hasPhoneOnly", Flag, [true false true];
        /// Whether the business has more than one location.
        has_multiple_locations: HasMultipleLocations = "hasMultipleLocations", Flag,
            [true false true];
        /// How many services the site lists.
        services_count: ServicesCount = "servicesCount", Count, [true false true];
    }
}
