//! One walk over a pickle's opcodes, before it is decoded: every declared length present,
//! nesting no deeper than [`MAX_DEPTH`], memo references copying no more than
//! [`MAX_EXPANSION`] times the input, and the first class that is not a Python builtin named.
//!
//! The walk simulates the pickle machine's stack with a depth and a size per object; it
//! builds nothing.

use std::collections::HashMap;

/// The deepest nesting decoded.
pub(super) const MAX_DEPTH: u32 = 512;

/// How many values a pickle may hold per input byte once memo references are resolved
/// (plus a constant): refuses a "billion laughs" of nested references.
pub(super) const MAX_EXPANSION: u64 = 16;

/// What the walk found.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    /// `module.name` of the first global other than the builtins serde-pickle rebuilds.
    pub(super) foreign_class: Option<String>,
}

#[derive(Clone, Copy)]
struct Object {
    depth: u32,
    size: u64,
}

enum Slot {
    Mark,
    Object(usize),
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    objects: Vec<Object>,
    stack: Vec<Slot>,
    memo: HashMap<u64, usize>,
    strings: HashMap<usize, String>,
    scanned: Scanned,
    max_size: u64,
}

type Step<T> = std::result::Result<T, String>;

/// Walks `bytes` as a pickle.
///
/// # Errors
/// Why the bytes are refused: not a pickle, cut short, too deep or too expanding.
pub(super) fn scan(bytes: &[u8]) -> Step<Scanned> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let mut m = Machine {
        bytes,
        at: 0,
        objects: Vec::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
        strings: HashMap::new(),
        scanned: Scanned::default(),
        max_size: len.saturating_mul(MAX_EXPANSION).saturating_add(4096),
    };
    m.run()?;
    Ok(m.scanned)
}

impl Machine<'_> {
    fn run(&mut self) -> Step<()> {
        loop {
            let op = self.take(1)?[0];
            match op {
                b'.' => return Ok(()),
                // MARK
                b'(' => self.stack.push(Slot::Mark),
                // POP, POP_MARK, DUP
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_to_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(Slot::Object(top));
                }
                // Scalars with a line argument: FLOAT, INT, LONG, PERSID
                b'F' | b'I' | b'L' | b'P' => {
                    self.line()?;
                    self.scalar();
                }
                // STRING, UNICODE (a line)
                b'S' | b'V' => {
                    let text = self.line()?;
                    let text = String::from_utf8_lossy(text).into_owned();
                    let index = self.scalar();
                    self.remember_string(index, text);
                }
                // BININT, BININT1, BININT2, BINFLOAT, LONG1, LONG4
                b'J' => self.fixed(4)?,
                b'K' => self.fixed(1)?,
                b'M' => self.fixed(2)?,
                b'G' => self.fixed(8)?,
                0x8a => self.sized(1)?,
                0x8b => self.sized(4)?,
                // NONE, NEWTRUE, NEWFALSE, NEXT_BUFFER
                b'N' | 0x88 | 0x89 | 0x97 => {
                    self.scalar();
                }
                // READONLY_BUFFER
                0x98 => {}
                // BINSTRING, SHORT_BINSTRING, BINBYTES, SHORT_BINBYTES, BYTEARRAY8, BINBYTES8
                b'T' | b'B' => self.sized(4)?,
                b'U' | b'C' => self.sized(1)?,
                0x8e | 0x96 => self.sized(8)?,
                // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8: kept for STACK_GLOBAL
                b'X' => self.text(4)?,
                0x8c => self.text(1)?,
                0x8d => self.text(8)?,
                // EMPTY_LIST, EMPTY_DICT, EMPTY_TUPLE, EMPTY_SET
                b']' | b'}' | b')' | 0x8f => {
                    self.push(Object { depth: 1, size: 1 });
                }
                // LIST, TUPLE, DICT, FROZENSET: from the mark
                b'l' | b't' | b'd' | 0x91 => {
                    let items = self.pop_to_mark()?;
                    self.push_container(&items)?;
                }
                // TUPLE1..3
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    self.push_container(&items)?;
                }
                // APPEND, SETITEM, APPENDS, SETITEMS, ADDITEMS, BUILD
                b'a' | b'b' => {
                    let item = self.pop()?;
                    self.extend(&[item])?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.extend(&[key, value])?;
                }
                b'e' | b'u' | 0x90 => {
                    let items = self.pop_to_mark()?;
                    self.extend(&items)?;
                }
                // GLOBAL
                b'c' => {
                    let module = String::from_utf8_lossy(self.line()?).into_owned();
                    let name = String::from_utf8_lossy(self.line()?).into_owned();
                    self.global(&module, &name);
                    self.scalar();
                }
                // STACK_GLOBAL
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let name = self.strings.get(&name).cloned().unwrap_or_default();
                    let module = self.strings.get(&module).cloned().unwrap_or_default();
                    self.global(&module, &name);
                    self.scalar();
                }
                // INST: a class by name, built from the mark
                b'i' => {
                    let module = String::from_utf8_lossy(self.line()?).into_owned();
                    let name = String::from_utf8_lossy(self.line()?).into_owned();
                    self.global(&module, &name);
                    let items = self.pop_to_mark()?;
                    self.push_container(&items)?;
                }
                // OBJ, REDUCE, NEWOBJ, NEWOBJ_EX, BINPERSID
                b'o' => {
                    let items = self.pop_to_mark()?;
                    self.push_container(&items)?;
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.push_container(&[callable, args])?;
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    self.push_container(&[class, args, kwargs])?;
                }
                b'Q' => {
                    self.pop()?;
                    self.scalar();
                }
                // EXT1, EXT2, EXT4: the extension registry (never builtins)
                0x82 => self.extension(1)?,
                0x83 => self.extension(2)?,
                0x84 => self.extension(4)?,
                // PUT, BINPUT, LONG_BINPUT, MEMOIZE
                b'p' => {
                    let id = self.line_number()?;
                    self.put(id)?;
                }
                b'q' => {
                    let id = self.number(1)?;
                    self.put(id)?;
                }
                b'r' => {
                    let id = self.number(4)?;
                    self.put(id)?;
                }
                0x94 => {
                    let id = u64::try_from(self.memo.len()).unwrap_or(u64::MAX);
                    self.put(id)?;
                }
                // GET, BINGET, LONG_BINGET
                b'g' => {
                    let id = self.line_number()?;
                    self.get(id)?;
                }
                b'h' => {
                    let id = self.number(1)?;
                    self.get(id)?;
                }
                b'j' => {
                    let id = self.number(4)?;
                    self.get(id)?;
                }
                // PROTO, FRAME
                0x80 => {
                    let proto = self.take(1)?[0];
                    if proto > 5 {
                        return Err(format!(
                            "pickle protocol {proto} is unknown (0 to 5 are read)"
                        ));
                    }
                }
                0x95 => {
                    self.take(8)?;
                }
                other => return Err(format!("unknown pickle opcode 0x{other:02x}")),
            }
        }
    }

    fn take(&mut self, n: usize) -> Step<&[u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| "the pickle is cut short".to_owned())?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn number(&mut self, n: usize) -> Step<u64> {
        let raw = self.take(n)?;
        Ok(raw
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn line(&mut self) -> Step<&[u8]> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| "the pickle is cut short".to_owned())?;
        self.at += n + 1;
        Ok(&rest[..n])
    }

    fn line_number(&mut self) -> Step<u64> {
        let line = self.line()?;
        std::str::from_utf8(line)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| "a memo index is not a number".to_owned())
    }

    fn fixed(&mut self, n: usize) -> Step<()> {
        self.take(n)?;
        self.scalar();
        Ok(())
    }

    fn sized(&mut self, n: usize) -> Step<()> {
        let len = self.number(n)?;
        let len = usize::try_from(len).map_err(|_| "a declared length is too large".to_owned())?;
        self.take(len)?;
        self.scalar();
        Ok(())
    }

    fn text(&mut self, n: usize) -> Step<()> {
        let len = self.number(n)?;
        let len = usize::try_from(len).map_err(|_| "a declared length is too large".to_owned())?;
        let text = self.take(len)?;
        let text = (len <= 256).then(|| String::from_utf8_lossy(text).into_owned());
        let index = self.scalar();
        if let Some(text) = text {
            self.remember_string(index, text);
        }
        Ok(())
    }

    fn extension(&mut self, n: usize) -> Step<()> {
        let code = self.number(n)?;
        if self.scanned.foreign_class.is_none() {
            self.scanned.foreign_class = Some(format!("copyreg extension {code}"));
        }
        self.scalar();
        Ok(())
    }

    fn remember_string(&mut self, index: usize, text: String) {
        if self.strings.len() < 4096 {
            self.strings.insert(index, text);
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        let builtin = matches!(
            (module, name),
            (
                "builtins" | "__builtin__",
                "set" | "frozenset" | "bytearray" | "list" | "int"
            ) | ("_codecs", "encode")
        );
        if !builtin && self.scanned.foreign_class.is_none() {
            self.scanned.foreign_class = Some(format!("{module}.{name}"));
        }
    }

    fn scalar(&mut self) -> usize {
        self.push(Object { depth: 0, size: 1 })
    }

    fn push(&mut self, object: Object) -> usize {
        let index = self.objects.len();
        self.objects.push(object);
        self.stack.push(Slot::Object(index));
        index
    }

    fn pop(&mut self) -> Step<usize> {
        match self.stack.pop() {
            Some(Slot::Object(index)) => Ok(index),
            _ => Err("the pickle's stack is malformed".to_owned()),
        }
    }

    fn top(&self) -> Step<usize> {
        match self.stack.last() {
            Some(Slot::Object(index)) => Ok(*index),
            _ => Err("the pickle's stack is malformed".to_owned()),
        }
    }

    fn pop_to_mark(&mut self) -> Step<Vec<usize>> {
        let mut items = Vec::new();
        loop {
            match self.stack.pop() {
                Some(Slot::Object(index)) => items.push(index),
                Some(Slot::Mark) => return Ok(items),
                None => return Err("the pickle's stack has no mark".to_owned()),
            }
        }
    }

    fn measure(&self, items: &[usize], mut into: Object) -> Step<Object> {
        for &item in items {
            let child = self.objects[item];
            into.depth = into.depth.max(child.depth.saturating_add(1));
            into.size = into.size.saturating_add(child.size);
        }
        if into.depth > MAX_DEPTH {
            return Err(format!("the pickle nests deeper than {MAX_DEPTH} levels"));
        }
        if into.size > self.max_size {
            return Err(
                "the pickle's memo references expand to far more values than its size".to_owned(),
            );
        }
        Ok(into)
    }

    fn push_container(&mut self, items: &[usize]) -> Step<()> {
        let object = self.measure(items, Object { depth: 1, size: 1 })?;
        self.push(object);
        Ok(())
    }

    fn extend(&mut self, items: &[usize]) -> Step<()> {
        let top = self.top()?;
        let object = self.measure(items, self.objects[top])?;
        self.objects[top] = object;
        Ok(())
    }

    fn put(&mut self, id: u64) -> Step<()> {
        let top = self.top()?;
        if self.memo.len() >= 1 << 20 && !self.memo.contains_key(&id) {
            return Err("the pickle's memo is too large".to_owned());
        }
        self.memo.insert(id, top);
        Ok(())
    }

    fn get(&mut self, id: u64) -> Step<()> {
        let index = *self
            .memo
            .get(&id)
            .ok_or_else(|| "the pickle refers to a memo entry it never stored".to_owned())?;
        self.stack.push(Slot::Object(index));
        Ok(())
    }
}
