//! Where a wasm module's code goes: the bytes of its function bodies by crate, read from the `name` section of
//! an unstripped build, so that what each dependency costs the edge bundle is a number anyone can reproduce.
//!
//! The edge is stripped of its names before it ships (`compile::edge`); the build keeps a copy with names
//! at `target/edge-named.wasm` for this report. A function is counted for the crate its name starts with,
//! and an impl (`<a::T as b::Trait>::f`) for the crate of its type, so generic code instantiated for the
//! edge's types (`core::ptr::drop_in_place<edge::...>`) counts for `core`: that is what it costs to use.

use std::collections::BTreeMap;

/// One crate's share of the code.
pub struct Share {
    pub krate: String,
    /// Bytes of its function bodies.
    pub raw: usize,
    /// gzip bytes of its function bodies compressed together (the shares add up to somewhat more than the
    /// module's gzip size, since each is compressed alone).
    pub gzip: usize,
    /// How many functions.
    pub functions: usize,
}

/// The module's code by crate, largest first, and the bytes of its data segments; `None` for a module
/// that is not wasm or has no function names.
pub fn by_crate(wasm: &[u8]) -> Option<(Vec<Share>, usize)> {
    let module = Module::read(wasm)?;
    if module.names.is_empty() {
        return None;
    }
    let mut bodies: BTreeMap<String, (Vec<u8>, usize)> = BTreeMap::new();
    for (i, body) in module.bodies.iter().enumerate() {
        let name = module.names.get(&(module.imported + i)).map_or("(unnamed)", String::as_str);
        let entry = bodies.entry(crate_of(name)).or_default();
        entry.0.extend_from_slice(body);
        entry.1 += 1;
    }
    let mut shares: Vec<Share> =
        bodies.into_iter().map(|(krate, (code, functions))| Share { krate, raw: code.len(), gzip: crate::size::measure_gzip(&code), functions }).collect();
    shares.sort_by_key(|s| std::cmp::Reverse(s.raw));
    Some((shares, module.data))
}

/// The names of the module's functions (its own, not its imports); `None` for a module that is not wasm.
pub fn function_names(wasm: &[u8]) -> Option<Vec<String>> {
    let module = Module::read(wasm)?;
    Some((0..module.bodies.len()).filter_map(|i| module.names.get(&(module.imported + i)).cloned()).collect())
}

/// The crate a demangled function name belongs to.
fn crate_of(name: &str) -> String {
    let name = name.trim_start_matches(['<', '&']).trim_start_matches("mut ").trim_start_matches("dyn ");
    let (krate, rest) = name.split_at(name.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(name.len()));
    if krate.is_empty() {
        "(other)".into()
    } else if rest.starts_with("::") || rest.starts_with('[') {
        krate.into()
    } else {
        // Exports, and the shims wasm-bindgen names after the JavaScript side (in the edge's modules).
        "(exports and shims)".into()
    }
}

/// What the report needs of a module: how many functions are imported, each body, the names, the data.
struct Module<'a> {
    imported: usize,
    bodies: Vec<&'a [u8]>,
    names: BTreeMap<usize, String>,
    data: usize,
}

impl<'a> Module<'a> {
    fn read(bytes: &'a [u8]) -> Option<Module<'a>> {
        let mut r = Reader { bytes, at: 8 };
        if bytes.get(..4)? != b"\0asm" {
            return None;
        }
        let mut module = Module { imported: 0, bodies: Vec::new(), names: BTreeMap::new(), data: 0 };
        while r.at < bytes.len() {
            let id = r.byte()?;
            let size = r.uleb()? as usize;
            let end = r.at.checked_add(size)?;
            let mut section = Reader { bytes: bytes.get(..end)?, at: r.at };
            match id {
                0 if section.name()? == "name" => module.names = section.function_names()?,
                2 => module.imported = section.imported_functions()?,
                10 => {
                    for _ in 0..section.uleb()? {
                        let len = section.uleb()? as usize;
                        module.bodies.push(section.take(len)?);
                    }
                }
                11 => module.data = size,
                _ => {}
            }
            r.at = end;
        }
        Some(module)
    }
}

/// A cursor over a module's bytes (the binary format's LEB128 integers, names and vectors).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn uleb(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(slice)
    }

    fn name(&mut self) -> Option<String> {
        let len = self.uleb()? as usize;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }

    fn limits(&mut self) -> Option<()> {
        let flags = self.byte()?;
        self.uleb()?;
        if flags & 1 == 1 {
            self.uleb()?;
        }
        Some(())
    }

    /// Counts the imported functions (which take the first function indices).
    fn imported_functions(&mut self) -> Option<usize> {
        let mut functions = 0;
        for _ in 0..self.uleb()? {
            self.name()?;
            self.name()?;
            match self.byte()? {
                0 => {
                    self.uleb()?;
                    functions += 1;
                }
                1 => {
                    self.byte()?;
                    self.limits()?;
                }
                2 => self.limits()?,
                3 => {
                    self.byte()?;
                    self.byte()?;
                }
                4 => {
                    self.byte()?;
                    self.uleb()?;
                }
                _ => return None,
            }
        }
        Some(functions)
    }

    /// The function names subsection (id 1) of a `name` section.
    fn function_names(&mut self) -> Option<BTreeMap<usize, String>> {
        let mut names = BTreeMap::new();
        while self.at < self.bytes.len() {
            let id = self.byte()?;
            let size = self.uleb()? as usize;
            let end = self.at.checked_add(size)?;
            if id == 1 {
                for _ in 0..self.uleb()? {
                    let index = self.uleb()? as usize;
                    names.insert(index, self.name()?);
                }
            }
            self.at = end;
        }
        Some(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_count_for_the_crate_of_their_type() {
        assert_eq!(crate_of("edge::glue::visitor::take::{{closure}}::h47e3697691c84768"), "edge");
        assert_eq!(crate_of("<edge::platform::cloud::Cloud as edge::protocol::backend::Backend>::ledger::{{closure}}::hc08"), "edge");
        assert_eq!(crate_of("core::ptr::drop_in_place<edge::protocol::outbox::Delivery>::h1"), "core");
        assert_eq!(crate_of("<core[c5930c85a12de822]::fmt::Formatter>::pad"), "core");
        assert_eq!(crate_of("<&mut serde_json::ser::Serializer<W,F> as serde_core::ser::Serializer>::serialize_str"), "serde_json");
        assert_eq!(crate_of("__wbg_ledger_fetch"), "(exports and shims)");
    }

    #[test]
    fn a_module_is_read_with_its_imports_bodies_and_names() {
        // (module (import "m" "f" (func)) (func $a) (func $b nop) (data "xy")) with a name section naming
        // function 1 `edge::a` and 2 `core::b`.
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([1, 4, 1, 0x60, 0, 0]); // types: () -> ()
        wasm.extend([2, 7, 1, 1, b'm', 1, b'f', 0, 0]); // import m.f
        wasm.extend([3, 3, 2, 0, 0]); // two functions of type 0
        wasm.extend([5, 3, 1, 0, 1]); // memory
        wasm.extend([10, 8, 2, 2, 0, 0x0b, 3, 0, 0x01, 0x0b]); // bodies: 2 and 3 bytes
        wasm.extend([11, 8, 1, 0, 0x41, 0, 0x0b, 2, b'x', b'y']); // data
        let names: Vec<u8> = [&[2u8][..], &[1, 7], b"edge::a", &[2, 7], b"core::b"].concat(); // two names
        let mut section = vec![4, b'n', b'a', b'm', b'e', 1, names.len() as u8];
        section.extend(&names);
        wasm.push(0);
        wasm.push(section.len() as u8);
        wasm.extend(section);
        assert_eq!(function_names(&wasm).expect("a module"), ["edge::a", "core::b"]);
        let (shares, data) = by_crate(&wasm).expect("a module with names");
        let found: Vec<(&str, usize, usize)> = shares.iter().map(|s| (s.krate.as_str(), s.raw, s.functions)).collect();
        assert_eq!(found, vec![("core", 3, 1), ("edge", 2, 1)]);
        assert_eq!(data, 8);
        assert!(by_crate(b"not wasm").is_none());
    }
}
