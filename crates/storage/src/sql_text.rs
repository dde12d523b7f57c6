//! Statement text with literal values, for the statements whose row counts
//! change from batch to batch (see [`crate::clicks`]).

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

/// Statement text with values written in as literals that cannot be read as
/// anything but the value, whatever the server's `sql_mode`: integers as
/// digits, dates and times as quoted digits, text as a hex literal with a
/// character set introducer (`_utf8mb4 X'…'`, no quoting or escaping rules
/// involved). MySQL 8 and MariaDB read all three the same way.
#[derive(Debug)]
pub(crate) struct SqlText(String);

impl SqlText {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self(String::with_capacity(capacity))
    }

    pub(crate) fn raw(&mut self, sql: &str) -> &mut Self {
        self.0.push_str(sql);
        self
    }

    pub(crate) fn comma(&mut self) -> &mut Self {
        self.raw(",")
    }

    pub(crate) fn int(&mut self, value: impl itoa::Integer) -> &mut Self {
        self.raw(itoa::Buffer::new().format(value))
    }

    /// `'YYYY-MM-DD'`, written by hand: `chrono`'s `format` parses its
    /// pattern on every call, which cost a sixth of the worker's CPU here.
    pub(crate) fn date(&mut self, date: NaiveDate) -> &mut Self {
        self.0.push('\'');
        self.push_date(date);
        self.0.push('\'');
        self
    }

    /// `'YYYY-MM-DD hh:mm:ss.ffffff'`.
    pub(crate) fn datetime(&mut self, time: NaiveDateTime) -> &mut Self {
        self.0.push('\'');
        self.push_date(time.date());
        self.0.push(' ');
        self.digits(time.hour(), 2);
        self.0.push(':');
        self.digits(time.minute(), 2);
        self.0.push(':');
        self.digits(time.second(), 2);
        self.0.push('.');
        // A leap second's nanoseconds pass 10⁹; MySQL has no leap seconds.
        self.digits(time.nanosecond().min(999_999_999) / 1_000, 6);
        self.0.push('\'');
        self
    }

    fn push_date(&mut self, date: NaiveDate) {
        // Click dates are validated to years 1000–9999, MySQL's range.
        let year = u32::try_from(date.year()).unwrap_or(0);
        self.digits(year, 4);
        self.0.push('-');
        self.digits(date.month(), 2);
        self.0.push('-');
        self.digits(date.day(), 2);
    }

    /// `value` in decimal, zero-padded to `width` digits.
    fn digits(&mut self, value: u32, width: u32) {
        let mut divisor = 10_u32.pow(width - 1);
        while divisor > 0 {
            self.0.push(char::from(b'0' + (value / divisor % 10) as u8));
            divisor /= 10;
        }
    }

    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        self.0.reserve(12 + text.len() * 2);
        self.0.push_str("_utf8mb4 X'");
        for byte in text.bytes() {
            self.0.push(char::from(HEX[usize::from(byte >> 4)]));
            self.0.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        self.0.push('\'');
        self
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;

    #[test]
    fn literals_are_digits_quoted_times_and_hex_text() {
        let date = NaiveDate::from_ymd_opt(1000, 1, 2).expect("date");
        let time = NaiveDate::from_ymd_opt(9999, 12, 31)
            .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
            .expect("time");
        let mut sql = SqlText::with_capacity(0);
        sql.int(u64::MAX)
            .comma()
            .int(-7_i64)
            .comma()
            .date(date)
            .comma()
            .datetime(time)
            .comma()
            .datetime(date.and_time(NaiveTime::MIN))
            .comma()
            .text("a'\\é")
            .comma()
            .text("");
        assert_eq!(
            sql.as_str(),
            "18446744073709551615,-7,'1000-01-02','9999-12-31 23:59:59.999999',\
             '1000-01-02 00:00:00.000000',_utf8mb4 X'61275CC3A9',_utf8mb4 X''"
        );
    }
}
