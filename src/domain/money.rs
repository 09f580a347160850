//! Money: an amount in integer minor units with its ISO 4217 currency, as
//! stored; in the API `Money { amount: Decimal! currencyCode: CurrencyCode! }`
//! with the amount a decimal string (Shopify's convention): GraphQL's `Int`
//! is 32-bit and JavaScript loses integers past 2^53, a string loses
//! nothing. `Decimal` is parsed once at the edge into minor units of the
//! currency it is in, refusing more decimals than the currency has.

use async_graphql::{
    Enum, InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value,
};

use crate::error::{AppError, AppResult};

macro_rules! currencies {
    ($($(#[$doc:meta])* $code:ident = $exponent:literal,)*) => {
        /// An ISO 4217 currency code (funds and precious-metal codes, which
        /// have no minor unit, are left out).
        #[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(clippy::upper_case_acronyms)] // ISO 4217 spells them so.
        pub(crate) enum CurrencyCode {
            $($(#[$doc])* $code,)*
        }

        impl CurrencyCode {
            /// Digits after the decimal point of the minor unit (2 for
            /// EUR cents, 0 for JPY, 3 for KWD fils).
            pub(crate) fn exponent(self) -> u32 {
                match self {
                    $(Self::$code => $exponent,)*
                }
            }

            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(Self::$code => stringify!($code),)*
                }
            }

            /// The code as stored (`EUR`), any case; `None` for anything
            /// that is not an ISO 4217 code.
            pub(crate) fn parse(code: &str) -> Option<Self> {
                match code.to_ascii_uppercase().as_str() {
                    $(stringify!($code) => Some(Self::$code),)*
                    _ => None,
                }
            }
        }
    };
}

currencies! {
    /// UAE Dirham
    AED = 2,
    /// Afghani
    AFN = 2,
    /// Lek
    ALL = 2,
    /// Armenian Dram
    AMD = 2,
    /// Kwanza
    AOA = 2,
    /// Argentine Peso
    ARS = 2,
    /// Australian Dollar
    AUD = 2,
    /// Aruban Florin
    AWG = 2,
    /// Azerbaijan Manat
    AZN = 2,
    /// Convertible Mark
    BAM = 2,
    /// Barbados Dollar
    BBD = 2,
    /// Taka
    BDT = 2,
    /// Bahraini Dinar
    BHD = 3,
    /// Burundi Franc
    BIF = 0,
    /// Bermudian Dollar
    BMD = 2,
    /// Brunei Dollar
    BND = 2,
    /// Boliviano
    BOB = 2,
    /// Mvdol
    BOV = 2,
    /// Brazilian Real
    BRL = 2,
    /// Bahamian Dollar
    BSD = 2,
    /// Ngultrum
    BTN = 2,
    /// Pula
    BWP = 2,
    /// Belarusian Ruble
    BYN = 2,
    /// Belize Dollar
    BZD = 2,
    /// Canadian Dollar
    CAD = 2,
    /// Congolese Franc
    CDF = 2,
    /// WIR Euro
    CHE = 2,
    /// Swiss Franc
    CHF = 2,
    /// WIR Franc
    CHW = 2,
    /// Unidad de Fomento
    CLF = 4,
    /// Chilean Peso
    CLP = 0,
    /// Yuan Renminbi
    CNY = 2,
    /// Colombian Peso
    COP = 2,
    /// Unidad de Valor Real
    COU = 2,
    /// Costa Rican Colon
    CRC = 2,
    /// Cuban Peso
    CUP = 2,
    /// Cabo Verde Escudo
    CVE = 2,
    /// Czech Koruna
    CZK = 2,
    /// Djibouti Franc
    DJF = 0,
    /// Danish Krone
    DKK = 2,
    /// Dominican Peso
    DOP = 2,
    /// Algerian Dinar
    DZD = 2,
    /// Egyptian Pound
    EGP = 2,
    /// Nakfa
    ERN = 2,
    /// Ethiopian Birr
    ETB = 2,
    /// Euro
    EUR = 2,
    /// Fiji Dollar
    FJD = 2,
    /// Falkland Islands Pound
    FKP = 2,
    /// Pound Sterling
    GBP = 2,
    /// Lari
    GEL = 2,
    /// Ghana Cedi
    GHS = 2,
    /// Gibraltar Pound
    GIP = 2,
    /// Dalasi
    GMD = 2,
    /// Guinean Franc
    GNF = 0,
    /// Quetzal
    GTQ = 2,
    /// Guyana Dollar
    GYD = 2,
    /// Hong Kong Dollar
    HKD = 2,
    /// Lempira
    HNL = 2,
    /// Gourde
    HTG = 2,
    /// Forint
    HUF = 2,
    /// Rupiah
    IDR = 2,
    /// New Israeli Sheqel
    ILS = 2,
    /// Indian Rupee
    INR = 2,
    /// Iraqi Dinar
    IQD = 3,
    /// Iranian Rial
    IRR = 2,
    /// Iceland Krona
    ISK = 0,
    /// Jamaican Dollar
    JMD = 2,
    /// Jordanian Dinar
    JOD = 3,
    /// Yen
    JPY = 0,
    /// Kenyan Shilling
    KES = 2,
    /// Som
    KGS = 2,
    /// Riel
    KHR = 2,
    /// Comorian Franc
    KMF = 0,
    /// North Korean Won
    KPW = 2,
    /// Won
    KRW = 0,
    /// Kuwaiti Dinar
    KWD = 3,
    /// Cayman Islands Dollar
    KYD = 2,
    /// Tenge
    KZT = 2,
    /// Lao Kip
    LAK = 2,
    /// Lebanese Pound
    LBP = 2,
    /// Sri Lanka Rupee
    LKR = 2,
    /// Liberian Dollar
    LRD = 2,
    /// Loti
    LSL = 2,
    /// Libyan Dinar
    LYD = 3,
    /// Moroccan Dirham
    MAD = 2,
    /// Moldovan Leu
    MDL = 2,
    /// Malagasy Ariary
    MGA = 2,
    /// Denar
    MKD = 2,
    /// Kyat
    MMK = 2,
    /// Tugrik
    MNT = 2,
    /// Pataca
    MOP = 2,
    /// Ouguiya
    MRU = 2,
    /// Mauritius Rupee
    MUR = 2,
    /// Rufiyaa
    MVR = 2,
    /// Malawi Kwacha
    MWK = 2,
    /// Mexican Peso
    MXN = 2,
    /// Mexican Unidad de Inversion (UDI)
    MXV = 2,
    /// Malaysian Ringgit
    MYR = 2,
    /// Mozambique Metical
    MZN = 2,
    /// Namibia Dollar
    NAD = 2,
    /// Naira
    NGN = 2,
    /// Cordoba Oro
    NIO = 2,
    /// Norwegian Krone
    NOK = 2,
    /// Nepalese Rupee
    NPR = 2,
    /// New Zealand Dollar
    NZD = 2,
    /// Rial Omani
    OMR = 3,
    /// Balboa
    PAB = 2,
    /// Sol
    PEN = 2,
    /// Kina
    PGK = 2,
    /// Philippine Peso
    PHP = 2,
    /// Pakistan Rupee
    PKR = 2,
    /// Zloty
    PLN = 2,
    /// Guarani
    PYG = 0,
    /// Qatari Rial
    QAR = 2,
    /// Romanian Leu
    RON = 2,
    /// Serbian Dinar
    RSD = 2,
    /// Russian Ruble
    RUB = 2,
    /// Rwanda Franc
    RWF = 0,
    /// Saudi Riyal
    SAR = 2,
    /// Solomon Islands Dollar
    SBD = 2,
    /// Seychelles Rupee
    SCR = 2,
    /// Sudanese Pound
    SDG = 2,
    /// Swedish Krona
    SEK = 2,
    /// Singapore Dollar
    SGD = 2,
    /// Saint Helena Pound
    SHP = 2,
    /// Leone
    SLE = 2,
    /// Somali Shilling
    SOS = 2,
    /// Surinam Dollar
    SRD = 2,
    /// South Sudanese Pound
    SSP = 2,
    /// Dobra
    STN = 2,
    /// El Salvador Colon
    SVC = 2,
    /// Syrian Pound
    SYP = 2,
    /// Lilangeni
    SZL = 2,
    /// Baht
    THB = 2,
    /// Somoni
    TJS = 2,
    /// Turkmenistan New Manat
    TMT = 2,
    /// Tunisian Dinar
    TND = 3,
    /// Pa’anga
    TOP = 2,
    /// Turkish Lira
    TRY = 2,
    /// Trinidad and Tobago Dollar
    TTD = 2,
    /// New Taiwan Dollar
    TWD = 2,
    /// Tanzanian Shilling
    TZS = 2,
    /// Hryvnia
    UAH = 2,
    /// Uganda Shilling
    UGX = 0,
    /// US Dollar
    USD = 2,
    /// US Dollar (Next day)
    USN = 2,
    /// Uruguay Peso en Unidades Indexadas (UI)
    UYI = 0,
    /// Peso Uruguayo
    UYU = 2,
    /// Unidad Previsional
    UYW = 4,
    /// Uzbekistan Sum
    UZS = 2,
    /// Bolívar Soberano
    VED = 2,
    /// Bolívar Soberano
    VES = 2,
    /// Dong
    VND = 0,
    /// Vatu
    VUV = 0,
    /// Tala
    WST = 2,
    /// Arab Accounting Dinar
    XAD = 2,
    /// CFA Franc BEAC
    XAF = 0,
    /// East Caribbean Dollar
    XCD = 2,
    /// Caribbean Guilder
    XCG = 2,
    /// CFA Franc BCEAO
    XOF = 0,
    /// CFP Franc
    XPF = 0,
    /// Yemeni Rial
    YER = 2,
    /// Rand
    ZAR = 2,
    /// Zambian Kwacha
    ZMW = 2,
    /// Zimbabwe Gold
    ZWG = 2,
}

impl CurrencyCode {
    /// The stored code of a row, or a clear error for a value written
    /// before codes were checked.
    pub(crate) fn stored(code: &str) -> AppResult<Self> {
        Self::parse(code).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("stored currency {code:?} is not ISO 4217"))
        })
    }
}

/// An exact decimal number written as a string: `"1234.50"`, `"-3"`,
/// `"0.005"`. Exact, unlike a float, and not bounded by GraphQL's 32-bit
/// `Int`. Input also takes a JSON number without a fraction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decimal(String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        let text = match &value {
            Value::String(text) => text.trim().to_owned(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        if is_decimal(&text) {
            Ok(Self(text))
        } else {
            Err(InputValueError::custom(format!(
                "{text:?} is not a decimal number like \"1234.50\""
            )))
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
        && !(digits.contains('.') && fraction.is_empty())
}

impl Decimal {
    /// The amount in minor units of `currency`; refuses more decimals than
    /// the currency has and amounts past 64 bits, naming `field`.
    pub(crate) fn to_minor(&self, currency: CurrencyCode, field: &str) -> AppResult<i64> {
        let negative = self.0.starts_with('-');
        let digits = self.0.trim_start_matches('-');
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let exponent = currency.exponent() as usize;
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > exponent {
            return Err(AppError::invalid(
                field,
                format!(
                    "{} has {exponent} decimal place{}: {:?} has more",
                    currency.as_str(),
                    if exponent == 1 { "" } else { "s" },
                    self.0
                ),
            ));
        }
        let scaled = format!("{whole}{fraction:0<exponent$}");
        let magnitude: i64 = scaled
            .parse()
            .map_err(|_| AppError::invalid(field, format!("{:?} is too large", self.0)))?;
        Ok(if negative { -magnitude } else { magnitude })
    }

    /// `units` minor units of `currency` written out (`1050` EUR: `"10.50"`).
    pub(crate) fn from_minor(units: i64, currency: CurrencyCode) -> Self {
        let exponent = currency.exponent() as usize;
        let magnitude = units.unsigned_abs().to_string();
        let sign = if units < 0 { "-" } else { "" };
        if exponent == 0 {
            return Self(format!("{sign}{magnitude}"));
        }
        let padded = format!("{magnitude:0>width$}", width = exponent + 1);
        let (whole, fraction) = padded.split_at(padded.len() - exponent);
        Self(format!("{sign}{whole}.{fraction}"))
    }
}

/// An amount of money.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Money {
    /// In units of the currency, as many decimals as it has (`"1234.50"`).
    pub(crate) amount: Decimal,
    pub(crate) currency_code: CurrencyCode,
}

impl Money {
    pub(crate) fn from_minor(units: i64, currency: CurrencyCode) -> Self {
        Self {
            amount: Decimal::from_minor(units, currency),
            currency_code: currency,
        }
    }
}

/// Re-expresses `units` minor units of `from` in minor units of `to` (the
/// same amount, another exponent); refuses an amount the new currency
/// cannot hold exactly, naming `field`.
pub(crate) fn rescale(
    units: i64,
    from: CurrencyCode,
    to: CurrencyCode,
    field: &str,
) -> AppResult<i64> {
    let (a, b) = (from.exponent(), to.exponent());
    if b >= a {
        units
            .checked_mul(10_i64.pow(b - a))
            .ok_or_else(|| AppError::invalid(field, "the amounts are too large in this currency"))
    } else {
        let divisor = 10_i64.pow(a - b);
        if units % divisor != 0 {
            return Err(AppError::invalid(
                field,
                format!(
                    "{} has {b} decimal places: set the amounts again in it",
                    to.as_str()
                ),
            ));
        }
        Ok(units / divisor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Decimal {
        Decimal::parse(Value::String(text.into())).unwrap()
    }

    #[test]
    fn amounts_become_minor_units_of_their_currency() {
        assert_eq!(
            decimal("10.5").to_minor(CurrencyCode::EUR, "f").unwrap(),
            1050
        );
        assert_eq!(
            decimal("10.50").to_minor(CurrencyCode::EUR, "f").unwrap(),
            1050
        );
        assert_eq!(
            decimal("1200").to_minor(CurrencyCode::JPY, "f").unwrap(),
            1200
        );
        assert_eq!(
            decimal("1.234").to_minor(CurrencyCode::KWD, "f").unwrap(),
            1234
        );
        assert_eq!(
            decimal("-0.01").to_minor(CurrencyCode::USD, "f").unwrap(),
            -1
        );
        assert_eq!(
            decimal("90071992547409.93")
                .to_minor(CurrencyCode::USD, "f")
                .unwrap(),
            9_007_199_254_740_993
        );
    }

    #[test]
    fn too_many_decimals_or_too_large_is_refused_naming_the_field() {
        for (text, currency) in [
            ("10.505", CurrencyCode::EUR),
            ("1.5", CurrencyCode::JPY),
            ("99999999999999999999", CurrencyCode::EUR),
        ] {
            match decimal(text).to_minor(currency, "input.budget") {
                Err(AppError::BadUserInput { field, .. }) => assert_eq!(field, "input.budget"),
                other => panic!("{text} {currency:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn minor_units_are_written_with_the_currencys_decimals() {
        assert_eq!(Decimal::from_minor(1050, CurrencyCode::EUR).0, "10.50");
        assert_eq!(Decimal::from_minor(5, CurrencyCode::EUR).0, "0.05");
        assert_eq!(Decimal::from_minor(-5, CurrencyCode::EUR).0, "-0.05");
        assert_eq!(Decimal::from_minor(1200, CurrencyCode::JPY).0, "1200");
        assert_eq!(Decimal::from_minor(1, CurrencyCode::KWD).0, "0.001");
        assert_eq!(
            Decimal::from_minor(9_007_199_254_740_993, CurrencyCode::USD).0,
            "90071992547409.93"
        );
    }

    #[test]
    fn only_decimal_numbers_and_iso_codes_pass() {
        for bad in ["", "1.", ".5", "1e3", "1,5", "--1", "12a"] {
            assert!(Decimal::parse(Value::String(bad.into())).is_err(), "{bad}");
        }
        assert_eq!(CurrencyCode::parse("eur"), Some(CurrencyCode::EUR));
        assert_eq!(CurrencyCode::parse("ZZZ"), None);
        assert_eq!(CurrencyCode::parse("XAU"), None);
    }

    #[test]
    fn rescaling_keeps_the_amount_or_refuses() {
        assert_eq!(
            rescale(1050, CurrencyCode::EUR, CurrencyCode::KWD, "f").unwrap(),
            10500
        );
        assert_eq!(
            rescale(1000, CurrencyCode::EUR, CurrencyCode::JPY, "f").unwrap(),
            10
        );
        assert!(rescale(1050, CurrencyCode::EUR, CurrencyCode::JPY, "f").is_err());
    }
}
