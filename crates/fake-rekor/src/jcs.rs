//! RFC 8785 JSON Canonicalization Scheme (JCS) for the values this server
//! builds: objects, arrays, strings, booleans, null and integers.
//!
//! Written here rather than taken from a crate so that the server and the
//! client crate (`crates/rekor`) do not share a canonicalizer: a bug in one
//! is then not mirrored in the other. The subset is exact JCS: object
//! members sorted by the UTF-16 code units of their names, no whitespace,
//! strings escaped as ECMAScript's `JSON.stringify` does (`\"`, `\\`,
//! `\b \f \n \r \t`, other control characters as lowercase `\u00xx`,
//! everything else literal). Integers are written in decimal, which equals
//! ECMAScript's number formatting for magnitudes below 2^53; the entries
//! hold no numbers at all.

use serde_json::Value;

/// The canonical form of `v`, or `None` when it holds a non-integer number
/// (whose ECMAScript formatting this subset does not implement).
pub fn canonical(v: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    write(v, &mut out)?;
    Some(out)
}

fn write(v: &Value, out: &mut Vec<u8>) -> Option<()> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            let text = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.to_string(),
                (None, Some(u)) => u.to_string(),
                (None, None) => return None,
            };
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (name, value)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(name, out);
                out.push(b':');
                write(value, out)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if u32::from(c) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jcs(v: Value) -> String {
        String::from_utf8(canonical(&v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_members_and_drops_whitespace() {
        let v = json!({"b": {"z": "1", "a": [true, null, 3]}, "a": "x", "A": -7});
        assert_eq!(jcs(v), r#"{"A":-7,"a":"x","b":{"a":[true,null,3],"z":"1"}}"#);
    }

    #[test]
    fn sorts_by_utf16_code_units() {
        // RFC 8785 §3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16
        // although its UTF-8 / code point order is after.
        let v = json!({"\u{fb33}": "1", "\u{1f600}": "2", "\r": "3", "1": "4", "\u{80}": "5"});
        assert_eq!(
            jcs(v),
            "{\"\\r\":\"3\",\"1\":\"4\",\"\u{80}\":\"5\",\"\u{1f600}\":\"2\",\"\u{fb33}\":\"1\"}"
        );
    }

    #[test]
    fn escapes_like_ecmascript() {
        let v = json!("\u{1}\u{8}\t\n\u{c}\r\u{1f}\"\\/\u{7f}\u{2028}é");
        assert_eq!(jcs(v), "\"\\u0001\\b\\t\\n\\f\\r\\u001f\\\"\\\\/\u{7f}\u{2028}é\"");
    }

    #[test]
    fn refuses_fractions() {
        assert_eq!(canonical(&json!({"a": 1.5})), None);
    }
}
