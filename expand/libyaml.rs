//! The YAML parser's events, from libyaml (the `unsafe-libyaml` translation that serde_yaml
//! itself runs on). PyYAML's parser is a port of libyaml, so the syntax it accepts and the
//! messages it gives are PyYAML's; what the events mean (types, tags, merges) is decided in
//! [`crate::yaml_reader`], by PyYAML's rules. All the `unsafe` of the program is in this file.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use unsafe_libyaml as yaml_unsafe;

/// A 1-based `(line, column)`.
pub type Pos = (usize, usize);

/// One parser event (stream and document boundaries included).
#[derive(Debug)]
pub enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    /// `*name`.
    Alias(String),
    Scalar(Scalar),
    SequenceStart(Start),
    SequenceEnd,
    MappingStart(Start),
    MappingEnd,
}

/// A scalar as written.
#[derive(Debug)]
pub struct Scalar {
    pub value: String,
    /// Plain (unquoted, not a block scalar): the only style whose type is inferred.
    pub plain: bool,
    /// The resolved tag (`!!int` is `tag:yaml.org,2002:int`), if one was written.
    pub tag: Option<String>,
    pub anchor: Option<String>,
}

/// The start of a collection.
#[derive(Debug)]
pub struct Start {
    pub tag: Option<String>,
    pub anchor: Option<String>,
}

/// A syntax error, as libyaml (and PyYAML) describe it.
pub struct SyntaxError {
    /// `did not find expected ',' or ']', while parsing a flow sequence at line 2 column 14`:
    /// the problem, then its context and where that started (when elsewhere).
    pub msg: String,
    /// Where the problem is, when known.
    pub pos: Option<Pos>,
}

/// Every event of `text`, each with the position where it starts.
pub fn events(text: &str) -> Result<Vec<(Event, Pos)>, SyntaxError> {
    let mut parser = Parser::new(text)?;
    let mut out = Vec::new();
    loop {
        let (event, pos) = parser.next()?;
        let end = matches!(event, Event::StreamEnd);
        out.push((event, pos));
        if end {
            return Ok(out);
        }
    }
}

/// libyaml's parser over `text`, deleted when dropped, on every path out of [`events`].
struct Parser<'a> {
    /// In a Box: libyaml keeps pointers into it, so it never moves once initialized.
    raw: Box<MaybeUninit<yaml_unsafe::yaml_parser_t>>,
    /// The parser reads `text` until it is deleted.
    _text: PhantomData<&'a str>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Parser<'a>, SyntaxError> {
        let mut raw: Box<MaybeUninit<yaml_unsafe::yaml_parser_t>> = Box::new(MaybeUninit::uninit());
        let p = raw.as_mut_ptr();
        // SAFETY: `p` points to memory for a parser, initialized here; the input is `text`,
        // which outlives the parser (the lifetime of `Parser`).
        unsafe {
            if yaml_unsafe::yaml_parser_initialize(p).fail {
                return Err(SyntaxError {
                    msg: "the yaml parser could not start (out of memory)".to_string(),
                    pos: None,
                });
            }
            yaml_unsafe::yaml_parser_set_encoding(p, yaml_unsafe::YAML_UTF8_ENCODING);
            yaml_unsafe::yaml_parser_set_input_string(p, text.as_ptr(), text.len() as _);
        }
        Ok(Parser {
            raw,
            _text: PhantomData,
        })
    }

    /// The next event and where it starts.
    fn next(&mut self) -> Result<(Event, Pos), SyntaxError> {
        let p = self.raw.as_mut_ptr();
        let mut event = MaybeUninit::<yaml_unsafe::yaml_event_t>::uninit();
        let e = event.as_mut_ptr();
        // SAFETY: the parser was initialized (`new`) and is not deleted before drop; the
        // event is read only between a successful yaml_parser_parse and its
        // yaml_event_delete.
        unsafe {
            if yaml_unsafe::yaml_parser_parse(p, e).fail {
                return Err(syntax_error(&*p));
            }
            let converted = convert(&*e);
            let mark = (*e).start_mark;
            yaml_unsafe::yaml_event_delete(e);
            Ok((
                converted,
                (mark.line as usize + 1, mark.column as usize + 1),
            ))
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: the parser was initialized in `new` (a `Parser` exists only then), and is
        // deleted once, here.
        unsafe { yaml_unsafe::yaml_parser_delete(self.raw.as_mut_ptr()) }
    }
}

/// # Safety
/// `e` is an event just returned by yaml_parser_parse, not yet deleted.
unsafe fn convert(e: &yaml_unsafe::yaml_event_t) -> Event {
    unsafe {
        match e.type_ {
            yaml_unsafe::YAML_STREAM_START_EVENT => Event::StreamStart,
            yaml_unsafe::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
            yaml_unsafe::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
            yaml_unsafe::YAML_ALIAS_EVENT => {
                Event::Alias(text(e.data.alias.anchor).unwrap_or_default())
            }
            yaml_unsafe::YAML_SCALAR_EVENT => {
                let s = &e.data.scalar;
                let bytes = std::slice::from_raw_parts(s.value, s.length as usize);
                Event::Scalar(Scalar {
                    value: String::from_utf8_lossy(bytes).into_owned(),
                    plain: s.style == yaml_unsafe::YAML_PLAIN_SCALAR_STYLE,
                    tag: text(s.tag),
                    anchor: text(s.anchor),
                })
            }
            yaml_unsafe::YAML_SEQUENCE_START_EVENT => Event::SequenceStart(Start {
                tag: text(e.data.sequence_start.tag),
                anchor: text(e.data.sequence_start.anchor),
            }),
            yaml_unsafe::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
            yaml_unsafe::YAML_MAPPING_START_EVENT => Event::MappingStart(Start {
                tag: text(e.data.mapping_start.tag),
                anchor: text(e.data.mapping_start.anchor),
            }),
            yaml_unsafe::YAML_MAPPING_END_EVENT => Event::MappingEnd,
            // YAML_STREAM_END_EVENT (and YAML_NO_EVENT, which a successful parse never gives).
            _ => Event::StreamEnd,
        }
    }
}

/// A NUL-terminated string of the parser's, if any.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that lives for the call.
unsafe fn text(p: *const u8) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let c = unsafe { CStr::from_ptr(p.cast()) };
    Some(c.to_string_lossy().into_owned())
}

/// The parser's error, worded as serde_yaml and PyYAML word it.
///
/// # Safety
/// `p` is a parser whose last call failed.
unsafe fn syntax_error(p: &yaml_unsafe::yaml_parser_t) -> SyntaxError {
    let problem = unsafe { text(p.problem.cast()) }.unwrap_or_else(|| "unknown error".into());
    let at = |m: yaml_unsafe::yaml_mark_t| (m.line != 0 || m.column != 0).then_some(m);
    let pos = at(p.problem_mark).map(|m| (m.line as usize + 1, m.column as usize + 1));
    let mut msg = problem;
    if pos.is_none() && p.problem_offset != 0 {
        msg.push_str(&format!(" at position {}", p.problem_offset));
    }
    if let Some(context) = unsafe { text(p.context.cast()) } {
        msg.push_str(&format!(", {context}"));
        let same = p.context_mark.line == p.problem_mark.line
            && p.context_mark.column == p.problem_mark.column;
        if let Some(m) = at(p.context_mark).filter(|_| !same) {
            msg.push_str(&format!(" at line {} column {}", m.line + 1, m.column + 1));
        }
    }
    SyntaxError { msg, pos }
}
