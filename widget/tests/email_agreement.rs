//! The `shared` email rule against Chromium's own `<input type=email required>` `checkValidity()`, for
//! several hundred strings: valid, invalid, and edge cases (dots, plus, quotes, IP literals, IDN,
//! whitespace, every printable ASCII character in both parts, and the length limits). Two verdicts are ours
//! alone, each with its own code: over RFC 5321's lengths (`too_long`) and a domain without a dot
//! (`email_domain_incomplete`); for everything else Chromium and the rule agree exactly.
#![cfg(target_arch = "wasm32")]

use shared::email;
use shared::Code;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::HtmlInputElement;

wasm_bindgen_test_configure!(run_in_browser);

fn cases() -> Vec<String> {
    let mut v: Vec<String> = [
        "name@example.com",
        "a@b",
        "first.last@example.co.uk",
        "first+tag@example.com",
        "x@localhost",
        ".dot@example.com",
        "dot.@example.com",
        "do..ts@example.com",
        "a@b.c.d.e.f.g",
        "1234567890@example.com",
        "user@sub-domain.example.com",
        "user@123.example",
        "user@1.2.3.4",
        "user@xn--bcher-kva.de",
        "\"quoted\"@example.com",
        "\"a b\"@example.com",
        "user@[127.0.0.1]",
        "user@[IPv6:::1]",
        "jörg@example.de",
        "user@bücher.de",
        "用户@例子.广告",
        "user@example.com\u{a0}",
        "user@exämple.com",
        "",
        " ",
        "@",
        "@example.com",
        "user@",
        "user@@example.com",
        "user@exa@mple.com",
        "us er@example.com",
        "user@exa mple.com",
        "user@-example.com",
        "user@example-.com",
        "user@example..com",
        "user@.example.com",
        "user@example.com.",
        "user.example.com",
        "user@example_com",
        "user@ex_ample.com",
        "user(comment)@example.com",
        "user@example.com (comment)",
        "<user@example.com>",
        "user@example.com>",
        "user;x@example.com",
        "user,x@example.com",
        "user\\x@example.com",
        "user@example.c",
        "u@e.co",
        "-@example.com",
        "_@example.com",
        "~@example.com",
        "user@EXAMPLE.COM",
        "USER@example.com",
        "user@ex--ample.com",
        "user@e.x.a.m.p.l.e",
        " user@example.com",
        "user@example.com ",
        "\tuser@example.com\t",
        "\nuser@example.com",
        "user@exa\nmple.com",
        "user@exa\rmple.com",
        "user\r\n@example.com",
        "user@example.com\n",
        "\u{feff}user@example.com",
        "user@example.com\u{0}",
        "user@\u{0}example.com",
        "user@example.123",
        "user@123",
        "a@b-c",
        "a@-",
        "a@b.-c",
        "someone@localhost",
        "a@intranet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every printable ASCII character (and a few beyond) in the local part and in the domain.
    let mut chars: Vec<char> = (0x20u8..0x7f).map(char::from).collect();
    chars.extend(['\u{7f}', 'é', 'ß', '\u{200b}', '\u{2028}', '😀']);
    for c in chars {
        v.push(format!("a{c}b@example.com"));
        v.push(format!("ab@exa{c}mple.com"));
        v.push(format!("ab{c}@example.com"));
    }
    // Lengths around the limits: local part 63/64/65, label 63/64, address 253/254/255.
    for n in [1, 63, 64, 65, 100] {
        v.push(format!("{}@example.com", "a".repeat(n)));
    }
    for n in [62, 63, 64] {
        v.push(format!("a@{}.de", "b".repeat(n)));
    }
    let domain = |extra: usize| format!("{}.{}.{}.{}", "b".repeat(63), "c".repeat(63), "d".repeat(63), "e".repeat(59 + extra));
    for extra in 0..3 {
        v.push(format!("a@{}", domain(extra)));
    }
    v
}

#[wasm_bindgen_test]
fn the_shared_rule_agrees_with_chromium() {
    let doc = web_sys::window().unwrap().document().unwrap();
    let input: HtmlInputElement = doc.create_element("input").unwrap().unchecked_into();
    input.set_type("email");
    input.set_required(true);
    doc.body().unwrap().append_child(&input).unwrap();
    let cases = cases();
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    let (mut agreed, mut too_long, mut dotless_count) = (0, 0, 0);
    for raw in &cases {
        input.set_value(raw);
        let browser_value = input.value();
        let browser_valid = input.check_validity();
        let ours = email::sanitize(raw);
        assert_eq!(ours, browser_value, "sanitising {raw:?}");
        let verdict = email::check(&ours);
        let (local, total) = (ours.split('@').next().unwrap_or("").len(), ours.len());
        let dotless = browser_valid && !ours.split('@').nth(1).unwrap_or("").contains('.');
        if dotless && local <= email::MAX_LOCAL && total <= email::MAX_ADDRESS {
            // Valid to Chromium, but no public mail reaches a domain without a dot: our own code.
            assert_eq!(verdict, Err(Code::EmailDomainIncomplete), "{raw:?}");
            dotless_count += 1;
        } else if local <= email::MAX_LOCAL && total <= email::MAX_ADDRESS {
            assert_eq!(verdict.is_ok(), browser_valid, "{raw:?}: shared says {verdict:?}, Chromium says valid={browser_valid}");
            agreed += 1;
        } else if browser_valid {
            assert_eq!(verdict, Err(Code::TooLong), "{raw:?} is valid to Chromium but over RFC 5321's limits");
            too_long += 1;
        } else {
            assert!(verdict.is_err(), "{raw:?}");
        }
    }
    assert!(dotless_count >= 5, "the cases include domains without a dot");
    console_log!("email agreement: {} strings, {agreed} within limits agreed, {too_long} too long, {dotless_count} without a dot in the domain", cases.len());
}
