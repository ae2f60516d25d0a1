//! The host's boot arguments: the words of the device tree's
//! `/chosen/bootargs` (QEMU's `-append`), separated by blanks, each
//! `key=value` or a bare `key`. [`value`] looks one up (the last word
//! with that key wins, as on Linux's command line); [`api_settings`]
//! reads the management API's words:
//!
//! - `api=off` switches the API off (`api=on`, or no `api` word, leaves it on);
//! - `api.token=TOKEN`: the token every call must present;
//! - `api.ip=A.B.C.D/P` and `api.gw=A.B.C.D`: a static address and
//!   gateway instead of DHCP.
//!
//! Nothing here panics on any input.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::fmt;

#[cfg(test)]
mod tests;

/// The words of `args` as `(key, value)`: a bare word has no value.
pub fn words(args: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    args.split_ascii_whitespace().map(|word| match word.split_once('=') {
        Some((key, value)) => (key, Some(value)),
        None => (word, None),
    })
}

/// The value of the last word `key=VALUE` in `args` (`Some("")` for
/// `key=`); `None` if no such word has a value.
pub fn value<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    words(args).filter(|(k, _)| *k == key).filter_map(|(_, v)| v).last()
}

/// An IPv4 address and prefix length (`10.0.2.15/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    /// The address.
    pub address: [u8; 4],
    /// The prefix length, 0 to 32.
    pub prefix: u8,
}

/// How the management API gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// Asks a DHCP server.
    Dhcp,
    /// `api.ip` and `api.gw`.
    Static {
        /// Its address.
        cidr: Ipv4Cidr,
        /// Where traffic beyond its subnet goes, if anywhere.
        gateway: Option<[u8; 4]>,
    },
}

/// The management API's settings in the boot arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSettings<'a> {
    /// False with `api=off`.
    pub enabled: bool,
    /// `api.token`, if given and not empty.
    pub token: Option<&'a str>,
    /// DHCP unless `api.ip` is given.
    pub addressing: Addressing,
}

/// A boot argument of the API's that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgError<'a> {
    /// The word's key (`api.ip`).
    pub key: &'static str,
    /// Its value as given.
    pub value: &'a str,
    /// What it should be.
    pub expected: &'static str,
}

impl fmt::Display for ArgError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boot argument {}={}: expected {}", self.key, self.value, self.expected)
    }
}

/// Reads the API's words from `args`.
pub fn api_settings(args: &str) -> Result<ApiSettings<'_>, ArgError<'_>> {
    let enabled = match words(args).filter(|(k, _)| *k == "api").last() {
        None | Some((_, Some("on"))) => true,
        Some((_, Some("off"))) => false,
        Some((_, value)) => {
            return Err(ArgError { key: "api", value: value.unwrap_or(""), expected: "on or off" });
        }
    };
    let token = value(args, "api.token").filter(|t| !t.is_empty());
    let gateway = match value(args, "api.gw") {
        Some(gw) => Some(parse_ipv4(gw).ok_or(ArgError { key: "api.gw", value: gw, expected: "A.B.C.D" })?),
        None => None,
    };
    let addressing = match value(args, "api.ip") {
        Some(ip) => Addressing::Static {
            cidr: parse_cidr(ip).ok_or(ArgError { key: "api.ip", value: ip, expected: "A.B.C.D/P with P at most 32" })?,
            gateway,
        },
        None => match value(args, "api.gw") {
            Some(gw) => return Err(ArgError { key: "api.gw", value: gw, expected: "api.ip as well" }),
            None => Addressing::Dhcp,
        },
    };
    Ok(ApiSettings { enabled, token, addressing })
}

/// `A.B.C.D/P`.
pub fn parse_cidr(text: &str) -> Option<Ipv4Cidr> {
    let (address, prefix) = text.split_once('/')?;
    let prefix = parse_decimal(prefix).filter(|p| *p <= 32)?;
    Some(Ipv4Cidr { address: parse_ipv4(address)?, prefix })
}

/// `A.B.C.D`, each part a decimal 0 to 255.
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut parts = text.split('.');
    let mut address = [0u8; 4];
    for octet in &mut address {
        *octet = parse_decimal(parts.next()?)?;
    }
    parts.next().is_none().then_some(address)
}

/// 1 to 3 decimal digits (no sign) that fit a byte.
fn parse_decimal(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
