//! THREAD (RFC 5256): ORDEREDSUBJECT (§2.2) and REFERENCES (§2.3), with placeholder
//! ("dummy") containers for referenced messages the folder does not hold, their pruning,
//! and the merging of root threads by base subject. Pure: the messages come in with what
//! each says of itself. Nothing here recurses, so a reply chain of any depth cannot
//! exhaust the stack.

use std::collections::{HashMap, HashSet};

/// How far up a loop check walks.
const MAX_WALK: usize = 10_000;

/// The two algorithms of RFC 5256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    OrderedSubject,
    References,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_uppercase().as_str() {
            "ORDEREDSUBJECT" => Some(Algorithm::OrderedSubject),
            "REFERENCES" => Some(Algorithm::References),
            _ => None,
        }
    }
}

/// One message as threading sees it.
#[derive(Debug, Clone)]
pub struct ThreadMessage {
    /// What the answer names it by: sequence number or UID.
    pub id: u32,
    pub seq: u32,
    /// The sent date (Date: header, else the internal date), seconds.
    pub date: i64,
    /// RFC 5256 §2.1 base subject.
    pub base_subject: String,
    /// The subject carried a reply or forward marker.
    pub reply: bool,
    pub message_id: Option<String>,
    /// References (or the first In-Reply-To id), oldest first.
    pub references: Vec<String>,
}

/// ORDEREDSUBJECT: messages grouped by base subject; each group is its first message (by
/// date) with the others as its children.
pub fn ordered_subject(messages: &[ThreadMessage]) -> String {
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&messages[a], &messages[b]);
        (&x.base_subject, x.date, x.seq).cmp(&(&y.base_subject, y.date, y.seq))
    });
    let mut groups: Vec<Vec<usize>> = vec![];
    for i in order {
        match groups.last_mut() {
            Some(g) if messages[g[0]].base_subject == messages[i].base_subject => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    // Threads in the order of their first message's date.
    groups.sort_by_key(|g| (messages[g[0]].date, messages[g[0]].seq));
    let mut out = String::new();
    for g in groups {
        out.push('(');
        out.push_str(&messages[g[0]].id.to_string());
        match g.len() {
            1 => {}
            2 => out.push_str(&format!(" {}", messages[g[1]].id)),
            _ => {
                out.push(' ');
                for &c in &g[1..] {
                    out.push_str(&format!("({})", messages[c].id));
                }
            }
        }
        out.push(')');
    }
    out
}

/// A node of the REFERENCES tree: a message, or a placeholder for one only referenced.
struct Node {
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Forest<'m> {
    messages: &'m [ThreadMessage],
    nodes: Vec<Node>,
}

impl Forest<'_> {
    fn add(&mut self, message: Option<usize>) -> usize {
        self.nodes.push(Node {
            message,
            parent: None,
            children: vec![],
        });
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors. A node without children is nobody's
    /// ancestor but its own, which keeps the common case (a new message) O(1); the walk
    /// is bounded, and a link it cannot clear is refused like a loop.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        if a == b {
            return true;
        }
        if self.nodes[a].children.is_empty() {
            return false;
        }
        let mut at = self.nodes[b].parent;
        for _ in 0..MAX_WALK {
            match at {
                Some(x) if x == a => return true,
                Some(x) => at = self.nodes[x].parent,
                None => return false,
            }
        }
        true
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    /// Makes `child` a child of `parent`, unless that would make a loop.
    fn link(&mut self, parent: usize, child: usize) {
        if self.is_ancestor(child, parent) {
            return;
        }
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    fn is_dummy(&self, n: usize) -> bool {
        self.nodes[n].message.is_none()
    }

    /// The message that stands for a node: itself, or a placeholder's first child.
    fn representative(&self, n: usize) -> Option<&ThreadMessage> {
        let mut at = n;
        loop {
            match self.nodes[at].message {
                Some(m) => return Some(&self.messages[m]),
                None => at = *self.nodes[at].children.first()?,
            }
        }
    }

    fn sort_key(&self, n: usize) -> (i64, u32) {
        self.representative(n)
            .map(|m| (m.date, m.seq))
            .unwrap_or((i64::MAX, u32::MAX))
    }

    /// Every node below `roots`, children after their parents.
    fn preorder(&self, roots: &[usize]) -> Vec<usize> {
        let mut out = vec![];
        let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            out.push(n);
            stack.extend(self.nodes[n].children.iter().rev());
        }
        out
    }

    /// §2.3 (4) and (6): siblings by sent date (a placeholder by its first child's).
    fn sort(&mut self, roots: &mut [usize]) {
        let order = self.preorder(roots);
        for &n in order.iter().rev() {
            let mut children = std::mem::take(&mut self.nodes[n].children);
            children.sort_by_key(|&c| self.sort_key(c));
            self.nodes[n].children = children;
        }
        roots.sort_by_key(|&r| self.sort_key(r));
    }

    /// §2.3 (3): placeholders without children go; those with children give them to their
    /// parent, except at the root with more than one child.
    fn prune(&mut self, roots: Vec<usize>) -> Vec<usize> {
        let order = self.preorder(&roots);
        for &n in order.iter().rev() {
            let children = std::mem::take(&mut self.nodes[n].children);
            let mut kept = vec![];
            for c in children {
                if self.is_dummy(c) {
                    let grand = std::mem::take(&mut self.nodes[c].children);
                    for &g in &grand {
                        self.nodes[g].parent = Some(n);
                    }
                    kept.extend(grand);
                } else {
                    kept.push(c);
                }
            }
            self.nodes[n].children = kept;
        }
        let mut out = vec![];
        for r in roots {
            if !self.is_dummy(r) {
                out.push(r);
                continue;
            }
            match self.nodes[r].children.len() {
                0 => {}
                1 => {
                    let only = self.nodes[r].children[0];
                    self.nodes[only].parent = None;
                    out.push(only);
                }
                _ => out.push(r),
            }
        }
        out
    }

    /// §2.3 (5): root threads with the same base subject are gathered.
    fn merge_subjects(&mut self, roots: Vec<usize>) -> Vec<usize> {
        let subject = |f: &Self, n: usize| -> (String, bool) {
            f.representative(n)
                .map(|m| (m.base_subject.clone(), m.reply))
                .unwrap_or_default()
        };
        let mut table: HashMap<String, usize> = HashMap::new();
        for &r in &roots {
            let (s, reply) = subject(self, r);
            if s.is_empty() {
                continue;
            }
            match table.get(&s).copied() {
                None => {
                    table.insert(s, r);
                }
                Some(e) => {
                    let (_, e_reply) = subject(self, e);
                    let better = (self.is_dummy(r) && !self.is_dummy(e))
                        || (!self.is_dummy(e) && e_reply && !reply);
                    if better {
                        table.insert(s, r);
                    }
                }
            }
        }
        let mut removed = HashSet::new();
        let mut replaced = HashMap::new();
        for &r in &roots {
            if self.nodes[r].parent.is_some() {
                continue;
            }
            let (s, reply) = subject(self, r);
            let Some(&e) = table.get(&s) else {
                continue;
            };
            if e == r {
                continue;
            }
            let (_, e_reply) = subject(self, e);
            if self.is_dummy(e) && self.is_dummy(r) {
                for c in std::mem::take(&mut self.nodes[r].children) {
                    self.nodes[c].parent = None;
                    self.link(e, c);
                }
            } else if self.is_dummy(e) || (reply && !e_reply) {
                self.link(e, r);
            } else {
                let d = self.add(None);
                replaced.insert(e, d);
                self.link(d, e);
                self.link(d, r);
                table.insert(s, d);
            }
            removed.insert(r);
        }
        roots
            .into_iter()
            .map(|r| replaced.get(&r).copied().unwrap_or(r))
            .filter(|r| !removed.contains(r))
            .collect()
    }

    /// RFC 5256 §4: `(3 6 (4 23)(44 7 96))`; a placeholder is the list of its branches.
    fn render(&self, roots: &[usize]) -> String {
        enum Step {
            Node(usize, bool),
            Text(&'static str),
        }
        let mut out = String::new();
        for &r in roots {
            out.push('(');
            let mut stack = vec![Step::Node(r, false)];
            while let Some(step) = stack.pop() {
                let (n, spaced) = match step {
                    Step::Text(t) => {
                        out.push_str(t);
                        continue;
                    }
                    Step::Node(n, spaced) => (n, spaced),
                };
                let message = self.nodes[n].message;
                if let Some(m) = message {
                    if spaced {
                        out.push(' ');
                    }
                    out.push_str(&self.messages[m].id.to_string());
                }
                let children = &self.nodes[n].children;
                if children.len() == 1 && message.is_some() {
                    stack.push(Step::Node(children[0], true));
                    continue;
                }
                for &c in children.iter().rev() {
                    stack.push(Step::Text(")"));
                    stack.push(Step::Node(c, false));
                    stack.push(Step::Text("("));
                }
                if message.is_some() && !children.is_empty() {
                    stack.push(Step::Text(" "));
                }
            }
            out.push(')');
        }
        out
    }
}

/// REFERENCES (§2.3): threads from Message-ID, References and In-Reply-To, then gathered
/// by base subject.
pub fn references(messages: &[ThreadMessage]) -> String {
    let mut f = Forest {
        messages,
        nodes: Vec::with_capacity(messages.len()),
    };
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        // (1)A: each consecutive pair of References is parent and child, unless already
        // linked or a loop.
        let mut chain = vec![];
        for r in &m.references {
            let n = match by_id.get(r.as_str()) {
                Some(&n) => n,
                None => {
                    let n = f.add(None);
                    by_id.insert(r, n);
                    n
                }
            };
            chain.push(n);
        }
        for pair in chain.windows(2) {
            let (p, c) = (pair[0], pair[1]);
            if p != c && f.nodes[c].parent.is_none() {
                f.link(p, c);
            }
        }
        // (1)B: the message's own node (filling a placeholder), a duplicate or missing
        // Message-ID getting a node of its own; its parent is the last reference.
        let own = match m
            .message_id
            .as_deref()
            .and_then(|id| by_id.get(id).copied())
        {
            Some(n) if f.nodes[n].message.is_none() => {
                f.nodes[n].message = Some(i);
                n
            }
            _ => {
                let n = f.add(Some(i));
                if let Some(id) = m.message_id.as_deref() {
                    by_id.entry(id).or_insert(n);
                }
                n
            }
        };
        f.unlink(own);
        if let Some(&last) = chain.last() {
            if last != own {
                f.link(last, own);
            }
        }
    }
    // (2) the roots, (3) pruned, (4) sorted, (5) gathered by subject, (6) sorted again.
    let roots: Vec<usize> = (0..f.nodes.len())
        .filter(|&n| f.nodes[n].parent.is_none())
        .collect();
    let mut roots = f.prune(roots);
    f.sort(&mut roots);
    let mut roots = f.merge_subjects(roots);
    f.sort(&mut roots);
    f.render(&roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u32, date: i64, subject: &str, own: &str, refs: &[&str]) -> ThreadMessage {
        let (base, reply) = crate::search::base_subject_and_reply(subject);
        ThreadMessage {
            id,
            seq: id,
            date,
            base_subject: base,
            reply,
            message_id: (!own.is_empty()).then(|| own.to_string()),
            references: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn replies_branch_and_missing_parents_become_placeholders() {
        let m = [
            msg(1, 10, "Pratica", "<a>", &[]),
            msg(2, 20, "Re: Pratica", "<b>", &["<a>"]),
            msg(3, 30, "Re: Pratica", "<c>", &["<a>"]),
            msg(4, 40, "Re: Pratica", "<d>", &["<a>", "<c>"]),
            // Two replies to a message the folder does not hold.
            msg(5, 50, "Re: Assente", "<e>", &["<x>"]),
            msg(6, 60, "Re: Assente", "<f>", &["<x>"]),
            // A reply to a missing message, alone: promoted to the root.
            msg(7, 70, "Re: Solo", "<g>", &["<y>"]),
        ];
        assert_eq!(references(&m), "(1 (2)(3 4))((5)(6))(7)");
    }

    #[test]
    fn roots_with_the_same_subject_are_gathered() {
        let m = [
            msg(1, 10, "Delibera 42", "<a>", &[]),
            // A reply whose references were lost: under the original.
            msg(2, 20, "Re: Delibera 42", "<b>", &[]),
            // Two originals with the same subject: a placeholder holds both.
            msg(3, 30, "Verbale", "<c>", &[]),
            msg(4, 40, "Verbale", "<d>", &[]),
            msg(5, 50, "", "<e>", &[]),
        ];
        assert_eq!(references(&m), "(1 2)((3)(4))(5)");
    }

    #[test]
    fn loops_duplicates_and_deep_chains_are_harmless() {
        let m = [
            msg(1, 10, "a", "<a>", &["<b>"]),
            msg(2, 20, "b", "<b>", &["<a>"]),
            msg(3, 30, "c", "<a>", &[]),
        ];
        let t = references(&m);
        assert!(t.contains('1') && t.contains('2') && t.contains('3'), "{t}");
        // 100,000 replies in one chain: no recursion, no stack to exhaust.
        let n = 100_000;
        let chain: Vec<ThreadMessage> = (0..n)
            .map(|i| {
                let own = format!("<m{i}>");
                let parent = format!("<m{}>", i.max(1) - 1);
                let refs: Vec<&str> = if i == 0 {
                    vec![]
                } else {
                    vec![parent.as_str()]
                };
                msg(i + 1, i as i64, "Catena", &own, &refs)
            })
            .collect();
        let t = references(&chain);
        assert!(
            t.starts_with("(1 2 3 ") && t.ends_with(" 100000)"),
            "{}",
            &t[..20]
        );
    }

    proptest::proptest! {
        /// Any tangle of ids, references, duplicates and loops: every message appears once,
        /// parentheses balance, and nothing else is printed.
        #[test]
        fn every_message_once_whatever_the_references(
            raw in proptest::collection::vec(
                (0u8..6, proptest::collection::vec(0u8..6, 0..4), 0u8..3, 0i64..5),
                0..24,
            )
        ) {
            let subjects = ["a", "Re: a", "b"];
            let m: Vec<ThreadMessage> = raw
                .iter()
                .enumerate()
                .map(|(i, (own, refs, subject, date))| {
                    let own = format!("<{own}>");
                    let refs: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
                    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
                    msg(i as u32 + 1, *date, subjects[*subject as usize], &own, &refs)
                })
                .collect();
            for out in [references(&m), ordered_subject(&m)] {
                let mut ids: Vec<u32> = out
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|t| !t.is_empty())
                    .map(|t| t.parse().unwrap())
                    .collect();
                ids.sort();
                proptest::prop_assert_eq!(ids, (1..=m.len() as u32).collect::<Vec<_>>());
                let mut depth = 0i32;
                for c in out.chars() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        ' ' | '0'..='9' => {}
                        other => proptest::prop_assert!(false, "{other} in {out}"),
                    }
                    proptest::prop_assert!(depth >= 0, "{out}");
                }
                proptest::prop_assert_eq!(depth, 0);
                proptest::prop_assert!(!out.contains("()"), "{}", out);
            }
        }
    }

    #[test]
    fn ordered_subject_groups_by_subject_then_date() {
        let m = [
            msg(1, 30, "Verbale", "", &[]),
            msg(2, 10, "Re: verbale", "", &[]),
            msg(3, 20, "Fattura", "", &[]),
            msg(4, 40, "Verbale", "", &[]),
        ];
        assert_eq!(ordered_subject(&m), "(2 (1)(4))(3)");
    }
}
