//! The command line: what the user typed. Commands in [`crate::cmd`] turn
//! it into a validated plan before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::checks::Phase;

/// What `krc --version` prints after the name: the commit too, so that a
/// bug report names the exact source (build.rs records it).
pub(crate) const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KRC_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "krc",
    version = VERSION,
    about = "Qualify a host for rootless k3s, install it, and accept the result, as a test report",
    long_about = "krc runs conformance checks for rootless k3s and reports them for people (terminal) and CI (JUnit XML, JSON).\n\n  krc preflight         qualify this host before installing (no changes made)\n  krc accept            accept an installed rootless k3s (API, node, pods, port forwards)\n  krc list              every check: id, phase, severity, title\n  krc explain ID        what a check verifies, why rootless k3s needs it, how to fix it\n  krc install           install rootless k3s (reversible; --dry-run shows the plan)\n  krc uninstall         undo what krc install recorded\n  krc pins REF          write the SHA-256 pins of a k3s release (for --pins)\n  krc run               preflight, install and accept in one go, one report for CI\n\nExit status: 0 no required check failed (warnings allowed, unless --warnings-as-failures); 1 a required check failed; 2 usage or internal error; 3 reboot required (installer); 4 no check matched the filter.",
    after_help = "Examples:\n  krc preflight                          qualify this host for the invoking user\n  sudo krc preflight --user k3s          as root, for the user k3s\n  krc preflight cgroup                   only the checks whose id contains \"cgroup\"\n  krc preflight --junit report.xml       also write JUnit for CI\n  krc explain cgroup.delegation"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Qualify this host for rootless k3s before installing; changes nothing
    #[command(
        after_help = "FILTER, --skip, --exact, --list and --test-threads behave as in `cargo test`.\nWith --format, libtest's own output replaces krc's.\nExit status: 0 no required check failed (warnings allowed); 1 a required check failed; 2 usage or internal error; 4 no check matched the filter.\n\nExamples:\n  krc preflight --skip session --junit pre.xml\n  krc preflight --root fixtures/hosts/hybrid   # judge a directory tree instead of /"
    )]
    Preflight(Box<PreflightArgs>),
    /// Accept an installed rootless k3s: unit, kubeconfig, API, node, pods, port forwards
    #[command(
        long_about = "Accept an installed rootless k3s: the binary and user unit, the kubeconfig, the API over verified TLS, one Ready node in the rootless network, the system pods, and the port forwards (LoadBalancer port p on host port p + 10000 when p <= 1024, else p).\n\nports.offset creates a LoadBalancer Service in the namespace krc-acceptance and always deletes the namespace again (on failure and on Ctrl-C too). No report contains the kubeconfig's key, certificate or token.",
        after_help = "FILTER, --skip, --exact, --list and --test-threads behave as in `cargo test`.\nExit status: 0 no required check failed (warnings allowed); 1 a required check failed; 2 usage or internal error; 4 no check matched the filter.\n\nExamples:\n  krc accept                                 as the k3s user, after krc install\n  sudo krc accept --user k3s --junit acc.xml as root, for the user k3s, with JUnit for CI\n  krc accept api --skip ports.offset         only API checks, without the active port probe\n  krc accept --kubeconfig ./k3s.yaml --timeout 600\n  krc explain ports.offset"
    )]
    Accept(Box<AcceptArgs>),
    /// Install rootless k3s for a user: reversible, idempotent, --dry-run first
    #[command(
        after_help = "Steps (each skipped when already satisfied): packages, subids, cgroup-v2, delegation,\nsysctl, linger, kernel-modules, apparmor-profile, k3s-binary, rootful-disabled, user-unit,\nstart, wait-api.\n\nExit status: 0 installed (or nothing to do); 1 a step failed (this run's changes were\nundone) or preflight refused; 2 bad flag; 3 reboot required (run it again after the reboot).\n\nExamples:\n  krc install --dry-run                       show every file and command, change nothing\n  sudo krc install --user k3s --yes           as root, for the user k3s\n  krc install --offline ./bundle --yes          the bundle's pins.toml verifies it\n  krc install --require-pins --pins pins.toml   only pinned artifacts (krc pins REF writes them)\n  krc uninstall --dry-run                     what krc would undo\n\nSee docs/install.md for the journal, the offline bundle layout and the pins file."
    )]
    Install(Box<InstallArgs>),
    /// Undo exactly what krc install recorded in its journal
    Uninstall(UninstallArgs),
    /// Download a k3s release once, verify it, and write its pins file (for --pins and --require-pins)
    #[command(
        long_about = "Download the artifacts of a k3s release (install.sh, the k3s binary, sha256sum-ARCH.txt) once, verify the binary against the release's checksum file fetched over verified TLS (as a default krc install does), and write the pins file `krc install --pins FILE` reads. Review it and commit it: with --require-pins, krc installs only what it pins.",
        after_help = "Examples:\n  krc pins v1.33.5+k3s1 --output pins.toml\n  krc pins v1.33.5+k3s1 --mirror https://mirror.example/k3s --output pins.toml\n  krc install --require-pins --pins pins.toml --yes\n\nAn offline bundle: put pins.toml beside the artifacts (docs/install.md)."
    )]
    Pins(PinsArgs),
    /// Download a k3s release once, verify it, and write an offline bundle (the artifacts and their pins.toml) for `krc install --offline DIR`
    #[command(
        after_help = "Examples:\n  krc bundle v1.33.5+k3s1 ./bundle\n  sudo krc install --offline ./bundle --yes      (on the host without network)"
    )]
    Bundle(BundleArgs),
    /// Preflight, install and accept in one go, with one report of three testsuites (for CI)
    #[command(
        long_about = "Run the three phases in order and write one report with a testsuite for each:\n  preflight   the host as found (failures here are what install is about to fix)\n  install     one testcase per step: satisfied, applied, failed, undone\n  acceptance  rootless k3s works and its limits hold\n\nThe exit status comes from install and acceptance: 0 all required acceptance checks passed; 1 install failed (its changes undone), preflight refused, or a required acceptance check failed; 2 bad flag; 3 reboot required (acceptance is then reported skipped; run krc run again after the reboot).\nRun as the k3s user, krc re-runs itself under `sudo -n` for the root steps; or run it as root with --user NAME.",
        after_help = "Examples:\n  krc run --yes --junit krc.xml --html krc.html\n  sudo krc run --user k3s --yes --offline ./bundle --pins pins.toml --junit krc.xml\n  krc run --dry-run          preflight and the install plan; changes nothing, acceptance skipped"
    )]
    #[command(
        mut_arg("dry_run", |a| a.help("Run preflight and print the install plan (files, commands); install nothing, report acceptance as skipped")),
        mut_arg("junit", |a| a.help("Write JUnit XML to FILE: one testsuite per phase (preflight, install, acceptance)")),
        mut_arg("json", |a| a.help("Write JSON (krc.report/v1) to FILE: all three phases")),
    )]
    Run(Box<RunArgs>),
    /// List every check: id, phase, severity, title
    List(ListArgs),
    /// Explain a check: what it verifies, why rootless k3s needs it, how to fix it
    Explain {
        /// A check id, as `krc list` prints it (e.g. cgroup.unified)
        id: String,
    },
    /// Print the version and commit; with --verbose also target, glibc floor, build date, features
    #[command(
        after_help = "`krc -vV` is the same as `krc version --verbose`: paste its output into a bug report."
    )]
    Version {
        /// Also print the target, the glibc floor, the build date and the enabled features
        #[arg(short, long)]
        verbose: bool,
    },
    /// Internal: the user-namespace probe helper krc runs as the target user
    #[command(name = "__userns-probe", hide = true)]
    UsernsProbe,
    /// Internal: write the man pages or shell completions into DIR (release builds)
    #[command(name = "__generate", hide = true)]
    Generate {
        /// What to write: man (krc.1 and one page per subcommand) or completions (bash, zsh, fish)
        #[arg(value_enum)]
        what: Generated,
        /// The directory to write into (created if missing)
        dir: PathBuf,
    },
}

/// What `krc __generate` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Generated {
    Man,
    Completions,
}

pub(crate) use crate::suite::config::MAX_WAIT_SECS;

/// The most worker threads a suite may run on: more only adds contention
/// (a suite has a few dozen checks; the runner also caps at their number).
pub(crate) const MAX_TEST_THREADS: u64 = 64;

/// A directory that exists: `--root` is checked while parsing, so every
/// command refuses a bad one the same way (exit 2, one line).
fn existing_dir(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(p),
        Ok(_) => Err("not a directory; give the root of a host tree, or /".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no such directory; give the root of a host tree, or /".into())
        }
        Err(e) => Err(format!("{}; give the root of a host tree, or /", e.kind())),
    }
}

/// The harness flags krc honours, named as libtest names them so that
/// they behave as `cargo test` users expect. libtest's flags that mean
/// nothing for a check suite (`--bench`, `--test`, `--ignored`,
/// `--include-ignored`, `--nocapture`, `--show-output`, `-Z`) are not
/// accepted: clap rejects them as unknown (exit 2).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct HarnessArgs {
    /// Run only the checks whose id contains FILTER (with --exact: equals it)
    #[arg(value_name = "FILTER")]
    pub(crate) filter: Option<String>,

    /// FILTER and --skip match whole check ids, not parts of them
    #[arg(long)]
    pub(crate) exact: bool,

    /// Skip the checks whose id contains FILTER (repeatable; --exact applies)
    #[arg(long, value_name = "FILTER")]
    pub(crate) skip: Vec<String>,

    /// List the checks that would run, as `cargo test -- --list` does; run nothing
    #[arg(long)]
    pub(crate) list: bool,

    /// Run the checks on N threads, 1 to 64 [default: the number of CPUs, at most the number of checks]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_TEST_THREADS))]
    pub(crate) test_threads: Option<u64>,

    /// Print libtest's output instead of krc's report (json: one event per line, for tools)
    #[arg(long, value_enum, value_name = "pretty|terse|json")]
    pub(crate) format: Option<libtest_mimic::FormatSetting>,

    /// Leave the passing checks out of krc's report (libtest's terse: --format terse)
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// Colour: auto (a terminal without NO_COLOR and TERM=dumb), always or never
    #[arg(long, value_enum, value_name = "auto|always|never")]
    pub(crate) color: Option<libtest_mimic::ColorSetting>,

    /// Also write libtest's own output to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) logfile: Option<String>,
}

impl HarnessArgs {
    /// The libtest-mimic arguments these flags stand for. `quiet` reaches
    /// libtest only as krc's own mode: libtest would turn `-q --format json`
    /// into terse output.
    pub(crate) fn to_libtest(&self) -> libtest_mimic::Arguments {
        libtest_mimic::Arguments {
            filter: self.filter.clone(),
            exact: self.exact,
            skip: self.skip.clone(),
            list: self.list,
            test_threads: self.test_threads.map(|n| n as usize),
            format: self.format,
            quiet: self.quiet && self.format.is_none(),
            color: self.color,
            logfile: self.logfile.clone(),
            ..libtest_mimic::Arguments::default()
        }
    }
}

/// Options every suite-running command shares.
#[derive(Debug, Args)]
pub(crate) struct SuiteArgs {
    #[command(flatten)]
    pub(crate) harness: HarnessArgs,

    /// Turn advisory warnings into failures: exit 1, and a <failure type="krc.warn"> in JUnit
    #[arg(long)]
    pub(crate) warnings_as_failures: bool,

    /// The user who will run rootless k3s [default: the invoking user, or SUDO_USER under sudo]
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,

    /// A suite file selecting checks, their severity and parameters [default: the built-in suite]
    #[arg(long, value_name = "FILE")]
    pub(crate) suite: Option<PathBuf>,

    /// Write a JUnit XML report to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,

    /// Write a JSON report (schema krc.report/v1) to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,

    /// Write a self-contained HTML report to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
}

const ROOTLESS_HEADING: &str = "Rootless settings (K3S_ROOTLESS_*; install and run set them, preflight and accept judge by them)";

/// The install's `K3S_ROOTLESS_*` settings. `krc install` and `krc run`
/// install with them; `krc preflight` and `krc accept` judge by them (over
/// the suite's `[params]`), so every phase sees the same install.
#[derive(Debug, Args, Default)]
pub(crate) struct RootlessArgs {
    /// K3S_ROOTLESS_PORT_DRIVER: builtin or slirp4netns [default: slirp4netns]
    #[arg(long, help_heading = ROOTLESS_HEADING, value_name = "DRIVER")]
    pub(crate) port_driver: Option<String>,
    /// K3S_ROOTLESS_CIDR, a private network clear of 10.42/16 and 10.43/16 [default: 10.41.0.0/16]
    #[arg(long, help_heading = ROOTLESS_HEADING, value_name = "CIDR")]
    pub(crate) cidr: Option<String>,
    /// K3S_ROOTLESS_MTU, 576 to 65520 [default: 1500]
    #[arg(long, help_heading = ROOTLESS_HEADING, value_name = "N")]
    pub(crate) mtu: Option<String>,
    /// K3S_ROOTLESS_DISABLE_HOST_LOOPBACK: true or false [default: true]
    #[arg(long, help_heading = ROOTLESS_HEADING, value_name = "BOOL")]
    pub(crate) disable_host_loopback: Option<String>,
}

impl RootlessArgs {
    pub(crate) fn flags(&self) -> crate::settings::RootlessFlags {
        crate::settings::RootlessFlags {
            port_driver: self.port_driver.clone(),
            cidr: self.cidr.clone(),
            mtu: self.mtu.clone(),
            disable_host_loopback: self.disable_host_loopback.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct PreflightArgs {
    #[command(flatten)]
    pub(crate) suite: SuiteArgs,

    #[command(flatten)]
    pub(crate) rootless: RootlessArgs,

    /// Read the host from a directory tree instead of / (live probes are then skipped)
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = existing_dir)]
    pub(crate) root: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct PinsArgs {
    /// The k3s release tag (e.g. v1.33.5+k3s1), or a 40-hex-digit commit (needs --mirror and GITHUB_TOKEN)
    #[arg(value_name = "REF")]
    pub(crate) reference: String,
    /// Download from this base URL instead of GitHub (the layout --mirror of krc install reads)
    #[arg(long, value_name = "URL")]
    pub(crate) mirror: Option<String>,
    /// Accept an http:// --mirror (no TLS: the pins then prove only what that mirror served)
    #[arg(long)]
    pub(crate) insecure_mirror: bool,
    /// Write the pins file here, atomically (- or absent: stdout)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct BundleArgs {
    /// The k3s release tag (e.g. v1.33.5+k3s1), or a 40-hex-digit commit (needs --mirror and GITHUB_TOKEN)
    #[arg(value_name = "REF")]
    pub(crate) reference: String,
    /// The bundle directory: created, or an empty one
    #[arg(value_name = "DIR")]
    pub(crate) dir: String,
    /// Download from this base URL instead of GitHub (the layout --mirror of krc install reads)
    #[arg(long, value_name = "URL")]
    pub(crate) mirror: Option<String>,
    /// Accept an http:// --mirror (no TLS: the pins then prove only what that mirror served)
    #[arg(long)]
    pub(crate) insecure_mirror: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// Print the plan (files with content or diff, commands with argv and environment); change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Apply without asking
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// The user who will run rootless k3s [default: the invoking user, or SUDO_USER under sudo]
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Pin a k3s release (INSTALL_K3S_VERSION)
    #[arg(long, value_name = "vX.Y.Z+k3sN")]
    pub(crate) k3s_version: Option<String>,
    /// Pin a k3s commit (INSTALL_K3S_COMMIT; needs GITHUB_TOKEN since Feb 2026)
    #[arg(long, value_name = "SHA")]
    pub(crate) k3s_commit: Option<String>,
    #[command(flatten)]
    pub(crate) rootless: RootlessArgs,
    /// Also set net.ipv6.conf.all.forwarding=1 (off by default: k3s does not need it, and host-wide it stops IPv6 router-advertisement autoconfiguration)
    #[arg(long)]
    pub(crate) ipv6_forwarding: bool,
    /// The HTTP proxy k3s pulls images through (HTTP_PROXY in the user's unit) [default: HTTP_PROXY from /etc/environment, never krc's own environment]. No password: a command line is public; a proxy that needs one goes in /etc/environment
    #[arg(long, value_name = "URL")]
    pub(crate) http_proxy: Option<String>,
    /// The HTTPS proxy k3s pulls images through (HTTPS_PROXY in the user's unit) [default: HTTPS_PROXY from /etc/environment, never krc's own environment]. No password, as for --http-proxy
    #[arg(long, value_name = "URL")]
    pub(crate) https_proxy: Option<String>,
    /// Hosts and networks k3s reaches without the proxy (comma-separated; loopback and the cluster networks are always added) [default: NO_PROXY from /etc/environment]
    #[arg(long, value_name = "LIST")]
    pub(crate) no_proxy: Option<String>,
    /// Take the artifacts from this directory instead of the network (layout: docs/install.md)
    #[arg(long, value_name = "DIR")]
    pub(crate) offline: Option<PathBuf>,
    /// Download the artifacts from this base URL instead of GitHub
    #[arg(long, value_name = "URL")]
    pub(crate) mirror: Option<String>,
    /// Verify every artifact against this TOML file of SHA-256 sums (`krc pins REF` writes one) [default: the release's sha256sum-ARCH.txt over verified TLS, as upstream's installer]
    #[arg(long, value_name = "FILE")]
    pub(crate) pins: Option<PathBuf>,
    /// Refuse, before changing anything, unless every artifact is pinned (--pins FILE or the offline bundle's pins.toml); also KRC_REQUIRE_PINS=1
    #[arg(long)]
    pub(crate) require_pins: bool,
    /// Accept an http:// --mirror's checksum file when nothing is pinned (no TLS: anyone on the path can swap the binary and its sum)
    #[arg(long)]
    pub(crate) insecure_mirror: bool,
    /// Seconds to wait for the API server after start
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=MAX_WAIT_SECS))]
    pub(crate) wait_timeout: u64,
    /// Act on a directory tree instead of / (host commands are then listed, not run)
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = existing_dir)]
    pub(crate) root: PathBuf,
    /// Install even when a required preflight check fails that no step fixes
    #[arg(long)]
    pub(crate) force: bool,
    /// Write the install testsuite as JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Write the install testsuite as JSON (krc.report/v1) to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct UninstallArgs {
    /// Print what would be undone; change nothing
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Undo without asking
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// The user krc installed for [default: the invoking user, or SUDO_USER under sudo]
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Act on a directory tree instead of /
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = existing_dir)]
    pub(crate) root: PathBuf,
}

/// How acceptance reaches the cluster and how long it waits; shared by
/// `krc accept` and `krc run`.
#[derive(Debug, Args)]
pub(crate) struct AcceptOptions {
    /// The kubeconfig to use [default: ~USER/.kube/k3s.yaml, where k3s writes it]
    #[arg(long, value_name = "PATH")]
    pub(crate) kubeconfig: Option<PathBuf>,

    /// How long to wait for system pods and the probe's ingress IP, 1 to 86400 seconds [default: 180, or the suite's timeout_secs]
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=MAX_WAIT_SECS))]
    pub(crate) timeout: Option<u64>,
}

#[derive(Debug, Args)]
pub(crate) struct AcceptArgs {
    #[command(flatten)]
    pub(crate) suite: SuiteArgs,

    #[command(flatten)]
    pub(crate) accept: AcceptOptions,

    #[command(flatten)]
    pub(crate) rootless: RootlessArgs,

    /// Read host files from a directory tree instead of / (the API is still reached through the kubeconfig; systemctl and port probes are skipped)
    #[arg(long, value_name = "DIR", default_value = "/", value_parser = existing_dir)]
    pub(crate) root: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Every install flag (the report flags write all three testsuites)
    #[command(flatten)]
    pub(crate) install: InstallArgs,

    /// Write a self-contained HTML report of all three phases to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,

    /// Turn advisory warnings into failures: exit 1, and a <failure type="krc.warn"> in JUnit
    #[arg(long)]
    pub(crate) warnings_as_failures: bool,

    #[command(flatten)]
    pub(crate) accept: AcceptOptions,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only the checks of this phase
    #[arg(long, value_enum)]
    pub(crate) phase: Option<PhaseArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum PhaseArg {
    Preflight,
    Acceptance,
}

impl From<PhaseArg> for Phase {
    fn from(p: PhaseArg) -> Phase {
        match p {
            PhaseArg::Preflight => Phase::Preflight,
            PhaseArg::Acceptance => Phase::Acceptance,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::settings::RootlessSettings;

    /// `krc install --help` names every step of the plan, in order.
    #[test]
    fn install_help_lists_the_plan() {
        let mut cmd = super::Cli::command();
        let help = cmd
            .find_subcommand_mut("install")
            .unwrap()
            .get_after_help()
            .unwrap()
            .to_string();
        let listed = help
            .split_once("satisfied): ")
            .and_then(|(_, rest)| rest.split_once('.'))
            .map(|(steps, _)| steps.replace('\n', " "))
            .unwrap();
        let listed: Vec<&str> = listed.split(", ").map(str::trim).collect();
        let plan: Vec<&str> = crate::install::steps::PLAN.iter().map(|s| s.id).collect();
        assert_eq!(listed, plan);
    }

    /// The help states the defaults in words; they must be the defaults
    /// the code uses (stated once, in `RootlessSettings::default`).
    #[test]
    fn rootless_help_states_the_real_defaults() {
        let d = RootlessSettings::default();
        let mut cmd = super::Cli::command();
        for sub in ["install", "run", "preflight", "accept"] {
            let c = cmd.find_subcommand_mut(sub).unwrap();
            for (flag, want) in [
                ("port_driver", d.port_driver.to_string()),
                ("cidr", d.cidr.to_string()),
                ("mtu", d.mtu.to_string()),
                ("disable_host_loopback", d.disable_host_loopback.to_string()),
            ] {
                let arg = c
                    .get_arguments()
                    .find(|a| a.get_id() == flag)
                    .unwrap_or_else(|| panic!("krc {sub} has no --{flag}"));
                let help = arg.get_help().unwrap().to_string();
                assert!(
                    help.ends_with(&format!("[default: {want}]")),
                    "krc {sub} --{flag}: {help}"
                );
            }
        }
    }
}
