//! The compiled-table cache file. Start-up with an unchanged MIB set is a stat of
//! every file (to compute the key), one read and a validation pass — no parsing.
//!
//! Layout (little-endian): magic, format version, key (FNV-1a 64 of the compiler
//! version and every file's path, mtime and size, in search order), payload length,
//! payload checksum, payload (the table's flat arrays and the diagnostics of the
//! compile). Anything that does not match — key, checksum, bounds — means
//! "recompile"; a cache can never make [`Mibs`] index out of bounds, because
//! [`validate`] checks every index the accessors use.

use std::path::{Path, PathBuf};

use crate::load::SourceFile;
use crate::table::{LabelRec, Mibs, NONE, NameRec, NodeRec, Str, SyntaxRec};
use crate::{BaseType, Diagnostic, NodeKind, Severity};

const MAGIC: &[u8; 8] = b"NWMIBC\0\x01";
/// Bump when the layout or the compiler's output changes.
const FORMAT: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 8;

fn fnv(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The cache key of a set of files.
pub(crate) fn key(files: &[SourceFile]) -> u64 {
    let mut hash = FNV_OFFSET;
    fnv(&mut hash, env!("CARGO_PKG_VERSION").as_bytes());
    fnv(&mut hash, &FORMAT.to_le_bytes());
    for file in files {
        fnv(&mut hash, file.path.as_os_str().as_encoded_bytes());
        fnv(&mut hash, &[0]);
        fnv(&mut hash, &file.mtime_ns.to_le_bytes());
        fnv(&mut hash, &file.size.to_le_bytes());
        fnv(&mut hash, &file.root.to_le_bytes());
    }
    hash
}

/// The cache file for a list of directories (several configurations can share
/// one cache directory).
pub(crate) fn path(cache_dir: &Path, dirs: &[PathBuf]) -> PathBuf {
    let mut hash = FNV_OFFSET;
    for dir in dirs {
        fnv(&mut hash, dir.as_os_str().as_encoded_bytes());
        fnv(&mut hash, &[0]);
    }
    cache_dir.join(format!("nocwatch-mibs-{hash:016x}.cache"))
}

// ----- writing ---------------------------------------------------------------

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    fn str_ref(&mut self, s: Str) {
        self.u32(s.off);
        self.u32(s.len);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
}

fn kind_code(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Scalar => 0,
        NodeKind::Table => 1,
        NodeKind::Row => 2,
        NodeKind::Column => 3,
        NodeKind::Notification => 4,
        NodeKind::Node => 5,
    }
}

fn kind_from(code: u8) -> Option<NodeKind> {
    Some(match code {
        0 => NodeKind::Scalar,
        1 => NodeKind::Table,
        2 => NodeKind::Row,
        3 => NodeKind::Column,
        4 => NodeKind::Notification,
        5 => NodeKind::Node,
        _ => return None,
    })
}

const BASE_TYPES: [BaseType; 12] = [
    BaseType::Integer32,
    BaseType::OctetString,
    BaseType::ObjectIdentifier,
    BaseType::Bits,
    BaseType::IpAddress,
    BaseType::Counter32,
    BaseType::Gauge32,
    BaseType::TimeTicks,
    BaseType::Opaque,
    BaseType::Counter64,
    BaseType::Unsigned32,
    BaseType::Other,
];

fn base_code(base: BaseType) -> u8 {
    BASE_TYPES.iter().position(|b| *b == base).unwrap_or(BASE_TYPES.len() - 1) as u8
}

/// Serialises a table and its diagnostics under `key`.
pub(crate) fn encode(mibs: &Mibs, diagnostics: &[Diagnostic], key: u64) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(mibs.strings.len() + mibs.nodes.len() * 40 + mibs.by_name.len() * 16));
    w.bytes(mibs.strings.as_bytes());
    w.len(mibs.nodes.len());
    for n in &mibs.nodes {
        for v in [
            n.parent,
            n.subid,
            n.first_child,
            n.child_count,
            n.name.off,
            n.name.len,
            n.module,
            n.syntax,
            n.objects_start,
            n.objects_len,
        ] {
            w.u32(v);
        }
        w.u8(kind_code(n.kind));
    }
    w.len(mibs.by_name.len());
    for r in &mibs.by_name {
        w.str_ref(r.name);
        w.u32(r.module);
        w.u32(r.node);
    }
    w.len(mibs.modules.len());
    for m in &mibs.modules {
        w.str_ref(*m);
    }
    w.len(mibs.syntaxes.len());
    for s in &mibs.syntaxes {
        w.u8(base_code(s.base));
        w.str_ref(s.tc);
        w.str_ref(s.hint);
        w.str_ref(s.units);
        w.u32(s.labels_start);
        w.u32(s.labels_len);
    }
    w.len(mibs.labels.len());
    for l in &mibs.labels {
        w.i64(l.value);
        w.str_ref(l.label);
    }
    w.len(mibs.objects.len());
    for &o in &mibs.objects {
        w.u32(o);
    }
    w.len(diagnostics.len());
    for d in diagnostics {
        w.u8(match d.severity {
            Severity::Warning => 0,
            Severity::Error => 1,
        });
        w.bytes(d.file.as_os_str().as_encoded_bytes());
        w.u32(d.line);
        match &d.module {
            Some(m) => {
                w.u8(1);
                w.bytes(m.as_bytes());
            }
            None => w.u8(0),
        }
        w.bytes(d.message.as_bytes());
    }
    let payload = w.0;
    let mut checksum = FNV_OFFSET;
    fnv(&mut checksum, &payload);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&checksum.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

// ----- reading -----------------------------------------------------------------

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(i64::from_le_bytes)
    }
    /// A count, bounded by what the remaining bytes can hold (`min_size` each),
    /// so a corrupt count cannot make us allocate gigabytes.
    fn count(&mut self, min_size: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(min_size)? <= self.buf.len() - self.pos).then_some(n)
    }
    fn str_ref(&mut self) -> Option<Str> {
        Some(Str { off: self.u32()?, len: self.u32()? })
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.count(1)?;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

/// Reads a cache file's contents; `None` unless it is intact and made for `key`.
pub(crate) fn decode(buf: &[u8], key: u64) -> Option<(Mibs, Vec<Diagnostic>)> {
    let mut r = Reader { buf, pos: 0 };
    if r.take(8)? != MAGIC || r.u32()? != FORMAT || r.u64()? != key {
        return None;
    }
    let payload_len = usize::try_from(r.u64()?).ok()?;
    let checksum = r.u64()?;
    let payload = r.take(payload_len)?;
    if r.pos != buf.len() {
        return None;
    }
    let mut actual = FNV_OFFSET;
    fnv(&mut actual, payload);
    if actual != checksum {
        return None;
    }
    let mut r = Reader { buf: payload, pos: 0 };
    let strings = r.string()?;
    let n = r.count(41)?;
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        let mut v = [0u32; 10];
        for slot in &mut v {
            *slot = r.u32()?;
        }
        nodes.push(NodeRec {
            parent: v[0],
            subid: v[1],
            first_child: v[2],
            child_count: v[3],
            name: Str { off: v[4], len: v[5] },
            module: v[6],
            syntax: v[7],
            objects_start: v[8],
            objects_len: v[9],
            kind: kind_from(r.u8()?)?,
        });
    }
    let n = r.count(16)?;
    let mut by_name = Vec::with_capacity(n);
    for _ in 0..n {
        by_name.push(NameRec { name: r.str_ref()?, module: r.u32()?, node: r.u32()? });
    }
    let n = r.count(8)?;
    let mut modules = Vec::with_capacity(n);
    for _ in 0..n {
        modules.push(r.str_ref()?);
    }
    let n = r.count(33)?;
    let mut syntaxes = Vec::with_capacity(n);
    for _ in 0..n {
        let base = *BASE_TYPES.get(r.u8()? as usize)?;
        syntaxes.push(SyntaxRec {
            base,
            tc: r.str_ref()?,
            hint: r.str_ref()?,
            units: r.str_ref()?,
            labels_start: r.u32()?,
            labels_len: r.u32()?,
        });
    }
    let n = r.count(16)?;
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        labels.push(LabelRec { value: r.i64()?, label: r.str_ref()? });
    }
    let n = r.count(4)?;
    let mut objects = Vec::with_capacity(n);
    for _ in 0..n {
        objects.push(r.u32()?);
    }
    let n = r.count(14)?;
    let mut diagnostics = Vec::with_capacity(n);
    for _ in 0..n {
        let severity = match r.u8()? {
            0 => Severity::Warning,
            1 => Severity::Error,
            _ => return None,
        };
        let file = PathBuf::from(r.string()?);
        let line = r.u32()?;
        let module = match r.u8()? {
            0 => None,
            1 => Some(r.string()?),
            _ => return None,
        };
        let message = r.string()?;
        diagnostics.push(Diagnostic { severity, file, line, module, message });
    }
    if r.pos != payload.len() {
        return None;
    }
    let mibs = Mibs { strings, nodes, by_name, modules, syntaxes, labels, objects };
    validate(&mibs).then_some((mibs, diagnostics))
}

/// Largest cache file read back: the IETF + Cisco + Juniper + net-snmp sets encode to
/// ~18 MB; anything far larger is not a cache we wrote.
const MAX_CACHE_BYTES: u64 = 512 << 20;

/// Reads a cache file back, or `None` when it is not a regular file of a plausible size
/// (a FIFO, a symlink to `/dev/zero` or a huge stray file must neither hang nor exhaust
/// memory; the caller then compiles and rewrites the cache).
pub(crate) fn read(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read as _;
    // stat before open: opening a FIFO for reading blocks until a writer comes.
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() || metadata.len() > MAX_CACHE_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // `take` bounds the read even if the file grows after the size check.
    file.take(MAX_CACHE_BYTES + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= MAX_CACHE_BYTES).then_some(bytes)
}

/// `offset + len` in u64, so the bounds checks below cannot overflow on 32-bit targets.
fn span_end(offset: u32, len: u32) -> u64 {
    u64::from(offset) + u64::from(len)
}

/// Every index the accessors follow is in bounds, the tree is a tree (parents
/// before children, so walking up terminates), children are sorted runs.
pub(crate) fn validate(m: &Mibs) -> bool {
    let str_ok = |s: Str| {
        let end = span_end(s.off, s.len);
        end <= m.strings.len() as u64
            && m.strings.is_char_boundary(s.off as usize)
            && m.strings.is_char_boundary(end as usize)
    };
    let nodes = m.nodes.len();
    if nodes == 0 || m.nodes[0].parent != NONE {
        return false;
    }
    for (i, n) in m.nodes.iter().enumerate() {
        if i > 0 && (n.parent as usize >= i) {
            return false;
        }
        let children_end = span_end(n.first_child, n.child_count);
        if n.child_count > 0 && (n.first_child as usize <= i || children_end > nodes as u64) {
            return false;
        }
        if n.child_count > 0 {
            let children = &m.nodes[n.first_child as usize..children_end as usize];
            if children.iter().any(|c| c.parent as usize != i) || children.windows(2).any(|w| w[0].subid >= w[1].subid)
            {
                return false;
            }
        }
        if !str_ok(n.name)
            || (n.module != NONE && n.module as usize >= m.modules.len())
            || (n.syntax != NONE && n.syntax as usize >= m.syntaxes.len())
            || span_end(n.objects_start, n.objects_len) > m.objects.len() as u64
        {
            return false;
        }
    }
    m.by_name.iter().all(|r| str_ok(r.name) && (r.module as usize) < m.modules.len() && (r.node as usize) < nodes)
        && m.modules.iter().all(|s| str_ok(*s))
        && m.syntaxes.iter().all(|s| {
            str_ok(s.tc)
                && str_ok(s.hint)
                && str_ok(s.units)
                && span_end(s.labels_start, s.labels_len) <= m.labels.len() as u64
        })
        && m.labels.iter().all(|l| str_ok(l.label))
        && m.objects.iter().all(|&o| (o as usize) < nodes)
}

/// Writes the cache atomically (temporary file + rename).
pub(crate) fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_a_plausible_size_are_read_back() {
        let dir = std::env::temp_dir().join(format!("nocwatch-mib-cache-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let regular = dir.join("regular.cache");
        std::fs::write(&regular, b"bytes").unwrap();
        assert_eq!(read(&regular).as_deref(), Some(&b"bytes"[..]));

        // An endless device behind a symlink: refused at once, not read until memory runs out.
        let zero = dir.join("zero.cache");
        let _ = std::fs::remove_file(&zero);
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(read(&zero), None);

        // A FIFO nobody writes to: refused without blocking in open/read.
        let fifo = dir.join("fifo.cache");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let (done, finished) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || done.send(read(&path)).unwrap());
        let outcome = finished.recv_timeout(std::time::Duration::from_secs(10));
        // Unblock the reader if it did block, then fail.
        if outcome.is_err() {
            let _ = std::fs::write(&fifo, b"");
        }
        assert_eq!(outcome.ok().flatten(), None, "a FIFO as cache file must be refused without blocking");

        assert_eq!(read(&dir), None, "a directory is not a cache file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
