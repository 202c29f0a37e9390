//! Lenient protojson reading and RFC 8785 (JCS) canonical JSON.

use base64ct::{Base64, Base64Unpadded, Base64Url, Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Decodes protojson `bytes`: standard base64 as Rekor writes it, or the
/// URL-safe and unpadded forms protojson also accepts.
pub(crate) fn b64(s: &str) -> Option<Vec<u8>> {
    Base64::decode_vec(s)
        .or_else(|_| Base64Unpadded::decode_vec(s))
        .or_else(|_| Base64Url::decode_vec(s))
        .or_else(|_| Base64UrlUnpadded::decode_vec(s))
        .ok()
}

/// A protojson `int64`/`uint64`: a decimal string (what protojson writes) or
/// a JSON number (what it also accepts), never negative; `null` is absent.
pub(crate) fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| D::Error::custom(format!("not a u64: {n}")))
        }
        Some(Value::String(s)) => {
            s.parse().map(Some).map_err(|_| D::Error::custom(format!("not a decimal u64: {s:?}")))
        }
        Some(other) => Err(D::Error::custom(format!("not an integer: {other}"))),
    }
}

/// A repeated field: absent or `null` is empty.
pub(crate) fn vec_lenient<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The RFC 8785 canonical form of `v`, or `None` for a non-integer number or
/// an integer beyond 2^53 (their ECMAScript number formatting is not needed
/// for Rekor bodies, which hold only strings and objects).
pub(crate) fn canonical(v: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    write_canonical(v, &mut out)?;
    Some(out)
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Option<()> {
    const MAX_SAFE: u64 = 1 << 53;
    match v {
        Value::Null | Value::Bool(_) => out.extend_from_slice(v.to_string().as_bytes()),
        Value::Number(n) => {
            let safe = n.as_u64().is_some_and(|u| u <= MAX_SAFE)
                || n.as_i64().is_some_and(|i| i.unsigned_abs() <= MAX_SAFE);
            if !safe {
                return None;
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        // serde_json escapes exactly as JCS does: `"`, `\`, and control
        // characters (\b \t \n \f \r short, others \u00xx in lower case).
        Value::String(s) => out.extend_from_slice(Value::String(s.clone()).to_string().as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // JCS sorts member names by their UTF-16 code units.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                out.push(b':');
                write_canonical(v, out)?;
            }
            out.push(b'}');
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jcs_sorts_and_compacts() {
        let v: Value = serde_json::from_str(
            r#"{ "b": [1, true, null], "a": {"y": "\u0001\n\"", "x": "é/"} }"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(canonical(&v).unwrap()).unwrap(),
            r#"{"a":{"x":"é/","y":"\u0001\n\""},"b":[1,true,null]}"#
        );
        // UTF-16 order: U+10000 (D800 DC00) sorts before U+FFFF.
        let v: Value = serde_json::from_str("{\"\u{ffff}\":1,\"\u{10000}\":2}").unwrap();
        assert_eq!(
            String::from_utf8(canonical(&v).unwrap()).unwrap(),
            "{\"\u{10000}\":2,\"\u{ffff}\":1}"
        );
        assert_eq!(canonical(&serde_json::json!(1.5)), None);
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(b64("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(b64("+/8"), Some(vec![0xfb, 0xff]));
        assert_eq!(b64("-_8="), Some(vec![0xfb, 0xff]));
        assert_eq!(b64("*"), None);
    }
}
