//! A validated e-mail address: the only form in which an address given at a stratum login or
//! through the api reaches MySQL or a mail header.
//!
//! The rules are deliberately narrower than RFC 5321: plain ASCII `local@domain`, one `@`, no
//! whitespace, control characters, quotes, angle brackets, commas or semicolons, a dotted
//! domain of letters, digits and hyphens, at most 254 bytes. So a hostile string (CR/LF header
//! injection, a second recipient such as `a@b>,c@d`, 10 kB of text, unicode look-alikes) is
//! refused with a clear reason at the door, and the sender's lettre builder (typed mailboxes)
//! is a second wall behind it.

use std::fmt;

use super::MailError;

/// An address that passed [`EmailAddress::parse`]. `Debug` masks it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";

impl EmailAddress {
    /// Checks `input` (surrounding whitespace is not trimmed: it is refused).
    pub fn parse(input: &str) -> Result<EmailAddress, MailError> {
        let bad = MailError::InvalidAddress;
        if input.len() > 254 {
            return Err(bad("longer than 254 bytes"));
        }
        if !input.is_ascii() {
            return Err(bad("only plain ASCII addresses are accepted"));
        }
        if input.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(bad("contains a space, line break or control character"));
        }
        let mut parts = input.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("must contain exactly one @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before @ must be 1 to 64 characters"));
        }
        if !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
        {
            return Err(bad(
                "the part before @ may hold only letters, digits and !#$%&'*+-/=?^_`{|}~.",
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("misplaced dot before @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("the domain must contain a dot"));
        }
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !labels.iter().all(label_ok) {
            return Err(bad(
                "the domain may hold only letters, digits, hyphens and dots",
            ));
        }
        if input.parse::<lettre::Address>().is_err() {
            return Err(bad("not a valid address"));
        }
        Ok(EmailAddress(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address masked for display: `m***@example.org`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

/// Masks any string that looks like an address: the first character of the local part, `***`,
/// and the domain (`m***@example.org`); `***` when there is no `@`.
pub fn mask(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "me@example.org",
            "first.last+tag@mail.example.co.uk",
            "o'brien@example.org",
            "a_b-c@sub-domain.example.org",
        ] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_hostile_strings() {
        let long = format!("{}@example.org", "a".repeat(10_000));
        for bad in [
            "me@example.org\r\nBcc: victim@example.org",
            "me@example.org\nSubject: x",
            "a@b>,c@d.org",
            "a@b.org,c@d.org",
            "\"a\"@example.org",
            "a\"@example.org",
            "a@b@example.org",
            "mé@example.org",
            "me@exаmple.org",
            "me@example",
            " me@example.org",
            "me@example.org ",
            "<me@example.org>",
            "me;x@example.org",
            "",
            "@example.org",
            "me@",
            long.as_str(),
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masks_all_but_the_first_letter_and_the_domain() {
        assert_eq!(mask("miner@example.org"), "m***@example.org");
        assert_eq!(mask("nothing"), "***");
        let a = EmailAddress::parse("miner@example.org").unwrap();
        assert!(!format!("{a:?}").contains("miner"));
    }
}
