//! The scale benchmark: a crate of N generated one-line functions (default
//! 2,000) in three flavours, bare, `#[tracing::instrument]` and
//! `#[instrument_once]`, built side by side and measured:
//!
//! * compile time of the crate itself (its dependencies built first), in the
//!   dev profile with `debug = false` and, with `--release`, in release;
//! * code added per function: the `.text` section of the binary, less the
//!   bare flavour's, over N (which counts the runtime's own code too,
//!   spread over the N functions);
//! * what one more function adds, to the code and to the compile time: the
//!   difference between builds of N and N/2 functions, over N/2 (the
//!   runtime's fixed part cancels out; what is left is the per-function
//!   cost that grows with a service);
//! * memory per function per calling thread: resident memory after 8
//!   threads each called every function, less the bare flavour's, over
//!   N x 8 (timing on, calls of ~1 µs and ~100 µs so the histogram spans
//!   two decades and more);
//! * the first pass over the functions (registration, first blocks).
//!
//! With `--async` the functions are `async fn`s, each called through a
//! plain function that polls its future once. The wrapper's source is the
//! same in every flavour, but it is compiled for each flavour's future: how
//! a future is moved, polled and dropped counts as what the flavour adds,
//! as it would in a service. In release the future's poll is inlined into
//! the wrapper (polled where it is built).
//!
//! Compile times are the fastest of `--builds K` timed builds (default 3)
//! of each crate, taken in rounds that visit every flavour and size in
//! turn: on a shared machine a slow minute then slows one build of each,
//! not every build of one flavour. Each build is timed twice: wall time,
//! and the CPU time (user and system) of the build's processes, which a
//! busy machine disturbs much less (it also counts LLVM's work on every
//! core, so it is larger than the wall time).
//!
//! `cargo run --release -p instrument-once-benches --bin scale -- [--functions N] [--builds K] [--release] [--async]`
//!
//! The crates are generated under `target/scale/` (`target/scale-async/`
//! with `--async`), with this workspace's
//! `Cargo.lock` (the same dependency versions) and their own target
//! directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const FLAVOURS: [&str; 3] = ["bare", "tracing", "ours"];
const THREADS: usize = 8;

struct Options {
    functions: usize,
    /// Timed builds of each crate; the fastest counts.
    builds: usize,
    release: bool,
    /// `async fn`s instead of plain ones.
    asyncness: bool,
}

impl Options {
    /// Where the crates are generated, under the workspace.
    fn root(&self) -> &'static str {
        if self.asyncness {
            "target/scale-async"
        } else {
            "target/scale"
        }
    }
}

fn options() -> Options {
    let mut options = Options {
        functions: 2000,
        builds: 3,
        release: false,
        asyncness: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--functions" => {
                options.functions = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--functions N");
            }
            "--builds" => {
                options.builds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--builds K (K >= 1)");
            }
            "--release" => options.release = true,
            "--async" => options.asyncness = true,
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The generated crate's `main.rs`.
fn source(flavour: &str, n: usize, asyncness: bool) -> String {
    let attribute = match flavour {
        "bare" => "",
        "tracing" => "#[tracing::instrument]",
        _ => "#[instrument_once::instrument_once]",
    };
    let mut s = String::from(
        "#![allow(clippy::all)]\nuse std::hint::black_box;\n\n\
         /// Spins for about `us` microseconds.\nfn spin(us: u64) {\n    \
         let end = std::time::Instant::now() + std::time::Duration::from_micros(us);\n    \
         while std::time::Instant::now() < end {}\n}\n\n",
    );
    let (asyncness, called) = if asyncness {
        s.push_str(POLL_ONCE);
        ("async ", "c")
    } else {
        ("", "f")
    };
    for i in 0..n {
        let _ = writeln!(
            s,
            "{attribute}\n#[inline(never)]\npub {asyncness}fn f{i}(x: u64) -> u64 {{ if x % 64 == 63 {{ spin(x / 8) }} x.wrapping_mul({}) ^ {i} }}",
            i + 1
        );
        if !asyncness.is_empty() {
            let _ = writeln!(s, "fn c{i}(x: u64) -> u64 {{ poll_once(f{i}(x)) }}");
        }
    }
    s.push_str("\npub static ALL: &[fn(u64) -> u64] = &[");
    for i in 0..n {
        let _ = write!(s, "{called}{i}, ");
    }
    s.push_str("];\n\n");
    s.push_str(MAIN);
    s
}

/// How the generated crate calls an `async fn` (`--async`): one poll, with
/// a waker that does nothing (the bodies never wait), made once (what the
/// workspace's oldest supported Rust has: no `Waker::noop`).
const POLL_ONCE: &str = r"
#[allow(dead_code)]
struct Noop;

impl std::task::Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

#[allow(dead_code)]
fn poll_once<F: std::future::Future<Output = u64>>(future: F) -> u64 {
    static WAKER: std::sync::OnceLock<std::task::Waker> = std::sync::OnceLock::new();
    let waker = WAKER.get_or_init(|| std::task::Waker::from(std::sync::Arc::new(Noop)));
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(waker);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!(),
    }
}

";

/// What the generated binary runs: it prints `first_pass_ns rss_before
/// rss_after`.
const MAIN: &str = r#"
fn resident() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(8);
    let t0 = std::time::Instant::now();
    for f in ALL {
        black_box(f(black_box(1)));
    }
    let first_pass = t0.elapsed().as_nanos();
    let start = std::sync::Barrier::new(threads + 1);
    let done = std::sync::Barrier::new(threads + 1);
    let hold = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start.wait();
                // Calls of ~1 µs and a few of ~10 and ~100 µs: latencies
                // that span two decades.
                for round in 0..64u64 {
                    for f in ALL {
                        black_box(f(black_box(round)));
                    }
                }
                for f in ALL {
                    black_box(f(black_box(127)));
                    black_box(f(black_box(1023)));
                }
                done.wait();
                hold.wait();
            });
        }
        // Measured before the threads are let go (they exist, their stacks
        // untouched).
        let before = resident();
        start.wait();
        done.wait();
        let after = resident();
        println!("{first_pass} {before} {after}");
        hold.wait();
    });
}
"#;

fn manifest(flavour: &str, workspace: &Path) -> String {
    let dependency = match flavour {
        "bare" => String::new(),
        "tracing" => "tracing = { version = \"0.1\", features = [\"attributes\"] }\n".to_owned(),
        _ => format!(
            "instrument-once = {{ path = \"{}\" }}\n",
            workspace.join("runtime").display()
        ),
    };
    format!(
        "[package]\nname = \"scale-{flavour}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\n{dependency}\n\
         [profile.dev]\ndebug = false\n\n[workspace]\n"
    )
}

/// The CPU seconds (user and system) this process's waited-for children
/// and their descendants have used so far (`/proc/self/stat`'s `cutime` and
/// `cstime`, in the kernel's fixed 100 ticks a second); NaN (printed `n/a`)
/// where that file is missing. A compiler wrapper that compiles in a server
/// of its own (`sccache`) hides its work from this count.
fn children_cpu_s() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at the
    // third: `cutime` is the 16th, `cstime` the 17th.
    let after_name = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let ticks: Vec<u64> = after_name
        .split_whitespace()
        .skip(13)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .collect();
    if ticks.len() != 2 {
        return f64::NAN;
    }
    #[allow(clippy::cast_precision_loss)]
    let seconds = (ticks[0] + ticks[1]) as f64 / 100.0;
    seconds
}

/// The wall and CPU seconds of one build.
#[derive(Clone, Copy)]
struct Timed {
    wall_s: f64,
    cpu_s: f64,
}

/// Writes `source` as the crate's `main.rs` and builds it: the time the
/// build takes (only the crate itself once its dependencies are built).
fn build(dir: &Path, target: &Path, release: bool, source: &str) -> Timed {
    std::fs::write(dir.join("src/main.rs"), source).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build").arg("--quiet");
    if release {
        cmd.arg("--release");
    }
    // The generated crates' own profiles decide (`debug = false`): a
    // profile setting in the environment (CI sets some) would override it.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CARGO_PROFILE_") {
            cmd.env_remove(name);
        }
    }
    let cpu0 = children_cpu_s();
    let t0 = Instant::now();
    let status = cmd
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_INCREMENTAL", "0")
        .status()
        .expect("cargo runs");
    let wall_s = t0.elapsed().as_secs_f64();
    assert!(status.success(), "building {}", dir.display());
    Timed {
        wall_s,
        cpu_s: children_cpu_s() - cpu0,
    }
}

/// The size of an ELF64 file's `.text` section.
fn text_size(binary: &Path) -> u64 {
    let bytes = std::fs::read(binary).unwrap();
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([bytes[o], bytes[o + 1]]));
    let u32_at = |o: usize| u64::from(u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()));
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF binary");
    let shoff = usize::try_from(u64_at(0x28)).unwrap();
    let shentsize = usize::try_from(u16_at(0x3a)).unwrap();
    let shnum = usize::try_from(u16_at(0x3c)).unwrap();
    let shstrndx = usize::try_from(u16_at(0x3e)).unwrap();
    let names = usize::try_from(u64_at(shoff + shstrndx * shentsize + 0x18)).unwrap();
    (0..shnum)
        .map(|i| shoff + i * shentsize)
        .find(|&h| {
            let name = names + usize::try_from(u32_at(h)).unwrap();
            bytes[name..].starts_with(b".text\0")
        })
        .map_or(0, |h| u64_at(h + 0x20))
}

struct Measured {
    compile_s: f64,
    compile_cpu_s: f64,
    text: u64,
    /// Compile time and `.text` of the same flavour with N/2 functions.
    half_compile_s: f64,
    half_text: u64,
    first_pass_ns: f64,
    grown: f64,
}

/// One flavour's crate (under `root`).
struct Crate {
    flavour: &'static str,
    dir: PathBuf,
    target: PathBuf,
    binary: PathBuf,
    /// The sources of N/2 and N functions.
    sources: [String; 2],
}

impl Crate {
    /// Writes the crate and builds it once, its dependencies with it.
    fn new(flavour: &'static str, options: &Options, workspace: &Path, root: &Path) -> Crate {
        let n = options.functions;
        let target = root.join("target");
        let dir = root.join(flavour);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), manifest(flavour, workspace)).unwrap();
        std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        let profile = if options.release { "release" } else { "debug" };
        let binary = target.join(profile).join(format!("scale-{flavour}"));
        let sources = [
            source(flavour, n / 2, options.asyncness),
            source(flavour, n, options.asyncness),
        ];
        eprintln!("building {flavour} and its dependencies");
        build(&dir, &target, options.release, &sources[0]);
        Crate {
            flavour,
            dir,
            target,
            binary,
            sources,
        }
    }
}

/// Times `options.builds` builds of each crate at N/2 and at N functions,
/// in rounds, then runs each crate's N-function binary.
fn measure(crates: &[Crate], options: &Options) -> Vec<Measured> {
    let mut fastest = vec![[f64::INFINITY; 2]; crates.len()];
    let mut fastest_cpu = vec![f64::INFINITY; crates.len()];
    let mut text = vec![[0; 2]; crates.len()];
    for round in 1..=options.builds {
        eprintln!("timed builds, round {round} of {}", options.builds);
        for (c, krate) in crates.iter().enumerate() {
            for (size, source) in krate.sources.iter().enumerate() {
                let timed = build(&krate.dir, &krate.target, options.release, source);
                fastest[c][size] = fastest[c][size].min(timed.wall_s);
                if size == 1 {
                    fastest_cpu[c] = fastest_cpu[c].min(timed.cpu_s);
                }
                text[c][size] = text_size(&krate.binary);
            }
        }
    }
    crates
        .iter()
        .enumerate()
        .map(|(c, krate)| {
            let (first_pass_ns, grown) = run(krate);
            Measured {
                compile_s: fastest[c][1],
                compile_cpu_s: fastest_cpu[c],
                text: text[c][1],
                half_compile_s: fastest[c][0],
                half_text: text[c][0],
                first_pass_ns,
                grown,
            }
        })
        .collect()
}

/// Runs a crate's binary (built last with N functions): the first pass's
/// nanoseconds and the memory it grew by.
fn run(krate: &Crate) -> (f64, f64) {
    eprintln!("running {}", krate.flavour);
    let out = Command::new(&krate.binary)
        .arg(THREADS.to_string())
        .output()
        .expect("the generated binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[2] - v[1])
}

fn main() {
    let options = options();
    let workspace = workspace();
    let root = workspace.join(options.root());
    let n = options.functions;
    let crates: Vec<Crate> = FLAVOURS
        .iter()
        .map(|flavour| Crate::new(flavour, &options, &workspace, &root))
        .collect();
    let measured = measure(&crates, &options);
    #[allow(clippy::cast_precision_loss)]
    let per = |bytes: f64, count: usize| bytes / count as f64;
    let bare = &measured[0];
    println!(
        "\n{n} {}functions, {} profile{}, {THREADS} threads, fastest of {} builds\n",
        if options.asyncness { "async " } else { "" },
        if options.release { "release" } else { "dev" },
        if options.release {
            ""
        } else {
            " (debug = false)"
        },
        options.builds
    );
    println!("| | bare | tracing::instrument | instrument_once | ours / tracing |");
    println!("|---|---:|---:|---:|---:|");
    let row = |name: &str, f: &dyn Fn(&Measured) -> f64, unit: &str| {
        let (b, t, o) = (f(bare), f(&measured[1]), f(&measured[2]));
        let ratio = if t.abs() > f64::EPSILON {
            o / t
        } else {
            f64::NAN
        };
        let cell = |v: f64| {
            if v.is_finite() {
                format!("{v:.2}{unit}")
            } else {
                "n/a".to_owned()
            }
        };
        let ratio = if ratio.is_finite() {
            format!("{ratio:.2}x")
        } else {
            "n/a".to_owned()
        };
        println!(
            "| {name} | {} | {} | {} | {ratio} |",
            cell(b),
            cell(t),
            cell(o)
        );
    };
    row("crate compile time", &|m| m.compile_s, " s");
    row(
        "compile time added",
        &|m| m.compile_s - bare.compile_s,
        " s",
    );
    row(
        "compile CPU time added",
        &|m| m.compile_cpu_s - bare.compile_cpu_s,
        " s",
    );
    #[allow(clippy::cast_precision_loss)]
    row(
        "code added per function (.text)",
        &|m| per(m.text as f64 - bare.text as f64, n),
        " B",
    );
    // What the N/2 functions more add, per function (bare's own share of
    // the functions' bodies taken away).
    let added = n - n / 2;
    #[allow(clippy::cast_precision_loss)]
    row(
        "code one more function adds (.text, N vs N/2)",
        &|m| {
            per(
                (m.text as f64 - m.half_text as f64) - (bare.text as f64 - bare.half_text as f64),
                added,
            )
        },
        " B",
    );
    row(
        "compile time one more function adds (N vs N/2)",
        &|m| {
            per(
                ((m.compile_s - m.half_compile_s) - (bare.compile_s - bare.half_compile_s)) * 1e3,
                added,
            )
        },
        " ms",
    );
    row(
        "memory per function per calling thread",
        &|m| per(m.grown - bare.grown, n * THREADS),
        " B",
    );
    row(
        "first pass, per function",
        &|m| per(m.first_pass_ns, n),
        " ns",
    );
}
