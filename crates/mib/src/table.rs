//! The runtime OID table: one string arena and flat arrays addressed by u32
//! indices. Nodes are stored breadth-first so that the children of a node are a
//! contiguous run sorted by sub-identifier: resolving an OID is one binary search
//! per arc, and no per-node allocation exists at run time.

use crate::{BaseType, NodeKind};

/// Marks "no syntax" / "no string" in the u32 fields.
pub(crate) const NONE: u32 = u32::MAX;

/// A string in the arena: byte offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Str {
    pub off: u32,
    pub len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeRec {
    pub parent: u32,
    pub subid: u32,
    pub first_child: u32,
    pub child_count: u32,
    /// Empty for nodes that only exist as the path to a named one.
    pub name: Str,
    /// Index into `modules`; NONE for anonymous nodes.
    pub module: u32,
    pub kind: NodeKind,
    /// Index into `syntaxes`, or NONE.
    pub syntax: u32,
    /// Run in `objects` (node indices): notification OBJECTS / VARIABLES.
    pub objects_start: u32,
    pub objects_len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxRec {
    pub base: BaseType,
    /// Textual convention name; len 0 when none.
    pub tc: Str,
    /// DISPLAY-HINT; len 0 when none.
    pub hint: Str,
    /// The object's UNITS clause; len 0 when none.
    pub units: Str,
    /// Run in `labels`: enum values, or BITS positions.
    pub labels_start: u32,
    pub labels_len: u32,
}

/// One (name, module) -> node entry. Every definition has one, so a name that
/// several modules define (or an OID several modules name differently) can be
/// looked up under each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameRec {
    pub name: Str,
    pub module: u32,
    pub node: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LabelRec {
    pub value: i64,
    pub label: Str,
}

/// The compiled OID tree. Immutable, `Send + Sync`; share it in an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mibs {
    pub(crate) strings: String,
    /// Index 0 is the unnamed root; its children are the top-level arcs (0, 1, 2).
    pub(crate) nodes: Vec<NodeRec>,
    /// Every definition, sorted by (name, module index); modules are sorted by name.
    pub(crate) by_name: Vec<NameRec>,
    pub(crate) modules: Vec<Str>,
    pub(crate) syntaxes: Vec<SyntaxRec>,
    /// Sorted by value within each syntax's run.
    pub(crate) labels: Vec<LabelRec>,
    pub(crate) objects: Vec<u32>,
}

impl Default for Mibs {
    fn default() -> Self {
        Mibs::empty()
    }
}

impl Mibs {
    /// A table that knows no names: every OID stays numeric.
    pub fn empty() -> Mibs {
        Mibs {
            strings: String::new(),
            nodes: vec![NodeRec {
                parent: NONE,
                subid: 0,
                first_child: 1,
                child_count: 0,
                name: Str::default(),
                module: NONE,
                kind: NodeKind::Node,
                syntax: NONE,
                objects_start: 0,
                objects_len: 0,
            }],
            by_name: Vec::new(),
            modules: Vec::new(),
            syntaxes: Vec::new(),
            labels: Vec::new(),
            objects: Vec::new(),
        }
    }

    /// Number of definitions (a name defined by two modules counts twice).
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Names of the modules that contributed at least one definition, sorted.
    pub fn modules(&self) -> impl Iterator<Item = &str> + '_ {
        self.modules.iter().map(|s| self.str(*s))
    }

    /// Bytes of heap the table holds (its arrays and string arena).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.strings.capacity()
            + self.nodes.capacity() * size_of::<NodeRec>()
            + self.by_name.capacity() * size_of::<NameRec>()
            + self.modules.capacity() * size_of::<Str>()
            + self.syntaxes.capacity() * size_of::<SyntaxRec>()
            + self.labels.capacity() * size_of::<LabelRec>()
            + self.objects.capacity() * size_of::<u32>()
    }

    /// Every named node (the primary name of each OID), parents before children.
    pub fn nodes(&self) -> impl Iterator<Item = Node<'_>> + '_ {
        (0..self.nodes.len() as u32)
            .filter(|&i| self.nodes[i as usize].name.len > 0)
            .map(|index| Node { mibs: self, index })
    }

    pub(crate) fn str(&self, s: Str) -> &str {
        self.strings.get(s.off as usize..(s.off + s.len) as usize).unwrap_or("")
    }

    fn child(&self, parent: u32, subid: u32) -> Option<u32> {
        let rec = &self.nodes[parent as usize];
        let start = rec.first_child as usize;
        let children = self.nodes.get(start..start + rec.child_count as usize)?;
        children.binary_search_by_key(&subid, |c| c.subid).ok().map(|i| (start + i) as u32)
    }

    /// Longest known (named) prefix of `oid`: the node and the remaining
    /// sub-identifiers (instance / index).
    pub fn resolve<'o>(&self, oid: &'o [u32]) -> Option<(Node<'_>, &'o [u32])> {
        let mut current = 0u32;
        let mut best = None;
        for (depth, &subid) in oid.iter().enumerate() {
            match self.child(current, subid) {
                Some(next) => {
                    current = next;
                    if self.nodes[next as usize].name.len > 0 {
                        best = Some((next, depth + 1));
                    }
                }
                None => break,
            }
        }
        best.map(|(index, depth)| (Node { mibs: self, index }, &oid[depth..]))
    }

    /// Exact match of a named node.
    pub fn node(&self, oid: &[u32]) -> Option<Node<'_>> {
        match self.resolve(oid) {
            Some((node, [])) => Some(node),
            _ => None,
        }
    }

    /// "ifDescr", "IF-MIB::ifDescr", either optionally followed by ".1.2"
    /// (instance), or a numeric ".1.3.6.1" / "1.3.6.1" -> full OID.
    pub fn lookup(&self, name: &str) -> Option<Vec<u32>> {
        let name = name.trim();
        if name.starts_with('.') || name.starts_with(|c: char| c.is_ascii_digit()) {
            return parse_numeric(name);
        }
        let (module, rest) = match name.split_once("::") {
            Some((module, rest)) => (Some(module), rest),
            None => (None, name),
        };
        let (label, suffix) = match rest.split_once('.') {
            Some((label, suffix)) => (label, Some(suffix)),
            None => (rest, None),
        };
        let mut oid = match self.find_named(module, label) {
            Some(node) => node.oid(),
            // The top arcs are named by the ASN.1 standard, not by any module.
            None => match (module, label) {
                (None, "ccitt" | "itu-t") => vec![0],
                (None, "iso") => vec![1],
                (None, "joint-iso-ccitt" | "joint-iso-itu-t") => vec![2],
                _ => return None,
            },
        };
        if let Some(suffix) = suffix {
            oid.extend(parse_numeric(suffix)?);
        }
        Some(oid)
    }

    /// Every definition of `label`: (defining module, node), by module name. A name
    /// that several modules define differently has several.
    pub fn definitions<'s>(&'s self, label: &'s str) -> impl Iterator<Item = (&'s str, Node<'s>)> + 's {
        let start = self.by_name.partition_point(|r| self.str(r.name) < label);
        self.by_name[start..].iter().take_while(move |r| self.str(r.name) == label).map(move |r| {
            let module = self.modules.get(r.module as usize).map(|s| self.str(*s)).unwrap_or("");
            (module, Node { mibs: self, index: r.node })
        })
    }

    /// The node named `label`, by `module` if given. Without a module and several
    /// candidates, a node whose primary name this is wins, then the module
    /// sorting first (deterministic).
    pub fn find_named(&self, module: Option<&str>, label: &str) -> Option<Node<'_>> {
        let start = self.by_name.partition_point(|r| self.str(r.name) < label);
        let candidates = self.by_name[start..].iter().take_while(|r| self.str(r.name) == label);
        let module_name = |r: &NameRec| self.modules.get(r.module as usize).map(|s| self.str(*s)).unwrap_or("");
        let mut fallback = None;
        for r in candidates {
            if module.is_some_and(|m| module_name(r) != m) {
                continue;
            }
            let node = Node { mibs: self, index: r.node };
            if node.name() == label {
                return Some(node);
            }
            fallback.get_or_insert(node);
        }
        fallback
    }
}

fn parse_numeric(text: &str) -> Option<Vec<u32>> {
    let text = text.strip_prefix('.').unwrap_or(text);
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split('.').map(|part| part.parse().ok()).collect()
}

/// A named node of the OID tree (cheap to copy: a table reference and an index).
#[derive(Clone, Copy)]
pub struct Node<'a> {
    mibs: &'a Mibs,
    index: u32,
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.module(), self.name())
    }
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.mibs, other.mibs) && self.index == other.index
    }
}

impl<'a> Node<'a> {
    fn rec(&self) -> &'a NodeRec {
        &self.mibs.nodes[self.index as usize]
    }

    pub fn name(&self) -> &'a str {
        self.mibs.str(self.rec().name)
    }

    /// The module that defined this node ("" for the built-in top arcs).
    pub fn module(&self) -> &'a str {
        match self.mibs.modules.get(self.rec().module as usize) {
            Some(s) => self.mibs.str(*s),
            None => "",
        }
    }

    pub fn oid(&self) -> Vec<u32> {
        let mut oid = Vec::with_capacity(16);
        let mut index = self.index;
        while index != 0 && index != NONE {
            let rec = &self.mibs.nodes[index as usize];
            oid.push(rec.subid);
            index = rec.parent;
        }
        oid.reverse();
        oid
    }

    pub fn kind(&self) -> NodeKind {
        self.rec().kind
    }

    pub fn syntax(&self) -> Option<Syntax<'a>> {
        let index = self.rec().syntax;
        (index != NONE).then_some(Syntax { mibs: self.mibs, index })
    }

    /// NOTIFICATION-TYPE OBJECTS / TRAP-TYPE VARIABLES, in order.
    pub fn objects(&self) -> Vec<Node<'a>> {
        let rec = self.rec();
        let start = rec.objects_start as usize;
        self.mibs
            .objects
            .get(start..start + rec.objects_len as usize)
            .unwrap_or(&[])
            .iter()
            .map(|&index| Node { mibs: self.mibs, index })
            .collect()
    }

    /// The nearest named ancestor (None for top-level nodes).
    pub fn parent(&self) -> Option<Node<'a>> {
        let mut index = self.rec().parent;
        while index != NONE && index != 0 {
            let rec = &self.mibs.nodes[index as usize];
            if rec.name.len > 0 {
                return Some(Node { mibs: self.mibs, index });
            }
            index = rec.parent;
        }
        None
    }
}

/// The SYNTAX of an OBJECT-TYPE (or the type of a textual convention).
#[derive(Clone, Copy)]
pub struct Syntax<'a> {
    mibs: &'a Mibs,
    index: u32,
}

impl std::fmt::Debug for Syntax<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syntax")
            .field("base", &self.base())
            .field("textual_convention", &self.textual_convention())
            .field("display_hint", &self.display_hint())
            .finish()
    }
}

impl<'a> Syntax<'a> {
    fn rec(&self) -> &'a SyntaxRec {
        &self.mibs.syntaxes[self.index as usize]
    }

    pub fn base(&self) -> BaseType {
        self.rec().base
    }

    /// e.g. "DisplayString", "MacAddress", "DateAndTime".
    pub fn textual_convention(&self) -> Option<&'a str> {
        let s = self.rec().tc;
        (s.len > 0).then(|| self.mibs.str(s))
    }

    pub fn display_hint(&self) -> Option<&'a str> {
        let s = self.rec().hint;
        (s.len > 0).then(|| self.mibs.str(s))
    }

    /// The UNITS clause of the object ("seconds", "octets").
    pub fn units(&self) -> Option<&'a str> {
        let s = self.rec().units;
        (s.len > 0).then(|| self.mibs.str(s))
    }

    fn labels(&self) -> &'a [LabelRec] {
        let rec = self.rec();
        let start = rec.labels_start as usize;
        self.mibs.labels.get(start..start + rec.labels_len as usize).unwrap_or(&[])
    }

    /// The enumeration label of `value` (INTEGER enums).
    pub fn enum_label(&self, value: i64) -> Option<&'a str> {
        if self.base() == BaseType::Bits {
            return None;
        }
        let labels = self.labels();
        labels.binary_search_by_key(&value, |l| l.value).ok().map(|i| self.mibs.str(labels[i].label))
    }

    /// Every (value, label) pair of an enumeration or BITS, by value.
    pub fn named_numbers(&self) -> impl Iterator<Item = (i64, &'a str)> + 'a {
        let mibs = self.mibs;
        self.labels().iter().map(move |l| (l.value, mibs.str(l.label)))
    }

    /// Names of the set bits (bit 0 = most significant bit of octet 0). Set bits
    /// without a name are skipped.
    pub fn bits_labels(&self, octets: &[u8]) -> Vec<&'a str> {
        if self.base() != BaseType::Bits {
            return Vec::new();
        }
        self.labels()
            .iter()
            .filter(|l| {
                let bit = l.value;
                bit >= 0 && octets.get((bit / 8) as usize).is_some_and(|octet| octet & (0x80 >> (bit % 8)) != 0)
            })
            .map(|l| self.mibs.str(l.label))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_knows_nothing() {
        let mibs = Mibs::empty();
        assert!(mibs.resolve(&[1, 3, 6, 1]).is_none());
        assert!(mibs.node(&[1]).is_none());
        assert_eq!(mibs.lookup("ifDescr"), None);
        assert_eq!(mibs.lookup(".1.3.6.1"), Some(vec![1, 3, 6, 1]));
        assert_eq!(mibs.lookup("1.3.x"), None);
        assert_eq!(mibs.lookup("iso.3.6.1"), Some(vec![1, 3, 6, 1]));
        assert_eq!(mibs.lookup("IF-MIB::iso"), None);
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn shareable() {
        assert_send_sync::<Mibs>();
    }
}
