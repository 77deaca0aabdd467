//! Days-of-week bitmaps as Coder stores them for template autostart and
//! autostop requirements: bit 0 = Monday ... bit 6 = Sunday. Note the
//! mismatch with cron, where 0 = Sunday; conversions go through
//! [`jiff::civil::Weekday`] so neither numbering leaks.

use crate::error::WeekdaysError;
use jiff::civil::Weekday;
use std::fmt;

/// Days-of-week bitmap, Coder-compatible: bit0 = Monday ... bit6 = Sunday.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Weekdays(pub u8);

const DAYS: [(Weekday, &str, &str); 7] = [
    (Weekday::Monday, "mon", "monday"),
    (Weekday::Tuesday, "tue", "tuesday"),
    (Weekday::Wednesday, "wed", "wednesday"),
    (Weekday::Thursday, "thu", "thursday"),
    (Weekday::Friday, "fri", "friday"),
    (Weekday::Saturday, "sat", "saturday"),
    (Weekday::Sunday, "sun", "sunday"),
];

impl Weekdays {
    pub const ALL: Weekdays = Weekdays(0b0111_1111);
    pub const NONE: Weekdays = Weekdays(0);

    fn bit(d: Weekday) -> u8 {
        1 << d.to_monday_zero_offset()
    }

    pub fn contains(self, d: Weekday) -> bool {
        self.0 & Self::bit(d) != 0
    }

    pub fn with(self, d: Weekday) -> Weekdays {
        Weekdays(self.0 | Self::bit(d))
    }

    pub fn is_empty(self) -> bool {
        self.0 & Self::ALL.0 == 0
    }

    /// Validates a stored bitmap: bit 7 is unused (Coder refuses it with
    /// "last bit is set").
    pub fn from_bits(bits: u8) -> Result<Weekdays, WeekdaysError> {
        if bits & !Self::ALL.0 != 0 {
            return Err(WeekdaysError::LastBitSet(bits));
        }
        Ok(Weekdays(bits))
    }

    /// Parses `"monday,tuesday"`, `"mon,tue"`, ranges `"mon-fri"` (wrapping
    /// `"fri-mon"` = Fri, Sat, Sun, Mon), `"all"`, and `"none"` or `""`.
    /// Case-insensitive; spaces around items are ignored.
    pub fn parse_list(s: &str) -> Result<Weekdays, WeekdaysError> {
        let value = s.trim();
        if value.is_empty() || value.eq_ignore_ascii_case("none") {
            return Ok(Self::NONE);
        }
        if value.eq_ignore_ascii_case("all") {
            return Ok(Self::ALL);
        }
        let lookup = |item: &str| {
            DAYS.iter()
                .find(|(_, short, long)| {
                    item.eq_ignore_ascii_case(short) || item.eq_ignore_ascii_case(long)
                })
                .map(|(d, _, _)| *d)
                .ok_or_else(|| WeekdaysError::UnknownDay {
                    value: value.to_string(),
                    item: item.to_string(),
                })
        };
        let mut out = Self::NONE;
        for item in value.split(',').map(str::trim) {
            match item.split_once('-') {
                Some((a, b)) => {
                    let (mut d, end) = (lookup(a.trim())?, lookup(b.trim())?);
                    out = out.with(d);
                    while d != end {
                        d = d.next();
                        out = out.with(d);
                    }
                }
                None => out = out.with(lookup(item)?),
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Weekdays {
    /// `mon,tue,fri`, Monday first, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = DAYS
            .iter()
            .filter(|(d, _, _)| self.contains(*d))
            .map(|(_, short, _)| *short)
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_monday_first() {
        assert_eq!(Weekdays::parse_list("mon"), Ok(Weekdays(1)));
        assert_eq!(Weekdays::parse_list("Sunday"), Ok(Weekdays(1 << 6)));
        assert!(Weekdays(1).contains(Weekday::Monday));
        assert!(!Weekdays(1).contains(Weekday::Sunday));
        assert!(Weekdays::ALL.contains(Weekday::Sunday));
        assert!(!Weekdays::NONE.contains(Weekday::Monday));
    }

    #[test]
    fn parses_lists_ranges_and_keywords() {
        let cases = [
            ("monday,tuesday", 0b11),
            ("mon,tue", 0b11),
            ("MON, Fri", 0b1_0001),
            ("mon-fri", 0b1_1111),
            ("fri-mon", 0b111_0001),
            ("none", 0),
            ("", 0),
            ("all", 0b111_1111),
            ("sat,sun,sat", 0b110_0000),
        ];
        for (input, bits) in cases {
            assert_eq!(Weekdays::parse_list(input), Ok(Weekdays(bits)), "{input}");
        }
    }

    #[test]
    fn displays_and_round_trips() {
        assert_eq!(Weekdays(0b1_0011).to_string(), "mon,tue,fri");
        assert_eq!(Weekdays::NONE.to_string(), "none");
        for bits in 0..=0x7f {
            let w = Weekdays(bits);
            assert_eq!(Weekdays::parse_list(&w.to_string()), Ok(w));
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Weekdays::parse_list("mon,fryday").unwrap_err().to_string(),
            "invalid days of week \"mon,fryday\": unknown day \"fryday\" \
             (use mon,tue,... or monday,tuesday,..., \"all\" or \"none\")"
        );
        assert_eq!(
            Weekdays::from_bits(0x80).unwrap_err().to_string(),
            "invalid days-of-week bitmap 0b10000000: bit 7 is unused and must be clear"
        );
        assert_eq!(Weekdays::from_bits(0x7f), Ok(Weekdays::ALL));
    }
}
