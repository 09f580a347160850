//! A company's attributes declared once (see `crate::attributes`): the
//! digital-presence signals of seed 001, typed and filterable.

use entity::companies;

use crate::attributes::{Between, Count, Flag, Rating};

crate::attributes! {
    model: companies::Model,
    entity: companies,
    object: CompanyAttributes,
    create: CreateCompanyAttributes,
    update: UpdateCompanyAttributes,
    filter: CompanyAttributeFilter,
    table: COMPANY_ATTRIBUTES,
    fields {
        //                                                                  [filter template score]
        /// Whether the business has a Google Maps listing.
        has_google_maps_listing: HasGoogleMapsListing = "hasGoogleMapsListing", Flag,
            [true true false];
        /// Its Google rating, 0–5 stars (two decimals).
        google_rating: GoogleRating = "googleRating", Rating, [true true false];
        /// How many Google reviews it has.
        google_review_count: GoogleReviewCount = "googleReviewCount", Count, [true true false];
        /// Google's price level, 1 (inexpensive) to 4 (very expensive).
        price_level: PriceLevel = "priceLevel", Between<1, 4>, [true true false];
        /// Whether it opens at weekends.
        has_weekend_hours: HasWeekendHours = "hasWeekendHours", Flag, [true true false];
    }
}
