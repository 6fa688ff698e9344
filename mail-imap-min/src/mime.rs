//! Message structure for FETCH and SEARCH: ENVELOPE, BODYSTRUCTURE, body
//! sections. MIME parsing is `mail-parser`'s; this module maps its parts to
//! IMAP part numbers and writes the IMAP syntax.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mail_parser::{Address, GetHeader, HeaderName, HeaderValue, Message, MessageParser, PartType};
use mail_proto::push_decimal;

use crate::parse::{Section, SectionText};
use crate::reply::{nstring, string};

/// A message handed over by the caller, parsed once for all its FETCH items.
pub(crate) struct Parsed<'x> {
    raw: &'x [u8],
    msg: Option<Message<'x>>,
}

impl<'x> Parsed<'x> {
    pub(crate) fn new(raw: &'x [u8]) -> Self {
        let msg = MessageParser::default()
            .parse(raw)
            .filter(|m| !m.parts.is_empty());
        Parsed { raw, msg }
    }

    /// The header block of the top-level message (blank line included).
    pub(crate) fn header(&self) -> &'x [u8] {
        let end = header_end(self.raw);
        &self.raw[..end]
    }

    pub(crate) fn text(&self) -> &'x [u8] {
        &self.raw[header_end(self.raw)..]
    }

    pub(crate) fn message(&self) -> Option<&Message<'x>> {
        self.msg.as_ref()
    }

    /// The octets of a section, or `None` when the part does not exist.
    pub(crate) fn section(&self, section: &Section<'_>) -> Option<Vec<u8>> {
        if section.part.is_empty() {
            return Some(match &section.text {
                SectionText::Full => self.raw.to_vec(),
                SectionText::Header => self.header().to_vec(),
                SectionText::Text => self.text().to_vec(),
                SectionText::HeaderFields { not, fields } => header_fields(self.header(), fields, *not),
                SectionText::Mime => return None,
            });
        }
        let msg = self.msg.as_ref()?;
        let (m, idx) = find_part(msg, &section.part)?;
        let part = m.parts.get(idx)?;
        let raw: &[u8] = m.raw_message.as_ref();
        let slice = |a: u32, b: u32| {
            raw.get(a as usize..(b as usize).max(a as usize))
                .unwrap_or_default()
        };
        let body = slice(part.offset_body, part.offset_end);
        Some(match &section.text {
            SectionText::Full => body.to_vec(),
            SectionText::Mime => slice(part.offset_header, part.offset_body).to_vec(),
            text => {
                // HEADER / TEXT / HEADER.FIELDS of a message/rfc822 part.
                let PartType::Message(_) = &part.body else {
                    return None;
                };
                let end = header_end(body);
                match text {
                    SectionText::Header => body[..end].to_vec(),
                    SectionText::Text => body[end..].to_vec(),
                    SectionText::HeaderFields { not, fields } => header_fields(&body[..end], fields, *not),
                    _ => return None,
                }
            }
        })
    }
}

/// Offset just past the header block's terminating blank line (or the end).
pub(crate) fn header_end(raw: &[u8]) -> usize {
    let mut pos = 0;
    while pos < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..line_end];
        if line == b"\r\n" || line == b"\n" {
            return line_end;
        }
        pos = line_end;
    }
    raw.len()
}

/// Split a header block into (name, raw value with folding) pairs; each
/// item also gives the field's full raw bytes.
pub(crate) fn fields(header: &[u8]) -> Vec<(&[u8], &[u8], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let start = pos;
        // A field runs until a line that does not start with WSP.
        loop {
            let line_end = memchr::memchr(b'\n', &header[pos..]).map_or(header.len(), |i| pos + i + 1);
            pos = line_end;
            if pos >= header.len() || !matches!(header[pos], b' ' | b'\t') {
                break;
            }
        }
        let field = &header[start..pos];
        if field == b"\r\n" || field == b"\n" {
            break;
        }
        if let Some(colon) = memchr::memchr(b':', field) {
            let name = trim(&field[..colon]);
            out.push((name, &field[colon + 1..], field));
        }
    }
    out
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// Unfold and trim a raw header value.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    trim(value)
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect()
}

/// The first field `name` of a header block, unfolded.
pub(crate) fn field_value(header: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    fields(header)
        .into_iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v, _)| unfold(v))
}

/// HEADER.FIELDS (NOT): matching fields verbatim, then the blank line.
fn header_fields(header: &[u8], names: &[std::borrow::Cow<'_, [u8]>], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, _, field) in fields(header) {
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if listed != not {
            out.extend_from_slice(field);
            if !field.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Resolve an IMAP part number to (message holding it, index in its parts).
fn find_part<'m, 'x>(msg: &'m Message<'x>, path: &[u32]) -> Option<(&'m Message<'x>, usize)> {
    let mut m = msg;
    let mut idx = 0usize;
    let mut at_root = true;
    for &n in path {
        let mut part = m.parts.get(idx)?;
        if !at_root {
            if let PartType::Message(nested) = &part.body {
                m = nested;
                idx = 0;
                at_root = true;
                part = m.parts.first()?;
            }
        }
        match &part.body {
            PartType::Multipart(children) => {
                idx = *children.get((n as usize).checked_sub(1)?)? as usize;
                at_root = false;
            }
            _ if at_root && n == 1 => at_root = false,
            _ => return None,
        }
    }
    Some((m, idx))
}

/// Write an RFC 2047 encoded word when `s` is not plain ASCII.
fn header_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) if s.is_ascii() => string(out, s.as_bytes()),
        Some(s) => {
            let encoded = format!("=?utf-8?b?{}?=", STANDARD.encode(s));
            string(out, encoded.as_bytes());
        }
        None => out.extend_from_slice(b"NIL"),
    }
}

fn address(out: &mut Vec<u8>, name: Option<&str>, address: Option<&str>) {
    out.push(b'(');
    header_text(out, name);
    out.extend_from_slice(b" NIL ");
    match address.and_then(|a| a.rsplit_once('@')) {
        Some((local, host)) => {
            string(out, local.as_bytes());
            out.push(b' ');
            string(out, host.as_bytes());
        }
        None => {
            nstring(out, address.map(str::as_bytes));
            out.extend_from_slice(b" NIL");
        }
    }
    out.push(b')');
}

fn address_list(out: &mut Vec<u8>, addr: Option<&Address<'_>>) {
    let Some(addr) = addr else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let start = out.len();
    out.push(b'(');
    match addr {
        Address::List(list) => {
            for a in list {
                address(out, a.name.as_deref(), a.address.as_deref());
            }
        }
        Address::Group(groups) => {
            for g in groups {
                // A named group: (NIL NIL "name" NIL) members (NIL NIL NIL NIL).
                if let Some(name) = g.name.as_deref() {
                    out.extend_from_slice(b"(NIL NIL ");
                    header_text(out, Some(name));
                    out.extend_from_slice(b" NIL)");
                }
                for a in &g.addresses {
                    address(out, a.name.as_deref(), a.address.as_deref());
                }
                if g.name.is_some() {
                    out.extend_from_slice(b"(NIL NIL NIL NIL)");
                }
            }
        }
    }
    if out.len() == start + 1 {
        out.truncate(start);
        out.extend_from_slice(b"NIL");
    } else {
        out.push(b')');
    }
}

/// ENVELOPE of a message (`raw_header` is its header block).
pub(crate) fn envelope(out: &mut Vec<u8>, msg: Option<&Message<'_>>, raw_header: &[u8]) {
    let raw = |name: &[u8]| field_value(raw_header, name).filter(|v| !v.is_empty());
    out.push(b'(');
    nstring(out, raw(b"Date").as_deref());
    out.push(b' ');
    nstring(out, raw(b"Subject").as_deref());
    let get = |h: HeaderName<'static>| {
        msg.and_then(|m| m.header(h))
            .and_then(HeaderValue::as_address)
            .filter(|a| a.first().is_some())
    };
    let from = get(HeaderName::From);
    for addr in [
        from,
        get(HeaderName::Sender).or(from),
        get(HeaderName::ReplyTo).or(from),
        get(HeaderName::To),
        get(HeaderName::Cc),
        get(HeaderName::Bcc),
    ] {
        out.push(b' ');
        address_list(out, addr);
    }
    out.push(b' ');
    nstring(out, raw(b"In-Reply-To").as_deref());
    out.push(b' ');
    nstring(out, raw(b"Message-ID").as_deref());
    out.push(b')');
}

/// BODYSTRUCTURE (`extended`) or BODY of a whole message.
pub(crate) fn body_structure(out: &mut Vec<u8>, parsed: &Parsed<'_>, extended: bool) {
    match parsed.message() {
        Some(msg) => part_structure(out, msg, 0, extended, 0),
        None => {
            // Unparsable: describe it as plain text.
            out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" ");
            push_decimal(out, parsed.text().len() as u64);
            out.push(b' ');
            push_decimal(out, count_lines(parsed.text()));
            out.push(b')');
        }
    }
}

/// Text lines: line ends, plus a last line without one.
fn count_lines(s: &[u8]) -> u64 {
    let n = memchr::memchr_iter(b'\n', s).count() as u64;
    n + u64::from(!s.is_empty() && !s.ends_with(b"\n"))
}

fn upper_string(out: &mut Vec<u8>, s: &str) {
    string(out, s.to_ascii_uppercase().as_bytes());
}

const MAX_DEPTH: usize = 32;

fn part_structure(out: &mut Vec<u8>, m: &Message<'_>, idx: usize, extended: bool, depth: usize) {
    let Some(part) = m.parts.get(idx) else {
        out.extend_from_slice(b"NIL");
        return;
    };
    let raw: &[u8] = m.raw_message.as_ref();
    let ctype = part
        .headers
        .header(HeaderName::ContentType)
        .and_then(|h| h.value.as_content_type());
    let mime_header = raw
        .get(part.offset_header as usize..(part.offset_body as usize).max(part.offset_header as usize))
        .unwrap_or_default();
    let disposition = part
        .headers
        .header(HeaderName::ContentDisposition)
        .and_then(|h| h.value.as_content_type());
    let params = |out: &mut Vec<u8>, ct: Option<&mail_parser::ContentType<'_>>, default_charset: bool| {
        let attrs = ct.and_then(|c| c.attributes.as_ref()).filter(|a| !a.is_empty());
        match attrs {
            Some(attrs) => {
                out.push(b'(');
                for (i, a) in attrs.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    upper_string(out, &a.name);
                    out.push(b' ');
                    header_text(out, Some(&a.value));
                }
                out.push(b')');
            }
            None if default_charset => out.extend_from_slice(b"(\"CHARSET\" \"US-ASCII\")"),
            None => out.extend_from_slice(b"NIL"),
        }
    };
    let ext_tail = |out: &mut Vec<u8>| {
        out.push(b' ');
        match disposition {
            Some(d) => {
                out.push(b'(');
                upper_string(out, &d.c_type);
                out.push(b' ');
                params(out, Some(d), false);
                out.push(b')');
            }
            None => out.extend_from_slice(b"NIL"),
        }
        out.extend_from_slice(b" NIL NIL");
    };
    out.push(b'(');
    if let PartType::Multipart(children) = &part.body {
        if depth < MAX_DEPTH {
            for &child in children {
                part_structure(out, m, child as usize, extended, depth + 1);
            }
        }
        if children.is_empty() || depth >= MAX_DEPTH {
            out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
        }
        out.push(b' ');
        upper_string(out, ctype.and_then(|c| c.c_subtype.as_deref()).unwrap_or("MIXED"));
        if extended {
            out.push(b' ');
            params(out, ctype, false);
            ext_tail(out);
        }
        out.push(b')');
        return;
    }
    let (t, st) = match ctype {
        Some(c) => (c.c_type.as_ref(), c.c_subtype.as_deref().unwrap_or("")),
        None => ("text", "plain"),
    };
    let body = raw
        .get(part.offset_body as usize..(part.offset_end as usize).max(part.offset_body as usize))
        .unwrap_or_default();
    upper_string(out, t);
    out.push(b' ');
    upper_string(out, st);
    out.push(b' ');
    params(out, ctype, ctype.is_none());
    out.push(b' ');
    nstring(out, field_value(mime_header, b"Content-ID").as_deref());
    out.push(b' ');
    nstring(out, field_value(mime_header, b"Content-Description").as_deref());
    out.push(b' ');
    let cte = field_value(mime_header, b"Content-Transfer-Encoding")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| b"7BIT".to_vec());
    string(out, &cte.to_ascii_uppercase());
    out.push(b' ');
    push_decimal(out, body.len() as u64);
    if let PartType::Message(nested) = &part.body {
        if t.eq_ignore_ascii_case("message") && depth < MAX_DEPTH {
            out.push(b' ');
            let nested_raw: &[u8] = nested.raw_message.as_ref();
            let root = nested.parts.first();
            let header = root
                .and_then(|r| nested_raw.get(r.offset_header as usize..r.offset_body as usize))
                .unwrap_or_default();
            envelope(out, Some(nested), header);
            out.push(b' ');
            part_structure(out, nested, 0, extended, depth + 1);
            out.push(b' ');
            push_decimal(out, count_lines(body));
        }
    } else if t.eq_ignore_ascii_case("text") {
        out.push(b' ');
        push_decimal(out, count_lines(body));
    }
    if extended {
        out.extend_from_slice(b" NIL");
        ext_tail(out);
    }
    out.push(b')');
}

/// Case-insensitive (ASCII) substring search.
pub(crate) fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > haystack.len() {
        return false;
    }
    let first = needle[0].to_ascii_lowercase();
    let first_up = needle[0].to_ascii_uppercase();
    haystack
        .windows(needle.len())
        .any(|w| (w[0] == first || w[0] == first_up) && w.eq_ignore_ascii_case(needle))
}

/// Whether any decoded text of the message body contains `needle`.
pub(crate) fn body_contains(parsed: &Parsed<'_>, needle: &[u8]) -> bool {
    match parsed.message() {
        Some(msg) => {
            msg.parts.iter().any(|p| match &p.body {
                PartType::Text(t) | PartType::Html(t) => contains_ci(t.as_bytes(), needle),
                _ => false,
            }) || contains_ci(parsed.text(), needle)
        }
        None => contains_ci(parsed.text(), needle),
    }
}

/// Whether header `name` contains `needle` (raw or decoded form).
pub(crate) fn header_contains(parsed: &Parsed<'_>, name: &[u8], needle: &[u8]) -> bool {
    let header = parsed.header();
    let raw_hit = fields(header)
        .into_iter()
        .any(|(n, v, _)| n.eq_ignore_ascii_case(name) && contains_ci(&unfold(v), needle));
    if raw_hit {
        return true;
    }
    let Some(msg) = parsed.message() else { return false };
    let Ok(name) = std::str::from_utf8(name) else {
        return false;
    };
    msg.headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .any(|h| match &h.value {
            HeaderValue::Text(t) => contains_ci(t.as_bytes(), needle),
            HeaderValue::TextList(l) => l.iter().any(|t| contains_ci(t.as_bytes(), needle)),
            HeaderValue::Address(a) => a.iter().any(|addr| {
                addr.name
                    .as_deref()
                    .is_some_and(|n| contains_ci(n.as_bytes(), needle))
                    || addr
                        .address
                        .as_deref()
                        .is_some_and(|n| contains_ci(n.as_bytes(), needle))
            }),
            _ => false,
        })
}

/// The Date: header as days since the epoch (in the header's own zone, as RFC 3501 says).
pub(crate) fn sent_day(parsed: &Parsed<'_>) -> Option<i64> {
    let d = parsed.message()?.date()?;
    Some(crate::store::days_from_civil(
        i64::from(d.year),
        u32::from(d.month),
        u32::from(d.day),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: Ned Freed <ned@example.com>\r\nTo: a@b.example, \"Joe Q.\" <joe@c.example>\r\nSubject: Hello\r\n there\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@x>\r\n\r\nBody line 1\r\nline 2\r\n";

    const MULTI: &[u8] = b"From: a@b.example\r\nSubject: multi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\nAAEC\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: c@d.example\r\n\r\ninner body\r\n--XX--\r\n";

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn envelope_simple() {
        let p = Parsed::new(SIMPLE);
        let mut out = Vec::new();
        envelope(&mut out, p.message(), p.header());
        assert_eq!(
            s(out),
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"Hello there\" ((\"Ned Freed\" NIL \"ned\" \"example.com\")) \
             ((\"Ned Freed\" NIL \"ned\" \"example.com\")) ((\"Ned Freed\" NIL \"ned\" \"example.com\")) \
             ((NIL NIL \"a\" \"b.example\")(\"Joe Q.\" NIL \"joe\" \"c.example\")) NIL NIL NIL \"<1@x>\")"
        );
    }

    #[test]
    fn sections_simple() {
        let p = Parsed::new(SIMPLE);
        let sec = |part: Vec<u32>, text| p.section(&Section { part, text }).map(s);
        assert_eq!(
            sec(vec![], SectionText::Text).unwrap(),
            "Body line 1\r\nline 2\r\n"
        );
        assert!(sec(vec![], SectionText::Header)
            .unwrap()
            .ends_with("<1@x>\r\n\r\n"));
        assert_eq!(
            sec(vec![1], SectionText::Full).unwrap(),
            "Body line 1\r\nline 2\r\n"
        );
        assert_eq!(sec(vec![2], SectionText::Full), None);
        let fields = SectionText::HeaderFields {
            not: false,
            fields: vec![b"subject".as_slice().into(), b"TO".as_slice().into()],
        };
        assert_eq!(
            sec(vec![], fields).unwrap(),
            "To: a@b.example, \"Joe Q.\" <joe@c.example>\r\nSubject: Hello\r\n there\r\n\r\n"
        );
        let not = SectionText::HeaderFields {
            not: true,
            fields: vec![
                b"subject".as_slice().into(),
                b"to".as_slice().into(),
                b"date".as_slice().into(),
            ],
        };
        assert_eq!(
            sec(vec![], not).unwrap(),
            "From: Ned Freed <ned@example.com>\r\nMessage-ID: <1@x>\r\n\r\n"
        );
    }

    #[test]
    fn multipart_structure_and_parts() {
        let p = Parsed::new(MULTI);
        let mut out = Vec::new();
        body_structure(&mut out, &p, true);
        let bs = s(out);
        assert!(
            bs.starts_with(
                "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)"
            ),
            "{bs}"
        );
        assert!(bs.contains("(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 4 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a.bin\")) NIL NIL)"), "{bs}");
        assert!(
            bs.contains("(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" "),
            "{bs}"
        );
        assert!(bs.contains("\"inner\""), "{bs}");
        assert!(
            bs.ends_with(" \"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL)"),
            "{bs}"
        );
        let sec = |part: Vec<u32>, text| p.section(&Section { part, text }).map(s);
        assert_eq!(sec(vec![1], SectionText::Full).unwrap(), "hello");
        assert_eq!(sec(vec![2], SectionText::Full).unwrap(), "AAEC");
        assert!(sec(vec![2], SectionText::Mime)
            .unwrap()
            .starts_with("Content-Type: application/octet-stream"));
        assert_eq!(
            sec(vec![3], SectionText::Header).unwrap(),
            "Subject: inner\r\nFrom: c@d.example\r\n\r\n"
        );
        assert_eq!(sec(vec![3], SectionText::Text).unwrap(), "inner body");
        assert_eq!(sec(vec![3, 1], SectionText::Full).unwrap(), "inner body");
        assert_eq!(sec(vec![1], SectionText::Header), None);
        assert_eq!(sec(vec![4], SectionText::Full), None);
        let mut out = Vec::new();
        body_structure(&mut out, &p, false);
        assert!(!s(out).contains("BOUNDARY"));
    }

    #[test]
    fn search_helpers() {
        let p = Parsed::new(SIMPLE);
        assert!(header_contains(&p, b"subject", b"HELLO THERE"));
        assert!(header_contains(&p, b"From", b"ned@example"));
        assert!(!header_contains(&p, b"Cc", b"a"));
        assert!(body_contains(&p, b"LINE 2"));
        assert!(!body_contains(&p, b"line 3"));
        assert_eq!(sent_day(&p), Some(crate::store::days_from_civil(1994, 2, 7)));
    }

    #[test]
    fn garbage_does_not_panic() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"no header",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n",
        ] {
            let p = Parsed::new(raw);
            let mut out = Vec::new();
            body_structure(&mut out, &p, true);
            envelope(&mut out, p.message(), p.header());
            let _ = p.section(&Section {
                part: vec![1, 1, 1],
                text: SectionText::Mime,
            });
        }
    }
}
