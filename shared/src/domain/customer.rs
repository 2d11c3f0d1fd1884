//! Customers: a guest starts with an id only and may attach a phone number.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::demand::Quantity;
use super::demand::words::latin_digit;

/// A Bangladeshi mobile number in E.164 form (`+8801XXXXXXXXX`). Its
/// `Debug` and `Display` mask the middle digits so logs never carry it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a phone number is a Bangladeshi mobile number: +8801XXXXXXXXX or 01XXXXXXXXX")]
pub struct InvalidPhone;

impl PhoneNumber {
    /// Accepts `+8801XXXXXXXXX`, `8801XXXXXXXXX` or `01XXXXXXXXX`, in
    /// Latin or Bangla digits, with spaces or dashes; operator digit 3-9.
    pub fn new(raw: &str) -> Result<Self, InvalidPhone> {
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(latin_digit)
            .collect();
        let national = digits
            .strip_prefix("+880")
            .or_else(|| digits.strip_prefix("880"))
            .map(|rest| format!("0{rest}"))
            .unwrap_or(digits);
        let bytes = national.as_bytes();
        let valid = bytes.len() == 11
            && bytes.iter().all(u8::is_ascii_digit)
            && national.starts_with("01")
            && (b'3'..=b'9').contains(&bytes[2]);
        if valid {
            Ok(PhoneNumber(format!("+88{national}")))
        } else {
            Err(InvalidPhone)
        }
    }

    /// The full number, for the parties allowed to see it.
    #[must_use]
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// `+88017*****678`: enough for a customer to recognise their number.
    #[must_use]
    pub fn masked(&self) -> String {
        let n = &self.0;
        let head: String = n.chars().take(6).collect();
        let tail: String = n.chars().skip(n.chars().count().saturating_sub(3)).collect();
        format!("{head}*****{tail}")
    }
}

/// Whether `text` holds a Bangladeshi mobile number (in Latin or Bangla
/// digits, with or without spaces and dashes between its digits).
#[must_use]
pub fn contains_phone_number(text: &str) -> bool {
    let latin: String = text.chars().map(latin_digit).collect();
    // Runs of digits, '+', spaces and dashes; within a run, any few
    // neighbouring pieces may be one number written in groups.
    latin
        .split(|c: char| !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-')))
        .any(|run| {
            let pieces: Vec<&str> = run.split_whitespace().collect();
            (0..pieces.len()).any(|from| {
                (from..pieces.len().min(from + 4)).any(|to| PhoneNumber::new(&pieces[from..=to].concat()).is_ok())
            })
        })
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidPhone;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        PhoneNumber::new(&raw)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

/// One thing in the customer's virtual home: what they have, built from
/// what orders brought (what was packed) and their own edits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HomeItem {
    /// `tag` and unit (`rice:kg`): amounts in one unit add up.
    pub key: String,
    pub name: String,
    /// The catalogue's Bangla name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_bn: Option<String>,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

impl HomeItem {
    #[must_use]
    pub fn new(name: &str, tag: &str, quantity: Option<Quantity>) -> Self {
        let unit = quantity
            .and_then(|q| serde_json::to_value(q.unit).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "any".to_string());
        HomeItem {
            key: format!("{tag}:{unit}"),
            name: name.to_string(),
            name_bn: None,
            tag: tag.to_string(),
            quantity,
        }
    }

    /// The same item, with the catalogue's Bangla name when there is one.
    #[must_use]
    pub fn in_bangla(mut self, name_bn: Option<String>) -> Self {
        self.name_bn = name_bn;
        self
    }
}

/// Adds `more` into `home`: the same key adds amounts, a new key is added.
pub fn merge_into_home(home: &mut Vec<HomeItem>, more: &[HomeItem]) {
    for item in more {
        match home.iter_mut().find(|h| h.key == item.key) {
            Some(existing) => {
                if let (Some(have), Some(add)) = (&mut existing.quantity, item.quantity) {
                    have.amount = (have.amount + add.amount).normalize();
                }
                if existing.name_bn.is_none() {
                    existing.name_bn.clone_from(&item.name_bn);
                }
            }
            None => home.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_found_in_text_however_written() {
        for text in [
            "01712345678",
            "call 017 1234 5678",
            "২ কেজি চাল ০১৭১২৩৪৫৬৭৮",
            "+880 1712-345678 karim",
        ] {
            assert!(contains_phone_number(text), "{text}");
        }
        for text in ["2 kg rice", "rice 2 01712345678901", "house 7 road 12", "12345678901"] {
            assert!(!contains_phone_number(text), "{text}");
        }
    }

    #[test]
    fn normalises_and_masks_bangladeshi_mobiles() {
        let phone = PhoneNumber::new("017-1234 5678").expect("valid");
        assert_eq!(phone.as_e164(), "+8801712345678");
        assert_eq!(PhoneNumber::new("+8801712345678"), Ok(phone.clone()));
        // As a Bangla keyboard types it.
        assert_eq!(PhoneNumber::new("০১৭১২-৩৪৫৬৭৮"), Ok(phone.clone()));
        assert_eq!(PhoneNumber::new("+৮৮০১৭১২৩৪৫৬৭৮"), Ok(phone.clone()));
        assert_eq!(phone.masked(), "+88017*****678");
        assert!(!format!("{phone:?} {phone}").contains("12345"));
        for bad in ["", "0171234567", "01212345678", "+4915112345678", "01712x45678"] {
            assert_eq!(PhoneNumber::new(bad), Err(InvalidPhone), "{bad}");
        }
    }
}
