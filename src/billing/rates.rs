//! Credit rate bands (`CLARA_CREDIT_RATES`): `lower-upper:credits_per_usd:stripe_price_id`,
//! comma separated, amounts in whole US dollars. A purchase of `amount` dollars must fall in a
//! band and buys `rate × amount` credits.

use std::str::FromStr;

/// One band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    pub lower: i64,
    pub upper: i64,
    /// Credits per US dollar.
    pub rate: i64,
    pub price_id: String,
}

/// The bands, in the order configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rates(pub Vec<Band>);

/// The default: $5 to $10,000 at 100 credits a dollar (one credit = one cent), price unset.
pub const DEFAULT: &str = "5-10000:100:";

impl Rates {
    /// The band an amount in dollars falls in.
    pub fn band_for(&self, amount: i64) -> Option<&Band> {
        self.0
            .iter()
            .find(|b| (b.lower..=b.upper).contains(&amount))
    }

    /// The rate used to value credits in dollars where no purchase says otherwise (admin
    /// changes): the first band's, else 100.
    pub fn reference_rate(&self) -> i64 {
        self.0.first().map_or(100, |b| b.rate)
    }
}

impl FromStr for Rates {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut bands = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("{part:?}: expected lower-upper:credits_per_usd:price_id");
            let mut fields = part.splitn(3, ':');
            let range = fields.next().ok_or_else(bad)?;
            let rate = fields.next().ok_or_else(bad)?;
            let price_id = fields.next().unwrap_or("").trim().to_string();
            let (lower, upper) = range.split_once('-').ok_or_else(bad)?;
            let number = |s: &str| s.trim().parse::<i64>().map_err(|_| bad());
            let band = Band {
                lower: number(lower)?,
                upper: number(upper)?,
                rate: number(rate)?,
                price_id,
            };
            if band.lower < 1 || band.upper < band.lower || band.rate < 1 {
                return Err(format!(
                    "{part:?}: need 1 <= lower <= upper and a rate of 1 or more"
                ));
            }
            bands.push(band);
        }
        if bands.is_empty() {
            return Err("at least one band is needed".into());
        }
        Ok(Self(bands))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_parse_and_find_amounts() {
        let rates: Rates = "5-100:100:price_a, 101-10000:120:price_b".parse().unwrap();
        assert_eq!(rates.band_for(4), None);
        assert_eq!(rates.band_for(5).unwrap().price_id, "price_a");
        assert_eq!(rates.band_for(101).unwrap().rate, 120);
        assert_eq!(rates.band_for(10001), None);
        assert_eq!(rates.reference_rate(), 100);
        assert_eq!(DEFAULT.parse::<Rates>().unwrap().0[0].price_id, "");
        for bad in ["", "5:100:p", "10-5:100:p", "5-10:0:p", "a-b:1:p"] {
            assert!(bad.parse::<Rates>().is_err(), "{bad}");
        }
    }
}
