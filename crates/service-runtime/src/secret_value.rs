//! Settings that hold secrets (keys, URLs with credentials): parsed by a
//! function of the caller, and refused with a message that names the
//! variable and the reason but never the value. clap's own "invalid value
//! '…'" message would print it.

use std::ffi::OsStr;

/// A clap value parser around `parse`, whose errors never hold the value.
#[derive(Clone, Copy)]
pub struct SecretValue<T> {
    variable: &'static str,
    parse: fn(&str) -> Result<T, String>,
}

impl<T> SecretValue<T> {
    /// `variable` is the environment variable named in errors.
    pub const fn new(variable: &'static str, parse: fn(&str) -> Result<T, String>) -> Self {
        Self { variable, parse }
    }
}

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for SecretValue<T> {
    type Value = T;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let invalid = |reason: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{}: {reason}\n", self.variable),
            )
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid("is not valid UTF-8".to_owned()))?;
        (self.parse)(text).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn positive(text: &str) -> Result<u8, String> {
        text.parse::<u8>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| "must be a number from 1 to 255".to_owned())
    }

    #[derive(Debug, Parser)]
    struct Settings {
        #[arg(long, value_parser = SecretValue::new("SECRET_NUMBER", positive))]
        secret: u8,
    }

    #[test]
    fn errors_name_the_variable_and_never_the_value() {
        assert_eq!(
            Settings::try_parse_from(["x", "--secret", "7"])
                .expect("valid")
                .secret,
            7
        );
        let error = Settings::try_parse_from(["x", "--secret", "hunter2"])
            .expect_err("invalid")
            .to_string();
        assert!(error.contains("SECRET_NUMBER: must be a number"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
