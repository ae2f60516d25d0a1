use super::*;

#[test]
fn value_takes_the_last_word_with_the_key() {
    let args = "console=ttyAMA0 api.token=first quiet api.token=second";
    assert_eq!(value(args, "api.token"), Some("second"));
    assert_eq!(value(args, "console"), Some("ttyAMA0"));
    assert_eq!(value(args, "quiet"), None);
    assert_eq!(value(args, "api"), None);
    assert_eq!(value("a= b", "a"), Some(""));
}

#[test]
fn value_splits_at_the_first_equals_sign_only() {
    assert_eq!(value("api.token=ab=cd", "api.token"), Some("ab=cd"));
}

#[test]
fn blanks_of_every_kind_separate_words() {
    assert_eq!(value("\tx=1\n\n api.token=t\r\n", "api.token"), Some("t"));
    assert_eq!(words("  ").count(), 0);
}

#[test]
fn no_words_mean_dhcp_on_and_no_token() {
    let s = api_settings("").unwrap();
    assert_eq!(s, ApiSettings { enabled: true, token: None, addressing: Addressing::Dhcp });
}

#[test]
fn api_off_and_on() {
    assert!(!api_settings("api=off").unwrap().enabled);
    assert!(api_settings("api=off api=on").unwrap().enabled);
    assert!(!api_settings("api=on api=off").unwrap().enabled);
    let e = api_settings("api=maybe").unwrap_err();
    assert_eq!((e.key, e.value), ("api", "maybe"));
    assert_eq!(api_settings("api").unwrap_err().value, "");
}

#[test]
fn an_empty_token_is_no_token() {
    assert_eq!(api_settings("api.token=").unwrap().token, None);
    assert_eq!(api_settings("api.token=0123abcd").unwrap().token, Some("0123abcd"));
}

#[test]
fn a_static_address_with_and_without_gateway() {
    let s = api_settings("api.ip=192.168.1.20/24 api.gw=192.168.1.1").unwrap();
    assert_eq!(
        s.addressing,
        Addressing::Static {
            cidr: Ipv4Cidr { address: [192, 168, 1, 20], prefix: 24 },
            gateway: Some([192, 168, 1, 1])
        }
    );
    let s = api_settings("api.ip=10.0.0.2/32").unwrap();
    let cidr = Ipv4Cidr { address: [10, 0, 0, 2], prefix: 32 };
    assert_eq!(s.addressing, Addressing::Static { cidr, gateway: None });
}

#[test]
fn bad_addresses_are_refused_by_name() {
    for bad in ["10.0.2.15", "10.0.2.15/33", "10.0.2/24", "10.0.2.15.1/24", "256.0.0.1/8", "1.2.3.4/", "+1.2.3.4/8",
        "1.2.3.4/+8", "1..3.4/8", "a.b.c.d/8", "0001.2.3.4/8", ""]
    {
        let args = format!("api.ip={bad}");
        let e = api_settings(&args).unwrap_err();
        assert_eq!((e.key, e.value), ("api.ip", bad), "{bad}");
    }
    let e = api_settings("api.ip=10.0.2.15/24 api.gw=10.0.2").unwrap_err();
    assert_eq!((e.key, e.value), ("api.gw", "10.0.2"));
}

#[test]
fn a_gateway_needs_an_address() {
    let e = api_settings("api.gw=10.0.2.2").unwrap_err();
    assert_eq!(e.key, "api.gw");
    assert_eq!(e.expected, "api.ip as well");
}

#[test]
fn errors_name_the_word() {
    let e = api_settings("api.ip=1.2.3.4").unwrap_err();
    assert_eq!(e.to_string(), "boot argument api.ip=1.2.3.4: expected A.B.C.D/P with P at most 32");
}
