//! The linker: parsed modules in, the OID tree out. Resolves every definition's
//! OID through its module's own definitions, its IMPORTS, and — like net-snmp,
//! which links by label — any loaded module defining the name (with a warning),
//! so one vendor module with a sloppy IMPORTS clause still loads. Resolves
//! syntaxes through textual conventions, picks one primary name per OID, and
//! freezes everything into the compact [`Mibs`] table.

use std::collections::VecDeque;

use crate::ast::{DefKind, DefValue, ModuleAst, OidPart, TypeAst};
use crate::intern::{FnvMap, Interner, Sym};
use crate::parser::PRIORITY_IMPLICIT;
use crate::table::{LabelRec, Mibs, NONE, NameRec, NodeRec, Str, SyntaxRec};
use crate::{BaseType, NodeKind, Severity};

/// A problem found while linking, attributed to a module (and so to its file).
pub(crate) struct LinkProblem {
    pub severity: Severity,
    pub module: u32,
    pub line: u32,
    pub message: String,
}

/// Per-module outcome counters, for `nocwatch mib check`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LinkCounts {
    /// Definitions that got an OID.
    pub linked: u32,
    /// Definitions whose OID could not be resolved.
    pub unresolved: u32,
}

const ROOT: u32 = 0;
/// Longest chain of definitions resolved recursively (OID parents, TC chains).
const MAX_CHAIN: u32 = 512;

/// How strongly a definition claims the primary name of its OID: real objects
/// first, then identities, OID values, groups, and names made up by `name(n)`
/// inside another OID value.
const RANK_OBJECT: u8 = 4;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unvisited,
    InProgress,
    Done(u32),
    Failed,
}

#[derive(Clone, Copy)]
struct Naming {
    node: u32,
    name: Sym,
    module: u32,
    rank: u8,
    /// The definition (module, def index), or NONE for implicit `name(n)` nodes.
    def: u32,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SyntaxKey {
    base: BaseType,
    tc: Option<Sym>,
    hint: Option<Sym>,
    units: Option<Sym>,
    labels: Vec<(i64, Sym)>,
}

#[derive(Clone)]
struct ResolvedType {
    base: BaseType,
    hint: Option<Sym>,
    labels: Vec<(i64, Sym)>,
}

#[derive(Clone)]
enum TypeState {
    Unvisited,
    InProgress,
    Done(Option<ResolvedType>),
}

pub(crate) struct Linker<'a> {
    interner: &'a Interner,
    modules: &'a [ModuleAst],
    module_index: FnvMap<Sym, u32>,
    local_defs: Vec<FnvMap<Sym, u32>>,
    local_types: Vec<FnvMap<Sym, u32>>,
    imports: Vec<FnvMap<Sym, Sym>>,
    global_defs: FnvMap<Sym, Vec<(u32, u32)>>,
    global_types: FnvMap<Sym, Vec<(u32, u32)>>,
    def_state: Vec<Vec<State>>,
    type_state: Vec<Vec<TypeState>>,
    /// Build tree: (parent, subid) per node; index 0 is the root.
    tree: Vec<(u32, u32)>,
    children: FnvMap<(u32, u32), u32>,
    namings: Vec<Naming>,
    /// Resolved OBJECTS / VARIABLES (build node indices) per (module, def).
    notification_objects: FnvMap<(u32, u32), Vec<u32>>,
    /// Unimported names already reported, per (module, name).
    reported: FnvMap<(u32, Sym), ()>,
    /// Current recursion depth of resolve_def / resolve_type_def.
    depth: u32,
    pub problems: Vec<LinkProblem>,
    pub counts: Vec<LinkCounts>,
}

fn well_known_root(name: &str) -> Option<u32> {
    match name {
        "ccitt" | "itu-t" => Some(0),
        "iso" => Some(1),
        "joint-iso-ccitt" | "joint-iso-itu-t" => Some(2),
        _ => None,
    }
}

/// Names every SMI module may use without defining them: macros and base types.
fn is_builtin_symbol(name: &str) -> bool {
    matches!(
        name,
        "MODULE-IDENTITY"
            | "OBJECT-IDENTITY"
            | "OBJECT-TYPE"
            | "NOTIFICATION-TYPE"
            | "TRAP-TYPE"
            | "TEXTUAL-CONVENTION"
            | "OBJECT-GROUP"
            | "NOTIFICATION-GROUP"
            | "MODULE-COMPLIANCE"
            | "AGENT-CAPABILITIES"
            | "Integer32"
            | "Unsigned32"
            | "Counter32"
            | "Counter64"
            | "Gauge32"
            | "TimeTicks"
            | "IpAddress"
            | "Opaque"
            | "Counter"
            | "Gauge"
            | "NetworkAddress"
            | "BITS"
            | "ObjectName"
            | "NotificationName"
            | "ObjectSyntax"
            | "SimpleSyntax"
            | "ApplicationSyntax"
            | "ExtUTCTime"
            | "iso"
    )
}

impl<'a> Linker<'a> {
    pub fn new(interner: &'a Interner, modules: &'a [ModuleAst]) -> Self {
        let mut module_index = FnvMap::default();
        let mut local_defs = Vec::with_capacity(modules.len());
        let mut local_types = Vec::with_capacity(modules.len());
        let mut imports = Vec::with_capacity(modules.len());
        let mut global_defs: FnvMap<Sym, Vec<(u32, u32)>> = FnvMap::default();
        let mut global_types: FnvMap<Sym, Vec<(u32, u32)>> = FnvMap::default();
        let mut problems = Vec::new();
        for (m, module) in modules.iter().enumerate() {
            let m = m as u32;
            module_index.insert(module.name, m);
            let mut defs = FnvMap::default();
            for (d, def) in module.defs.iter().enumerate() {
                if defs.contains_key(&def.name) {
                    // Keep the first, as net-snmp does ("duplicate object").
                    problems.push(LinkProblem {
                        severity: Severity::Warning,
                        module: m,
                        line: def.line,
                        message: format!(
                            "{} is defined twice; the first definition is used",
                            interner.resolve(def.name)
                        ),
                    });
                    continue;
                }
                defs.insert(def.name, d as u32);
                global_defs.entry(def.name).or_default().push((m, d as u32));
            }
            let mut types = FnvMap::default();
            for (t, ty) in module.types.iter().enumerate() {
                types.entry(ty.name).or_insert(t as u32);
                global_types.entry(ty.name).or_default().push((m, t as u32));
            }
            let mut module_imports = FnvMap::default();
            for import in &module.imports {
                module_imports.insert(import.symbol, import.from);
            }
            local_defs.push(defs);
            local_types.push(types);
            imports.push(module_imports);
        }
        let def_state = modules.iter().map(|m| vec![State::Unvisited; m.defs.len()]).collect();
        let type_state = modules.iter().map(|m| vec![TypeState::Unvisited; m.types.len()]).collect();
        Linker {
            interner,
            modules,
            module_index,
            local_defs,
            local_types,
            imports,
            global_defs,
            global_types,
            def_state,
            type_state,
            tree: vec![(NONE, 0)],
            children: FnvMap::default(),
            namings: Vec::new(),
            notification_objects: FnvMap::default(),
            reported: FnvMap::default(),
            depth: 0,
            problems,
            counts: vec![LinkCounts::default(); modules.len()],
        }
    }

    fn name(&self, sym: Sym) -> &'a str {
        self.interner.resolve(sym)
    }

    fn problem(&mut self, severity: Severity, module: u32, line: u32, message: String) {
        self.problems.push(LinkProblem { severity, module, line, message });
    }

    fn child(&mut self, parent: u32, subid: u32) -> u32 {
        if let Some(&node) = self.children.get(&(parent, subid)) {
            return node;
        }
        let node = self.tree.len() as u32;
        self.tree.push((parent, subid));
        self.children.insert((parent, subid), node);
        node
    }

    /// Links every module: OIDs, names, then checks IMPORTS.
    pub fn link_all(&mut self) {
        for m in 0..self.modules.len() as u32 {
            for d in 0..self.modules[m as usize].defs.len() as u32 {
                if self.local_defs[m as usize].get(&self.modules[m as usize].defs[d as usize].name) != Some(&d) {
                    continue; // a duplicate
                }
                match self.resolve_def(m, d) {
                    Some(node) => {
                        self.counts[m as usize].linked += 1;
                        let def = &self.modules[m as usize].defs[d as usize];
                        let rank = match def.kind {
                            DefKind::ObjectType { .. } | DefKind::Notification { .. } => RANK_OBJECT,
                            DefKind::Other { priority } => priority,
                        };
                        self.namings.push(Naming { node, name: def.name, module: m, rank, def: d });
                        if let DefKind::Notification { objects } = &def.kind {
                            let (line, objects) = (def.line, objects.clone());
                            let resolved =
                                objects.iter().filter_map(|&name| self.resolve_name(m, line, name)).collect();
                            self.notification_objects.insert((m, d), resolved);
                        }
                    }
                    None => self.counts[m as usize].unresolved += 1,
                }
            }
            self.check_imports(m);
        }
    }

    fn check_imports(&mut self, m: u32) {
        let module = &self.modules[m as usize];
        let mut missing_modules: Vec<(Sym, u32)> = Vec::new();
        for import in &module.imports {
            let symbol = self.name(import.symbol);
            if is_builtin_symbol(symbol) {
                continue;
            }
            match self.module_index.get(&import.from) {
                None => {
                    if !missing_modules.iter().any(|(from, _)| *from == import.from) {
                        missing_modules.push((import.from, import.line));
                    }
                }
                Some(&from) => {
                    let defined = self.local_defs[from as usize].contains_key(&import.symbol)
                        || self.local_types[from as usize].contains_key(&import.symbol);
                    if !defined {
                        let message =
                            format!("imports {symbol} from {}, which does not define it", self.name(import.from));
                        self.problem(Severity::Warning, m, import.line, message);
                    }
                }
            }
        }
        for (from, line) in missing_modules {
            let message = format!("imports from {}, which is not loaded", self.name(from));
            self.problem(Severity::Warning, m, line, message);
        }
    }

    fn resolve_def(&mut self, m: u32, d: u32) -> Option<u32> {
        match self.def_state[m as usize][d as usize] {
            State::Done(node) => return Some(node),
            State::Failed => return None,
            State::InProgress => {
                let def = &self.modules[m as usize].defs[d as usize];
                let message = format!("the OID of {} depends on itself", self.name(def.name));
                self.problem(Severity::Error, m, def.line, message);
                return None;
            }
            State::Unvisited => {}
        }
        let modules = self.modules;
        let def = &modules[m as usize].defs[d as usize];
        if self.depth >= MAX_CHAIN {
            // Real chains are a few dozen long; this bounds the recursion (stack).
            let message = format!("the OID of {} is more than {MAX_CHAIN} definitions deep", self.name(def.name));
            self.problem(Severity::Error, m, def.line, message);
            return None;
        }
        self.def_state[m as usize][d as usize] = State::InProgress;
        self.depth += 1;
        let node = match &def.value {
            DefValue::Oid(parts) => self.resolve_oid(m, def.line, parts),
            DefValue::Trap { enterprise, number } => self.resolve_name(m, def.line, *enterprise).map(|e| {
                let zero = self.child(e, 0);
                self.child(zero, *number)
            }),
        };
        self.depth -= 1;
        if node.is_none() {
            let message = format!("cannot resolve the OID of {}", self.name(def.name));
            self.problem(Severity::Error, m, def.line, message);
        }
        self.def_state[m as usize][d as usize] = match node {
            Some(node) => State::Done(node),
            None => State::Failed,
        };
        node
    }

    fn resolve_oid(&mut self, m: u32, line: u32, parts: &[OidPart]) -> Option<u32> {
        let mut node = match parts[0] {
            OidPart::Name(name) => self.resolve_name(m, line, name)?,
            OidPart::Qualified(module, name) => self.resolve_qualified(m, line, module, name)?,
            OidPart::Number(n) => self.child(ROOT, n),
            OidPart::Named(name, n) => {
                let node = self.child(ROOT, n);
                self.implicit_name(node, name, m);
                node
            }
        };
        for part in &parts[1..] {
            node = match *part {
                OidPart::Number(n) => self.child(node, n),
                OidPart::Named(name, n) => {
                    let child = self.child(node, n);
                    self.implicit_name(child, name, m);
                    child
                }
                OidPart::Name(name) | OidPart::Qualified(_, name) => {
                    let message = format!("name {} inside an OID value needs a number: name(n)", self.name(name));
                    self.problem(Severity::Error, m, line, message);
                    return None;
                }
            };
        }
        Some(node)
    }

    fn implicit_name(&mut self, node: u32, name: Sym, module: u32) {
        self.namings.push(Naming { node, name, module, rank: PRIORITY_IMPLICIT, def: NONE });
    }

    fn resolve_qualified(&mut self, m: u32, line: u32, module: Sym, name: Sym) -> Option<u32> {
        if let Some(&target) = self.module_index.get(&module)
            && let Some(&d) = self.local_defs[target as usize].get(&name)
        {
            return self.resolve_def(target, d);
        }
        self.resolve_name(m, line, name)
    }

    /// A name used in module `m`: its own definition, its import, a well-known
    /// root, or (tolerated, with a warning) any loaded module's definition.
    fn resolve_name(&mut self, m: u32, line: u32, name: Sym) -> Option<u32> {
        if let Some(&d) = self.local_defs[m as usize].get(&name) {
            return self.resolve_def(m, d);
        }
        let imported_from = self.imports[m as usize].get(&name).copied();
        if let Some(from) = imported_from
            && let Some(&target) = self.module_index.get(&from)
            && let Some(&d) = self.local_defs[target as usize].get(&name)
        {
            return self.resolve_def(target, d);
        }
        if let Some(arc) = well_known_root(self.name(name)) {
            return Some(self.child(ROOT, arc));
        }
        let candidates = self.global_defs.get(&name).cloned().unwrap_or_default();
        for (gm, gd) in candidates {
            if gm == m {
                continue;
            }
            if let Some(node) = self.resolve_def(gm, gd) {
                if self.reported.insert((m, name), ()).is_none() {
                    let how = match imported_from {
                        Some(from) => format!("imported from {}, which does not define it", self.name(from)),
                        None => "not imported".to_string(),
                    };
                    let message = format!(
                        "{} is {how}; using the definition in {}",
                        self.name(name),
                        self.name(self.modules[gm as usize].name)
                    );
                    self.problem(Severity::Warning, m, line, message);
                }
                return Some(node);
            }
        }
        if self.reported.insert((m, name), ()).is_none() {
            let message = format!("undefined name {}", self.name(name));
            self.problem(Severity::Error, m, line, message);
        }
        None
    }

    // ----- types -----------------------------------------------------------

    fn find_type(&self, m: u32, module: Option<Sym>, name: Sym) -> Option<(u32, u32)> {
        if let Some(module) = module
            && let Some(&target) = self.module_index.get(&module)
            && let Some(&t) = self.local_types[target as usize].get(&name)
        {
            return Some((target, t));
        }
        if let Some(&t) = self.local_types[m as usize].get(&name) {
            return Some((m, t));
        }
        if let Some(from) = self.imports[m as usize].get(&name)
            && let Some(&target) = self.module_index.get(from)
            && let Some(&t) = self.local_types[target as usize].get(&name)
        {
            return Some((target, t));
        }
        self.global_types.get(&name).and_then(|candidates| candidates.first().copied())
    }

    fn resolve_type_def_nested(&mut self, m: u32, t: u32) -> Option<ResolvedType> {
        self.depth += 1;
        let resolved = self.resolve_type_def(m, t);
        self.depth -= 1;
        resolved
    }

    fn resolve_type_def(&mut self, m: u32, t: u32) -> Option<ResolvedType> {
        match &self.type_state[m as usize][t as usize] {
            TypeState::Done(resolved) => return resolved.clone(),
            TypeState::InProgress => return None,
            TypeState::Unvisited => {}
        }
        if self.depth >= MAX_CHAIN {
            return None;
        }
        self.type_state[m as usize][t as usize] = TypeState::InProgress;
        let modules = self.modules;
        let type_def = &modules[m as usize].types[t as usize];
        let resolved = match &type_def.ty {
            TypeAst::Base { base, labels } => {
                Some(ResolvedType { base: *base, hint: type_def.hint, labels: labels.clone() })
            }
            TypeAst::Ref { module, name, labels } => match self.find_type(m, *module, *name) {
                Some((tm, tt)) => self.resolve_type_def_nested(tm, tt).map(|inner| ResolvedType {
                    base: inner.base,
                    hint: type_def.hint.or(inner.hint),
                    labels: if labels.is_empty() { inner.labels } else { labels.clone() },
                }),
                None => Some(ResolvedType { base: BaseType::Other, hint: type_def.hint, labels: labels.clone() }),
            },
            TypeAst::SequenceOf | TypeAst::Structured => None,
        };
        self.type_state[m as usize][t as usize] = TypeState::Done(resolved.clone());
        resolved
    }

    fn resolve_syntax(&mut self, m: u32, line: u32, ty: &TypeAst) -> Option<SyntaxKey> {
        match ty {
            TypeAst::Base { base, labels } => {
                Some(SyntaxKey { base: *base, tc: None, hint: None, units: None, labels: labels.clone() })
            }
            TypeAst::Ref { module, name, labels } => match self.find_type(m, *module, *name) {
                Some((tm, tt)) => {
                    let resolved = self.resolve_type_def(tm, tt)?;
                    Some(SyntaxKey {
                        base: resolved.base,
                        tc: Some(*name),
                        hint: resolved.hint,
                        units: None,
                        labels: if labels.is_empty() { resolved.labels } else { labels.clone() },
                    })
                }
                None => {
                    if self.reported.insert((m, *name), ()).is_none() {
                        let message = format!("unknown type {}", self.name(*name));
                        self.problem(Severity::Warning, m, line, message);
                    }
                    Some(SyntaxKey {
                        base: BaseType::Other,
                        tc: Some(*name),
                        hint: None,
                        units: None,
                        labels: labels.clone(),
                    })
                }
            },
            TypeAst::SequenceOf | TypeAst::Structured => None,
        }
    }

    // ----- freezing ----------------------------------------------------------

    /// Builds the runtime table. Call after [`Linker::link_all`].
    pub fn freeze(mut self) -> Mibs {
        let node_count = self.tree.len();
        // Primary naming per build node: highest rank; among equals, an SMIv2 module, then
        // the module other modules import the name from most (SNMPv2-SMI's mib-2 over RFC1213-MIB's),
        // then the first defined.
        let mut imported: FnvMap<(Sym, Sym), u32> = FnvMap::default();
        for module in self.modules {
            for import in &module.imports {
                *imported.entry((import.from, import.symbol)).or_default() += 1;
            }
        }
        let preference = |naming: &Naming| {
            let module = &self.modules[naming.module as usize];
            (naming.rank, module.smiv2, imported.get(&(module.name, naming.name)).copied().unwrap_or(0))
        };
        let mut primary = vec![NONE; node_count];
        for (i, naming) in self.namings.iter().enumerate() {
            let slot = &mut primary[naming.node as usize];
            if *slot == NONE || preference(&self.namings[*slot as usize]) < preference(naming) {
                *slot = i as u32;
            }
        }

        // Breadth-first order: children of a node are contiguous, sorted by subid.
        let mut edges: Vec<(u32, u32, u32)> =
            self.tree.iter().enumerate().skip(1).map(|(i, &(parent, subid))| (parent, subid, i as u32)).collect();
        edges.sort_unstable();
        let mut first_edge = vec![0u32; node_count + 1];
        for &(parent, _, _) in &edges {
            first_edge[parent as usize + 1] += 1;
        }
        for i in 0..node_count {
            first_edge[i + 1] += first_edge[i];
        }
        let mut order = Vec::with_capacity(node_count);
        let mut final_index = vec![NONE; node_count];
        let mut queue = VecDeque::from([ROOT]);
        while let Some(node) = queue.pop_front() {
            final_index[node as usize] = order.len() as u32;
            order.push(node);
            let range = first_edge[node as usize] as usize..first_edge[node as usize + 1] as usize;
            queue.extend(edges[range].iter().map(|&(_, _, child)| child));
        }

        let mut builder = TableBuilder::default();
        // Module names: those that name at least one node, sorted.
        let mut module_syms: Vec<Sym> = self.namings.iter().map(|n| self.modules[n.module as usize].name).collect();
        module_syms.sort_by(|a, b| self.name(*a).cmp(self.name(*b)));
        module_syms.dedup();
        let module_slot: FnvMap<Sym, u32> = module_syms.iter().enumerate().map(|(i, s)| (*s, i as u32)).collect();
        let modules: Vec<Str> = module_syms.iter().map(|s| builder.string(self.interner.resolve(*s))).collect();

        // Syntaxes and notification objects come from the primary definitions.
        let mut nodes = Vec::with_capacity(node_count);
        let mut syntax_ids: FnvMap<SyntaxKey, u32> = FnvMap::default();
        let mut syntaxes = Vec::new();
        let mut labels = Vec::new();
        let mut objects = Vec::new();
        let mut row_like = vec![false; node_count];
        for &build in &order {
            let (parent, subid) = self.tree[build as usize];
            let range = first_edge[build as usize]..first_edge[build as usize + 1];
            let first_child = if range.is_empty() { 0 } else { final_index[edges[range.start as usize].2 as usize] };
            let mut rec = NodeRec {
                parent: if parent == NONE { NONE } else { final_index[parent as usize] },
                subid,
                first_child,
                child_count: range.end - range.start,
                name: Str::default(),
                module: NONE,
                kind: NodeKind::Node,
                syntax: NONE,
                objects_start: 0,
                objects_len: 0,
            };
            let p = primary[build as usize];
            if p != NONE {
                let naming = self.namings[p as usize];
                rec.name = builder.string(self.interner.resolve(naming.name));
                rec.module = module_slot[&self.modules[naming.module as usize].name];
                if naming.def != NONE {
                    let modules = self.modules;
                    let def = &modules[naming.module as usize].defs[naming.def as usize];
                    match &def.kind {
                        DefKind::ObjectType { syntax, row, units } => {
                            rec.kind = match syntax {
                                Some(TypeAst::SequenceOf) => NodeKind::Table,
                                _ if *row => NodeKind::Row,
                                Some(TypeAst::Ref { name, module, .. })
                                    if self.is_structured_type(naming.module, *module, *name) =>
                                {
                                    NodeKind::Row
                                }
                                _ if parent != NONE && row_like[parent as usize] => NodeKind::Column,
                                _ => NodeKind::Scalar,
                            };
                            row_like[build as usize] = rec.kind == NodeKind::Row;
                            if let Some(ty) = syntax
                                && let Some(mut key) = self.resolve_syntax(naming.module, def.line, ty)
                            {
                                key.units = *units;
                                rec.syntax = *syntax_ids.entry(key.clone()).or_insert_with(|| {
                                    let start = labels.len() as u32;
                                    for (value, label) in &key.labels {
                                        labels.push(LabelRec {
                                            value: *value,
                                            label: builder.string(self.interner.resolve(*label)),
                                        });
                                    }
                                    syntaxes.push(SyntaxRec {
                                        base: key.base,
                                        tc: key
                                            .tc
                                            .map(|s| builder.string(self.interner.resolve(s)))
                                            .unwrap_or_default(),
                                        hint: key
                                            .hint
                                            .map(|s| builder.string(self.interner.resolve(s)))
                                            .unwrap_or_default(),
                                        units: key
                                            .units
                                            .map(|s| builder.string(self.interner.resolve(s)))
                                            .unwrap_or_default(),
                                        labels_start: start,
                                        labels_len: key.labels.len() as u32,
                                    });
                                    (syntaxes.len() - 1) as u32
                                });
                            }
                        }
                        DefKind::Notification { .. } => {
                            rec.kind = NodeKind::Notification;
                            rec.objects_start = objects.len() as u32;
                            if let Some(resolved) = self.notification_objects.get(&(naming.module, naming.def)) {
                                objects.extend_from_slice(resolved); // build indices; remapped below
                            }
                            rec.objects_len = objects.len() as u32 - rec.objects_start;
                        }
                        DefKind::Other { .. } => {}
                    }
                }
            }
            nodes.push(rec);
        }
        let objects: Vec<u32> = objects.into_iter().map(|build: u32| final_index[build as usize]).collect();

        let mut by_name: Vec<NameRec> = self
            .namings
            .iter()
            .map(|n| NameRec {
                name: builder.string(self.interner.resolve(n.name)),
                module: module_slot[&self.modules[n.module as usize].name],
                node: final_index[n.node as usize],
            })
            .collect();
        let strings = builder.finish();
        let text = |s: Str| &strings[s.off as usize..(s.off + s.len) as usize];
        by_name.sort_by(|a, b| text(a.name).cmp(text(b.name)).then(a.module.cmp(&b.module)).then(a.node.cmp(&b.node)));
        by_name.dedup();
        Mibs { strings, nodes, by_name, modules, syntaxes, labels, objects }
    }

    fn is_structured_type(&self, m: u32, module: Option<Sym>, name: Sym) -> bool {
        self.find_type(m, module, name)
            .is_some_and(|(tm, tt)| matches!(self.modules[tm as usize].types[tt as usize].ty, TypeAst::Structured))
    }
}

/// Deduplicating string arena builder.
#[derive(Default)]
struct TableBuilder {
    strings: String,
    offsets: FnvMap<Box<str>, Str>,
}

impl TableBuilder {
    fn string(&mut self, s: &str) -> Str {
        if let Some(&found) = self.offsets.get(s) {
            return found;
        }
        let found = Str { off: self.strings.len() as u32, len: s.len() as u32 };
        self.strings.push_str(s);
        self.offsets.insert(s.into(), found);
        found
    }

    fn finish(self) -> String {
        self.strings
    }
}
