//! Validation of names and values that come from users, with errors that
//! name the field, the value and the rule.

use crate::error::ApiErr;

/// Coder's name rule: 1-32 characters, lowercase letters, digits and
/// single hyphens, starting and ending with a letter or digit.
pub fn name(field: &str, value: &str) -> Result<(), ApiErr> {
    let rule = "must be 1-32 lowercase letters, digits or hyphens, starting and ending with a letter or digit";
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(ApiErr::invalid(field, format!("{value:?} {rule}")))
    }
}

/// Documented maximum lengths of string fields, in bytes (names: 32;
/// schedules: [`dayshift_schedule::MAX_SCHEDULE_LENGTH`]; template paths:
/// `dayshift_provisioner::bundle`).
pub const MAX_EMAIL: usize = 254;
pub const MAX_PASSWORD_CHARS: usize = 256;
/// A template or version given by name or id (ids are 36-byte UUIDs).
pub const MAX_REFERENCE: usize = 64;
pub const MAX_PARAMETERS: usize = 64;
pub const MAX_PARAMETER_NAME: usize = 64;
pub const MAX_PARAMETER_VALUE: usize = 4096;
/// Durations such as `90m` in request bodies.
pub const MAX_DURATION_TEXT: usize = 64;

/// A string field of at most `max` bytes.
pub fn max_len(field: &str, value: &str, max: usize) -> Result<(), ApiErr> {
    if value.len() <= max {
        Ok(())
    } else {
        Err(ApiErr::invalid(
            field,
            format!("is {} bytes long; the limit is {max}", value.len()),
        ))
    }
}

/// An address with a local part, an `@` and a dotted domain; no spaces or
/// control characters (a CR/LF in an address is a header injection waiting
/// for the first mail sent to it).
pub fn email(value: &str) -> Result<(), ApiErr> {
    max_len("email", value, MAX_EMAIL)?;
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiErr::invalid(
            "email",
            format!("{value:?} must not contain spaces or control characters"),
        ));
    }
    let ok = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.contains('@')
    });
    if ok {
        Ok(())
    } else {
        Err(ApiErr::invalid(
            "email",
            format!("{value:?} is not an email address"),
        ))
    }
}

/// Build parameters: at most [`MAX_PARAMETERS`] entries, names and values
/// bounded (values reach scripts as environment variables).
pub fn parameters(
    field: &str,
    parameters: &std::collections::BTreeMap<String, String>,
) -> Result<(), ApiErr> {
    if parameters.len() > MAX_PARAMETERS {
        return Err(ApiErr::invalid(
            field,
            format!(
                "{} parameters; the limit is {MAX_PARAMETERS}",
                parameters.len()
            ),
        ));
    }
    for (name, value) in parameters {
        max_len(&format!("{field}.{name}"), name, MAX_PARAMETER_NAME)?;
        max_len(&format!("{field}.{name}"), value, MAX_PARAMETER_VALUE)?;
        if value.contains('\0') {
            return Err(ApiErr::invalid(
                &format!("{field}.{name}"),
                "must not contain a NUL byte",
            ));
        }
    }
    Ok(())
}

pub fn password(value: &str) -> Result<(), ApiErr> {
    let len = value.chars().count();
    if (8..=MAX_PASSWORD_CHARS).contains(&len) {
        Ok(())
    } else {
        Err(ApiErr::invalid(
            "password",
            format!("must be 8-256 characters long, got {len}"),
        ))
    }
}

/// A duration in milliseconds from a JSON body: non-negative and at most
/// `max_days` days.
pub fn duration_ms(
    field: &str,
    ms: i64,
    max_days: i64,
) -> Result<dayshift_schedule::SignedDuration, ApiErr> {
    let max = max_days * 24 * 3_600_000;
    if ms < 0 || ms > max {
        return Err(ApiErr::invalid(
            field,
            format!("{ms} ms is out of range: must be between 0 and {max} ({max_days}d)"),
        ));
    }
    Ok(dayshift_schedule::SignedDuration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for ok in ["a", "dev", "my-ws-2", "x".repeat(32).as_str()] {
            assert!(name("name", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Dev",
            "-a",
            "a-",
            "a--b",
            "a b",
            "a_b",
            &"x".repeat(33),
            "ä",
        ] {
            let err = name("name", bad).unwrap_err();
            assert!(err.body.message.contains("invalid name"), "{bad}");
            assert_eq!(err.body.validations[0].field, "name");
        }
    }

    #[test]
    fn durations_are_bounded() {
        assert!(duration_ms("ttl_ms", -1, 30).is_err());
        assert!(duration_ms("ttl_ms", 0, 30).is_ok());
        let err = duration_ms("ttl_ms", 31 * 86_400_000, 30).unwrap_err();
        assert!(err.body.message.contains("ttl_ms"), "{}", err.body.message);
    }

    #[test]
    fn emails_and_passwords() {
        assert!(email("a@example.com").is_ok());
        assert!(email("nope").is_err());
        for hostile in [
            "a\0@example.com",
            "a@example.com\r\nBcc: x@y.z",
            "a\u{7}@example.com",
            "a b@example.com",
        ] {
            let err = email(hostile).unwrap_err();
            assert_eq!(err.body.validations[0].field, "email", "{hostile:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(email(&long)
            .unwrap_err()
            .body
            .message
            .contains("the limit is 254"));
        assert!(password("short").is_err());
        assert!(password("long-enough").is_ok());
    }
}
