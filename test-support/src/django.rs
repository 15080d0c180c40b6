//! A Python virtual environment with Django and django-redis from PyPI, for the interop tests
//! that share a Redis cache with a real Django application.
//!
//! [`django_python`] creates the environment once per machine (in
//! `$CACHETTE_DJANGO_VENV`, else `$XDG_CACHE_HOME/cachette/`, else `~/.cache/cachette/`,
//! named after [`DJANGO_REQUIREMENTS`] so a change of versions makes a new one) and reuses it
//! afterwards; [`run_python`] runs a script in it with a bounded wait. A missing `python3`
//! or `venv` module is an error that says what to install: the tests fail, never skip.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// What the environment holds: Django 5.2 and django-redis 7 with every serializer's and
/// compressor's extra (msgpack, lz4, pyzstd), and redis-py.
pub const DJANGO_REQUIREMENTS: &[&str] = &[
    "Django==5.2.*",
    "django-redis==7.*",
    "redis>=5",
    "msgpack>=1",
    "lz4>=4",
    "pyzstd>=0.16",
];

/// The environment variable naming where the virtual environment lives (or should).
pub const DJANGO_VENV_VAR: &str = "CACHETTE_DJANGO_VENV";

/// The error when `python3` (with its `venv` module) is missing.
pub const PYTHON_NOT_FOUND_MESSAGE: &str = "python3 with its venv module was not found; the \
Django interop tests need it: install it with `apt-get install python3 python3-venv` \
(Debian/Ubuntu) or `brew install python`.";

/// The longest the environment may take to create (pip downloads from PyPI).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(900);

/// The name of the file written once the environment is complete.
const READY: &str = "cachette-ready";

/// The Python interpreter of the environment, creating the environment on first use.
///
/// # Errors
/// [`PYTHON_NOT_FOUND_MESSAGE`] without `python3 -m venv`; pip's output when installing fails.
pub fn django_python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(create).clone()
}

/// Where the environment lives.
fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DJANGO_VENV_VAR) {
        return PathBuf::from(dir);
    }
    let tag: u64 = DJANGO_REQUIREMENTS
        .iter()
        .flat_map(|r| r.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("cachette")
        .join(format!("django-venv-{:08x}", tag as u32))
}

fn create() -> Result<PathBuf, String> {
    let dir = venv_dir();
    let python = dir.join("bin").join("python");
    if dir.join(READY).exists() {
        return Ok(python);
    }
    let probe = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        return Err(PYTHON_NOT_FOUND_MESSAGE.to_owned());
    }
    // Built beside, then renamed: a half-made environment is never taken for a ready one,
    // and two test processes creating it at once both end with a whole one.
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let building = parent.join(format!(
        "{}.building-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("venv"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    let started = Instant::now();
    run(
        Command::new("python3").arg("-m").arg("venv").arg(&building),
        INSTALL_TIMEOUT,
    )?;
    let mut pip = Command::new(building.join("bin").join("python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--timeout",
        "60",
    ])
    .args(DJANGO_REQUIREMENTS);
    run(&mut pip, INSTALL_TIMEOUT.saturating_sub(started.elapsed()))?;
    std::fs::write(building.join(READY), DJANGO_REQUIREMENTS.join("\n"))
        .map_err(|e| format!("writing {}: {e}", building.display()))?;
    // A venv's scripts name its path: the interpreter is called by its final path below,
    // which `python -m` resolves from `sys.prefix`, so the rename is safe for our use.
    if std::fs::rename(&building, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&building);
        if !dir.join(READY).exists() {
            return Err(format!(
                "could not move the environment to {}",
                dir.display()
            ));
        }
    }
    eprintln!(
        "django venv: created {} in {:.1}s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(python)
}

/// Runs `script` with the environment's Python and `args`, waiting at most `timeout`.
///
/// # Errors
/// The script's standard error (and output) when it exits non-zero or runs too long.
pub fn run_python(script: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let python = django_python()?;
    run(Command::new(python).arg(script).args(args), timeout)
}

/// Runs a command to completion within `timeout`, returning its standard output.
fn run(command: &mut Command, timeout: Duration) -> Result<String, String> {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{shown}: {e}"))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let err = thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} did not finish within {timeout:?}"));
            }
            Err(e) => return Err(format!("{shown}: {e}")),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!("{shown} failed ({status}):\n{stderr}\n{stdout}"))
    }
}
