//! The command line: what the user typed. Commands in [`crate::cmd`] turn
//! it into a validated plan before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::checks::Phase;

/// The exit statuses, as every command's help states them (one text: the
/// README's "Exit status" says the same).
macro_rules! exit_status {
    () => {
        "Exit status: 0 passed (warnings allowed, unless --warnings-as-failures); 1 failed: a required check or an install step (its changes undone); 2 usage error (the same for every command); 3 reboot required, run it again after the reboot; 4 no check matched FILTER/--skip; 5 inconclusive: a required check could not be judged (missing facts or probes), the summary names it; 6 re-login required: delegation takes effect at the user's next login, run it again after it; 128+N stopped by signal N."
    };
}

/// What `krc --version` prints after the name: the commit too, so that a
/// bug report names the exact source (build.rs records it).
pub(crate) const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KRC_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "krc",
    version = VERSION,
    about = "Qualify a host for rootless k3s, install it, and accept the result, as a test report",
    long_about = concat!("krc runs conformance checks for rootless k3s and reports them for people (terminal) and CI (JUnit XML, JSON).\n\n  krc preflight         qualify this host before installing (no changes made)\n  krc accept            accept an installed rootless k3s (API, node, pods, port forwards)\n  krc list              every check: id, phase, severity, title\n  krc explain ID        what a check verifies, why rootless k3s needs it, how to fix it\n  krc install           install rootless k3s (reversible; --dry-run shows the plan)\n  krc uninstall         undo what krc install recorded\n  krc pins REF          write the SHA-256 pins of a k3s release (for --pins)\n  krc run               preflight, install and accept in one go, one report for CI\n\n", exit_status!()),
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
        after_help = concat!(exit_status!(), "\n\nExamples:\n  krc preflight --skip session --junit pre.xml\n  krc preflight --root fixtures/hosts/hybrid   # judge a directory tree instead of /")
    )]
    Preflight(Box<PreflightArgs>),
    /// Accept an installed rootless k3s: unit, kubeconfig, API, node, pods, port forwards
    #[command(
        long_about = "Accept an installed rootless k3s: the binary and user unit, the kubeconfig, the API over verified TLS, one Ready node in the rootless network, the system pods, and the port forwards (LoadBalancer port p on host port p + 10000 when p <= 1024, else p).\n\nports.offset creates a LoadBalancer Service in the namespace krc-acceptance and always deletes the namespace again (on failure and on Ctrl-C too). No report contains the kubeconfig's key, certificate or token.",
        after_help = concat!(exit_status!(), "\n\nExamples:\n  krc accept                                 as the k3s user, after krc install\n  sudo krc accept --user k3s --junit acc.xml as root, for the user k3s, with JUnit for CI\n  krc accept api --skip ports.offset         only API checks, without the active port probe\n  krc accept --kubeconfig ./k3s.yaml --timeout 600\n  krc explain ports.offset")
    )]
    Accept(Box<AcceptArgs>),
    /// Install rootless k3s for a user: reversible, idempotent, --dry-run first
    #[command(
        after_help = concat!("Steps (each skipped when already satisfied): packages, subids, cgroup-v2, delegation,\nsysctl, linger, kernel-modules, apparmor-profile, k3s-binary, rootful-disabled, user-unit,\nstart, wait-api.\n\n", exit_status!(), "\n\nExamples:\n  krc install --dry-run                       show every file and command, change nothing\n  sudo krc install --user k3s --yes           as root, for the user k3s\n  krc install --offline ./bundle --yes          the bundle's pins.toml verifies it\n  krc install --require-pins --pins pins.toml   only pinned artifacts (krc pins REF writes them)\n  krc uninstall --dry-run                     what krc would undo\n\nSee docs/install.md for the journal, the offline bundle layout and the pins file.")
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
        long_about = "Run the three phases in order and write one report with a testsuite for each:\n  preflight   the host as found (failures here are what install is about to fix)\n  install     one testcase per step: satisfied, applied, failed, undone\n  acceptance  rootless k3s works and its limits hold\n\nFILTER and --skip select preflight and acceptance checks; every install step runs. The exit status comes from install and acceptance (preflight's failures are what install fixes); with 3 or 6 acceptance is reported skipped: run krc run again after the reboot or re-login.\nRun as the k3s user, krc re-runs itself under `sudo -n` for the root steps; or run it as root with --user NAME.",
        after_help = concat!(exit_status!(), "\n\nExamples:\n  krc run --yes --junit krc.xml --html krc.html\n  sudo krc run --user k3s --yes --offline ./bundle --pins pins.toml --junit krc.xml\n  krc run --dry-run          preflight and the install plan; changes nothing, acceptance skipped")
    )]
    #[command(
        mut_arg("dry_run", |a| a.help("Run preflight and print the install plan (files, commands); install nothing, report acceptance as skipped")),
        mut_arg("junit", |a| a.help("Write JUnit XML to FILE: one testsuite per phase (preflight, install, acceptance)")),
        mut_arg("json", |a| a.help("Write JSON (krc.report/v1) to FILE: all three phases")),
        mut_arg("html", |a| a.help("Write a self-contained HTML report of all three phases to FILE")),
    )]
    Run(Box<RunArgs>),
    /// Capture the facts krc reads on this host as a fixture tree (tar.gz) that replays anywhere
    #[command(
        long_about = "Capture the facts krc reads on this host as a fixture tree in a tar.gz: `krc preflight --root DIR` on the extracted tree reaches the same verdict for every check as on this host, anywhere (a bug report, a fixture, a fleet's odd host).\n\nWhat is captured: exactly what the preflight and acceptance checks read, stat or list when they judge this host for the user (files under /proc, /sys, /etc, /usr, /boot, /lib/modules, the user's unit, drop-ins, kubeconfig and profile files), owners, modes, device numbers and file capabilities of what they stat (in krc-fixture.toml), and the answers of the live probes (user namespaces, the user's systemd manager, program versions, the rootless lock, getsubids). Acceptance checks run without the cluster and port probes: no network.\n\nWhat is not: /etc/shadow, gshadow, private keys or any file krc does not read; the kubeconfig's key, client certificate, CA and token (replaced by markers that keep its verdict); secret values in k3s config, units and profiles (report redaction); passwd and group beyond root, the user, their groups, owners of files krc looked at and accounts inside the user's subordinate ranges (no password or GECOS field); command lines of processes other than k3s (k3s's secret flags masked); TCP connections (only listening sockets). Every read goes through krc's no-follow, bounded file layer: a link the user planted is kept as a link, never its target.",
        after_help = "The file is written atomically, mode 0600; the summary lists what was changed or left out.\n\nExamples:\n  sudo krc capture --user k3s --output host.tar.gz\n  mkdir replay && tar -xzf host.tar.gz -C replay && krc preflight --root replay\n  see docs/fixtures.md: from a capture to a fixture"
    )]
    Capture(CaptureArgs),
    /// Work with reports krc wrote: merge many hosts' JSON reports into one fleet report
    #[command(subcommand)]
    Report(ReportCommand),
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

/// Which checks run: FILTER, --exact and --skip, shared by every command
/// that runs checks (`krc run` too). An empty FILTER would select every
/// check (and an empty --skip none): clap refuses it as a usage error.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct FilterArgs {
    /// Run only the checks whose id contains FILTER (with --exact: equals it)
    #[arg(value_name = "FILTER", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub(crate) filter: Option<String>,

    /// FILTER and --skip match whole check ids, not parts of them
    #[arg(long)]
    pub(crate) exact: bool,

    /// Leave out the checks whose id contains FILTER (repeatable; --exact applies)
    #[arg(long, value_name = "FILTER", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub(crate) skip: Vec<String>,
}

/// How the terminal report looks: shared by every command that runs checks.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct LookArgs {
    /// Leave the passing checks out of the terminal report
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// Colour the terminal report [default: auto]
    #[arg(long, value_enum, value_name = "WHEN")]
    pub(crate) color: Option<ColorArg>,
}

/// When the terminal report is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorArg {
    /// On a terminal, unless NO_COLOR is set or TERM is dumb
    Auto,
    /// Always, even into a pipe or a file
    Always,
    /// Never
    Never,
}

/// The flags of a command that runs a suite of checks. krc runs the
/// checks through libtest-mimic, but prints only its own report: libtest's
/// formats, its `--list` and its help are not krc's words, so they are not
/// offered (an unknown flag is exit 2).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct HarnessArgs {
    #[command(flatten)]
    pub(crate) filters: FilterArgs,

    /// List the checks that would run (id, severity, title); run nothing
    #[arg(long)]
    pub(crate) list: bool,

    /// Run the checks on N threads, 1 to 64 [default: 4 for preflight, the number of CPUs for acceptance; at most the number of checks]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_TEST_THREADS))]
    pub(crate) test_threads: Option<u64>,

    #[command(flatten)]
    pub(crate) look: LookArgs,
}

impl FilterArgs {
    /// The runner's arguments for these filters: libtest-mimic selects
    /// and runs the trials; its own output goes nowhere (krc prints).
    pub(crate) fn to_libtest(&self) -> libtest_mimic::Arguments {
        libtest_mimic::Arguments {
            filter: self.filter.clone(),
            exact: self.exact,
            skip: self.skip.clone(),
            color: Some(libtest_mimic::ColorSetting::Never),
            logfile: Some("/dev/null".to_string()),
            ..libtest_mimic::Arguments::default()
        }
    }
}

impl HarnessArgs {
    pub(crate) fn to_libtest(&self) -> libtest_mimic::Arguments {
        libtest_mimic::Arguments {
            list: self.list,
            test_threads: self.test_threads.map(|n| n as usize),
            ..self.filters.to_libtest()
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

#[derive(Debug, Subcommand)]
pub(crate) enum ReportCommand {
    /// Merge the JSON reports of many hosts into one fleet report: JUnit, HTML, JSON
    #[command(
        long_about = "Merge the JSON reports (krc.report/v1, from --json of krc preflight, install, accept or run) of any number of hosts into one fleet report, and judge the fleet: a host is qualified, failed (a required check failed), or not judged (a required check could not be judged, or the install waits for a reboot or a login). Give each host's report once; a krc run report holds all its phases.\n\n  --junit FILE  a <testsuite> per host and phase, named HOST/PHASE, classnames\n                HOST.krc.PHASE.GROUP: one unique row per host and check in CI\n  --html FILE   one self-contained page: the fleet verdict, then hosts x checks\n                (failures first), each cell linking to its evidence and remedy\n  --json FILE   the merged document, schema krc.fleet/v1\n\nHOST is the report's hostname; reports that share a hostname are told apart by their host id (a hash of /etc/machine-id), as HOST~ID. The terminal shows one line per failed or not-judged host, then the total. `-` writes a report to stdout.",
        after_help = "Exit status: 0 every host qualified; 1 a host failed a required check; 2 usage error, or a report that cannot be read (named on one line); 5 a host could not be judged, or waits for a reboot or a re-login, and none failed.\n\nExamples:\n  krc report merge reports/*.json --junit fleet.xml --html fleet.html\n  krc report merge web1.json web2.json --json fleet.json\n\nSee docs/fleet.md."
    )]
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The hosts' JSON reports (krc preflight/install/accept/run --json FILE)
    #[arg(value_name = "FILE.json", required = true, num_args = 1..)]
    pub(crate) files: Vec<PathBuf>,
    /// Write the fleet's JUnit XML to FILE: a testsuite per host and phase, named HOST/PHASE
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Write the merged JSON (krc.fleet/v1) to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write the fleet's HTML page to FILE: verdict, hosts-by-checks matrix, each host's findings
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Print only the total line, not one line per failed or not-judged host
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CaptureArgs {
    /// The user who will run rootless k3s [default: the invoking user, or SUDO_USER under sudo]
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// Write the capture (a tar.gz) here
    #[arg(long, short = 'o', value_name = "FILE.tar.gz")]
    pub(crate) output: std::path::PathBuf,
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
    /// Write the install testsuite as a self-contained HTML report to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
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
    /// Write what was undone as JUnit XML to FILE (an `uninstall` testsuite)
    #[arg(long, value_name = "FILE")]
    pub(crate) junit: Option<PathBuf>,
    /// Write what was undone as JSON (krc.report/v1) to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Write what was undone as a self-contained HTML report to FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
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

    #[command(flatten)]
    pub(crate) filters: FilterArgs,

    #[command(flatten)]
    pub(crate) look: LookArgs,

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
