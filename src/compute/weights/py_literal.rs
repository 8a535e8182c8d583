//! The Python literal subset that numpy writes in `.npy` headers.

/// Why a header is not a literal numpy writes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum LiteralError {
    #[error("the header has unexpected text after the dictionary")]
    TrailingText,
    #[error("the header is nested too deeply")]
    TooDeep,
    #[error("the header is malformed near byte {0}")]
    Malformed(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Seq(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

pub(super) struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl PyParser<'_> {
    /// Garbage such as `((((((...` must not overflow the stack.
    const MAX_DEPTH: usize = 16;

    pub(super) fn parse(text: &str) -> Result<Lit, LiteralError> {
        let mut p = PyParser { s: text.as_bytes(), i: 0 };
        let value = p.value(0)?;
        p.skip_ws();
        if p.i != p.s.len() {
            return Err(LiteralError::TrailingText);
        }
        Ok(value)
    }

    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn syntax_error(&self) -> LiteralError {
        LiteralError::Malformed(self.i)
    }

    fn value(&mut self, depth: usize) -> Result<Lit, LiteralError> {
        if depth > Self::MAX_DEPTH {
            return Err(LiteralError::TooDeep);
        }
        match self.peek().ok_or_else(|| self.syntax_error())? {
            q @ (b'\'' | b'"') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    let c = *self.s.get(self.i).ok_or_else(|| self.syntax_error())?;
                    self.i += 1;
                    match c {
                        b'\\' => {
                            out.push(*self.s.get(self.i).ok_or_else(|| self.syntax_error())?);
                            self.i += 1;
                        }
                        c if c == q => break,
                        c => out.push(c),
                    }
                }
                Ok(Lit::Str(String::from_utf8_lossy(&out).into_owned()))
            }
            open @ (b'(' | b'[') => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(close) {
                        self.i += 1;
                        return Ok(Lit::Seq(items));
                    }
                    items.push(self.value(depth + 1)?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(c) if c == close => {}
                        _ => return Err(self.syntax_error()),
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Lit::Dict(entries));
                    }
                    let key = self.value(depth + 1)?;
                    if self.peek() != Some(b':') {
                        return Err(self.syntax_error());
                    }
                    self.i += 1;
                    entries.push((key, self.value(depth + 1)?));
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(self.syntax_error()),
                    }
                }
            }
            c if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                let value = digits.parse::<i128>().map_err(|_| self.syntax_error())?;
                // Python 2 wrote long integers as `3L`.
                if matches!(self.s.get(self.i), Some(b'L' | b'l')) {
                    self.i += 1;
                }
                Ok(Lit::Int(value))
            }
            c if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Lit::Bool(true)),
                    b"False" => Ok(Lit::Bool(false)),
                    b"None" => Ok(Lit::None),
                    _ => Err(self.syntax_error()),
                }
            }
            _ => Err(self.syntax_error()),
        }
    }
}
