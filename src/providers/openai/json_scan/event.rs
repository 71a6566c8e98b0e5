//! The stream's side of the single pass: one stream event's JSON text,
//! validated as `serde_json` validates a value it skips (`IgnoredAny`),
//! with where the few members the relay reads are.
//!
//! It may refuse what `serde_json` accepts (nesting past 63 levels), since
//! the caller then takes the exact path; it must never accept what
//! `serde_json` refuses.
//!
//! Unlike the answer's scanner, it walks the event in one loop with its
//! own stack of open containers, and classes string bytes by a table: an
//! event is mostly short strings, where that costs about a third of the
//! recursive scanner's instructions.

/// Where the members the relay reads have their values in a valid event:
/// for each name, the first member of that name at any depth (where a
/// text search for `"name":` finds it), as the offset of its value.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub model: Option<usize>,
    pub error: Option<usize>,
    pub finish_reason: Option<usize>,
    pub usage: Option<usize>,
}

/// Open arrays and objects at most: one bit each in a `u64`. Deeper
/// events (none a provider sends) take the exact path.
const MAX_DEPTH: usize = 64;

/// Classes of a byte inside a string.
const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const CONTROL: u8 = 3;
const NON_ASCII: u8 = 4;

static STRING_CLASS: [u8; 256] = string_classes();

const fn string_classes() -> [u8; 256] {
    let mut table = [PLAIN; 256];
    let mut c = 0;
    while c < 256 {
        table[c] = match c as u8 {
            b'"' => QUOTE,
            b'\\' => BACKSLASH,
            0..=0x1f => CONTROL,
            0x80..=0xff => NON_ASCII,
            _ => PLAIN,
        };
        c += 1;
    }
    table
}

/// `None` when `data` is not one JSON object (surrounding whitespace
/// aside), or is one this pass does not vouch for (see the module's doc).
pub fn scan_event(b: &[u8]) -> Option<Event> {
    let mut found = Event::default();
    let mut non_ascii = false;
    // One bit per open container, the innermost lowest: set for an object.
    let mut objects: u64 = 0;
    let mut depth = 0;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    loop {
        // At a value.
        match *b.get(i)? {
            open @ (b'{' | b'[') => {
                depth += 1;
                if depth >= MAX_DEPTH {
                    return None;
                }
                let object = open == b'{';
                objects = objects << 1 | u64::from(object);
                i = skip_ws(b, i + 1);
                let close = if object { b'}' } else { b']' };
                if b.get(i) != Some(&close) {
                    if object {
                        i = member(b, i, &mut found, &mut non_ascii)?;
                    }
                    continue;
                }
                i += 1;
                depth -= 1;
                objects >>= 1;
            }
            b'"' => i = string_end(b, i + 1, &mut non_ascii)?,
            b't' => i = literal_end(b, i, b"true")?,
            b'f' => i = literal_end(b, i, b"false")?,
            b'n' => i = literal_end(b, i, b"null")?,
            b'-' | b'0'..=b'9' => i = number_end(b, i)?,
            _ => return None,
        }
        // After a value: close containers until one takes another value.
        loop {
            if depth == 0 {
                if skip_ws(b, i) != b.len() {
                    return None;
                }
                // Outside strings the grammar admits only ASCII, so this
                // is the event's whole UTF-8 check.
                if non_ascii {
                    std::str::from_utf8(b).ok()?;
                }
                return Some(found);
            }
            i = skip_ws(b, i);
            let in_object = objects & 1 == 1;
            match (*b.get(i)?, in_object) {
                (b',', true) => {
                    i = member(b, skip_ws(b, i + 1), &mut found, &mut non_ascii)?;
                    break;
                }
                (b',', false) => {
                    i = skip_ws(b, i + 1);
                    break;
                }
                (b'}', true) | (b']', false) => {
                    i += 1;
                    depth -= 1;
                    objects >>= 1;
                }
                _ => return None,
            }
        }
    }
}

/// A member's name at `i`, and the `:` after it: the offset of its value.
/// Notes the value's offset if the name is one the relay reads.
#[inline(always)]
fn member(b: &[u8], i: usize, found: &mut Event, non_ascii: &mut bool) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let end = string_end(b, i + 1, non_ascii)?;
    let value = if b.get(end) == Some(&b':') {
        skip_ws(b, end + 1)
    } else {
        let colon = skip_ws(b, end);
        if b.get(colon) != Some(&b':') {
            return None;
        }
        skip_ws(b, colon + 1)
    };
    // An escaped name has a `\` in its text: it matches none. The length
    // goes first (most names are none of these), then five-byte names are
    // compared as arrays, which compiles to two loads and no `memcmp` call.
    let name = b.get(i + 1..end - 1)?;
    let slot = match name.len() {
        5 => match <[u8; 5]>::try_from(name) {
            Ok(n) if n == *b"model" => &mut found.model,
            Ok(n) if n == *b"error" => &mut found.error,
            Ok(n) if n == *b"usage" => &mut found.usage,
            _ => return Some(value),
        },
        13 if name == b"finish_reason" => &mut found.finish_reason,
        _ => return Some(value),
    };
    slot.get_or_insert(value);
    Some(value)
}

#[inline(always)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Compact JSON has none: one test decides.
    if b.get(i).is_none_or(|&c| c > b' ') {
        return i;
    }
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\t' | b'\r')) {
        i += 1;
    }
    i
}

/// The end (just past the closing `"`) of a string whose text starts at
/// `i`. Escapes are checked as `IgnoredAny` checks them (a `\u` escape
/// needs four hex digits, nothing more).
#[inline(always)]
fn string_end(b: &[u8], mut i: usize, non_ascii: &mut bool) -> Option<usize> {
    loop {
        i = skip_plain(b, i);
        let c = *b.get(i)?;
        if c == b'"' {
            return Some(i + 1);
        }
        match STRING_CLASS[usize::from(c)] {
            PLAIN => i += 1,
            QUOTE => return Some(i + 1),
            BACKSLASH => {
                i += 1;
                match *b.get(i)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                    b'u' => {
                        let digits = b.get(i + 1..i + 5)?;
                        if !digits.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 5;
                    }
                    _ => return None,
                }
            }
            NON_ASCII => {
                *non_ascii = true;
                i += 1;
            }
            _ => return None,
        }
    }
}

/// Moves eight bytes at a time to the first byte of a string's text that
/// is not plain ASCII (or to the last eight bytes, which the caller walks
/// one by one).
#[inline(always)]
fn skip_plain(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(bytes) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        let word = u64::from_le_bytes(word);
        let special = zero_byte(word ^ (ONES * u64::from(b'"')))
            | zero_byte(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH)
            | (word & HIGH);
        if special != 0 {
            // The lowest flagged byte is a true match: borrows only run
            // upwards from a match.
            return i + special.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i
}

#[inline(always)]
fn literal_end(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    let end = i + word.len();
    (b.get(i..end)? == word).then_some(end)
}

/// The end of a number in JSON's grammar, of any size: `IgnoredAny`
/// checks no more (`1e999` passes).
#[inline(always)]
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted_by_serde(text: &[u8]) -> bool {
        serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn notes_the_first_member_of_each_name_at_any_depth() {
        let data = br#" {"a":"\"model\": \"x\"","choices":[{"delta":{"content":"error"},"finish_reason":"stop"}],"model" : "m","x":{"model":"n"},"usage":null} "#;
        let event = scan_event(data).unwrap();
        let at = |slot: Option<usize>| &data[slot.unwrap()..][..3];
        assert_eq!(at(event.model), b"\"m\"");
        assert_eq!(at(event.finish_reason), b"\"st");
        assert_eq!(at(event.usage), b"nul");
        assert_eq!(event.error, None);
        let nested = scan_event(br#"{"x":{"model":"n"},"model":"m"}"#).unwrap();
        assert_eq!(nested.model, Some(14));
        let escaped = scan_event(br#"{"mod\u0065l":"n","\"model":"m"}"#).unwrap();
        assert_eq!(escaped.model, None);
    }

    #[test]
    fn refuses_what_serde_refuses() {
        for bad in [
            &b"{not json"[..],
            b"plain text",
            b"[1]",
            b"\"model\"",
            br#"{"id":"x","choices":["#,
            br#"{"a":1,}"#,
            br#"{"a":[1,]}"#,
            br#"{"a":01}"#,
            br#"{"a":1.}"#,
            br#"{"a":-}"#,
            br#"{"a":1e}"#,
            br#"{"a":"\x"}"#,
            br#"{"a":"\u12"}"#,
            b"{\"a\":\"tab\there\"}",
            br#"{"a":tru}"#,
            br#"{"a":1} x"#,
            br#"{"a":1}{"#,
            br#"{"a" 1}"#,
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\xe2\x82\"}",
            br#"{"a":"\u12G4"}"#,
            br#"{"a":[}"#,
            br#"{"a":{]}"#,
            br#"{"a":1]"#,
            br#"{,}"#,
            br#"{"a":1,"b"}"#,
            br#"{"a"}"#,
            br#"{"a":[1 2]}"#,
        ] {
            assert_eq!(scan_event(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn accepts_what_serde_accepts() {
        for good in [
            &br#"{}"#[..],
            br#" {"a" : [ 1 , -0.5e+3 , 1E999 , true , false , null , "\u00e9\n\"" , { } , [ ] ] } "#,
            "{\"a\":\"caf\u{e9} \u{1f600}\"}".as_bytes(),
            br#"{"a":"\ud83d\ude00","lone":"\ud800"}"#,
            br#"{"a":[[],{},[{}],{"b":[]}]}"#,
            b"{\"a\":1}\r\n",
        ] {
            assert!(accepted_by_serde(good));
            assert!(scan_event(good).is_some(), "{}", String::from_utf8_lossy(good));
        }
    }

    #[test]
    fn agrees_with_serde_on_cut_and_altered_events() {
        let event = br#"{"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"h\u00e9 \"x\"","n":[1.5e3,-2]},"finish_reason":null}],"usage":null}"#;
        let mut checked = 0;
        for end in 0..=event.len() {
            let cut = &event[..end];
            assert!(scan_event(cut).is_none() || accepted_by_serde(cut));
            for replacement in [b'"', b'\\', b'{', b'}', b',', b':', b' ', b'1', b'\n'] {
                if end == event.len() {
                    break;
                }
                let mut altered = event.to_vec();
                altered[end] = replacement;
                if scan_event(&altered).is_some() {
                    assert!(
                        accepted_by_serde(&altered),
                        "{}",
                        String::from_utf8_lossy(&altered)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn refuses_nesting_past_the_limit() {
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(scan_event(deep(62).as_bytes()).is_some());
        assert_eq!(scan_event(deep(63).as_bytes()), None);
    }
}
