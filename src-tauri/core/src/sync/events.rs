//! A small incremental parser for `text/event-stream` (SSE). Fed raw chunks as they
//! arrive; hostile input (endless lines, huge events, invalid UTF-8) yields errors,
//! not unbounded memory or panics.

/// Longest line or event payload accepted.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `message` when the stream gave no `event:` field.
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// The previous chunk ended in `\r`; a leading `\n` now belongs to it.
    after_cr: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError(pub String);

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes, returning the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(ev) = self.line_done(&line)? {
                        out.push(ev);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_EVENT_BYTES {
                        return Err(SseError(format!(
                            "event-stream line longer than {MAX_EVENT_BYTES} bytes"
                        )));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseError> {
        if line.is_empty() {
            // Blank line: dispatch.
            let event = self.event.take();
            if !self.has_data {
                return Ok(None);
            }
            self.has_data = false;
            let data = std::mem::take(&mut self.data);
            return Ok(Some(SseEvent {
                event: event
                    .filter(|e| !e.is_empty())
                    .unwrap_or_else(|| "message".into()),
                data,
            }));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| SseError("event-stream line is not UTF-8".into()))?;
        if line.starts_with(':') {
            return Ok(None); // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(SseError(format!(
                        "event-stream event larger than {MAX_EVENT_BYTES} bytes"
                    )));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // id / retry / unknown fields: not used by this API.
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_events_split_across_chunks() {
        let mut p = SseParser::new();
        let mut all = Vec::new();
        for chunk in [
            &b"event: chan"[..],
            b"ge\ndata: {\"change_seq\":5}\n",
            b"\n: keep-alive\n\nevent: heartbeat\r\ndata: {\"change_seq\":5}\r\n\r\n",
            b"data: a\ndata: b\n\n",
        ] {
            all.extend(p.feed(chunk).unwrap());
        }
        assert_eq!(
            all,
            vec![
                SseEvent {
                    event: "change".into(),
                    data: "{\"change_seq\":5}".into()
                },
                SseEvent {
                    event: "heartbeat".into(),
                    data: "{\"change_seq\":5}".into()
                },
                SseEvent {
                    event: "message".into(),
                    data: "a\nb".into()
                },
            ]
        );
    }

    #[test]
    fn cr_split_from_lf_across_chunks_is_one_line_end() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: x\r").unwrap().is_empty());
        // "\n" completes the CRLF; the next "\r\n" is the blank line.
        let evs = p.feed(b"\n\r\n").unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].data, "x");
    }

    #[test]
    fn endless_line_is_an_error() {
        let mut p = SseParser::new();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert!(p.feed(&big).is_err());
    }

    #[test]
    fn huge_event_is_an_error() {
        let mut p = SseParser::new();
        let line = format!("data: {}\n", "x".repeat(1000));
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = p.feed(line.as_bytes()) {
                err = Some(e);
                break;
            }
        }
        assert!(err.is_some());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20)) {
            let mut p = SseParser::new();
            for c in chunks {
                let _ = p.feed(&c);
            }
        }

        #[test]
        fn chunking_does_not_change_the_result(split in 0usize..60) {
            let stream = b"event: change\ndata: {\"change_seq\":1}\n\nevent: change\r\ndata: {\"change_seq\":2}\r\n\r\n";
            let split = split.min(stream.len());
            let mut whole = SseParser::new();
            let expected = whole.feed(stream).unwrap();
            let mut parts = SseParser::new();
            let mut got = parts.feed(&stream[..split]).unwrap();
            got.extend(parts.feed(&stream[split..]).unwrap());
            prop_assert_eq!(got, expected);
        }
    }
}
