//! ISO 3166-1 alpha-2 country codes: the only way to write a country that
//! filters, reports and tax rules can rely on.

use crate::error::{AppError, AppResult};

/// The officially assigned ISO 3166-1 alpha-2 codes.
const CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// A country as its ISO 3166-1 alpha-2 code, uppercase (`DE`, `US`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CountryCode(String);

impl CountryCode {
    /// Parses `raw` (any case, surrounding spaces ignored); `field` names
    /// the input in the error.
    pub(crate) fn parse(raw: &str, field: &str) -> AppResult<Self> {
        let code = raw.trim().to_ascii_uppercase();
        let assigned = code.len() == 2
            && code.chars().all(|c| c.is_ascii_uppercase())
            && CODES.split(' ').any(|c| c == code);
        if assigned {
            Ok(Self(code))
        } else {
            Err(AppError::invalid(
                field,
                "must be an ISO 3166-1 alpha-2 country code such as DE or US",
            ))
        }
    }

    pub(crate) fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_assigned_codes_in_any_case() {
        assert_eq!(CountryCode::parse(" de ", "c").unwrap().into_inner(), "DE");
        assert_eq!(CountryCode::parse("Us", "c").unwrap().into_inner(), "US");
        assert_eq!(CODES.split(' ').count(), 249);
    }

    #[test]
    fn refuses_unassigned_or_malformed_codes_naming_the_field() {
        for bad in ["", "D", "DEU", "XX", "U5", "Germany", "ÄÄ"] {
            match CountryCode::parse(bad, "input.address.country") {
                Err(AppError::BadUserInput { field, .. }) => {
                    assert_eq!(field, "input.address.country")
                }
                other => panic!("accepted {bad:?}: {other:?}"),
            }
        }
    }
}
