//! Which checks a check needs to have passed before it can say anything of
//! its own. With nothing installed, every acceptance check fails, but for
//! one cause: the unit is missing. Reporting twelve failures hides that
//! cause; so a check whose prerequisite failed (or was itself skipped for
//! one) is skipped naming the check that failed, as preflight's session
//! checks say "see session.systemd".
//!
//! Only failures cascade: a prerequisite that warns or could not be judged
//! (a probe not run against a tree) lets its dependants run and speak for
//! themselves.

/// The checks `id` needs. The runner starts a prerequisite before its
/// dependants, whatever order the suite lists them in.
pub(crate) fn of(id: &str) -> &'static [&'static str] {
    match id {
        // install.binary reads the binary from the unit's ExecStart.
        "install.binary" | "unit.active" => &["unit.present"],
        // A unit that is not running has no cgroup, no process, no
        // kubeconfig written by the server, and forwards no port.
        "unit.delegation-live" | "rootless.userns" | "kubeconfig.present" | "ports.api" => {
            &["unit.active"]
        }
        "api.ready" => &["kubeconfig.present"],
        "node.single-ready" | "pods.system" | "ports.offset" | "cluster.single-node" => {
            &["api.ready"]
        }
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::{CATALOGUE, find};

    /// Every prerequisite is a check of the same phase, and the graph has
    /// no cycle (the runner would wait forever).
    #[test]
    fn prerequisites_are_checks_of_the_same_phase_without_cycles() {
        for c in CATALOGUE {
            let mut path = vec![c.id];
            let mut todo: Vec<(&str, usize)> = super::of(c.id).iter().map(|p| (*p, 1)).collect();
            while let Some((p, depth)) = todo.pop() {
                let pc = find(p).unwrap_or_else(|| panic!("{}: unknown prerequisite {p}", c.id));
                assert_eq!(pc.phase, c.phase, "{} needs {p} of another phase", c.id);
                path.truncate(depth);
                assert!(!path.contains(&p), "cycle: {path:?} -> {p}");
                path.push(p);
                todo.extend(super::of(p).iter().map(|q| (*q, depth + 1)));
            }
        }
    }
}
