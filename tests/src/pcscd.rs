//! A private pcscd with one vpcd reader.conf entry, in its own mount namespace, so that it
//! never touches the system pcscd's `/run/pcscd` (see the crate documentation).

use std::ffi::{CStr, CString};
use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The vpcd reader driver of Debian's `vsmartcard-vpcd`.
pub const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const DIR_PREFIX: &str = "sks-pcscd-";

static SHARED: OnceLock<PrivatePcscd> = OnceLock::new();
static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A pcscd of our own: temp dir with `conf/` (one vpcd entry) and `ipc/` (bind-mounted over
/// `/run/pcscd` inside a private mount namespace). Stopped (SIGTERM, then waited for) and its
/// directory removed on drop.
pub struct PrivatePcscd {
    dir: PathBuf,
    port: u16,
    friendly_name: String,
    pid: u32,
    supervisor: Mutex<Option<Supervisor>>,
    slots: SlotTable,
}

struct Supervisor {
    stop: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl std::fmt::Debug for PrivatePcscd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivatePcscd")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("friendly_name", &self.friendly_name)
            .field("pid", &self.pid)
            .finish()
    }
}

impl PrivatePcscd {
    /// The process-wide instance, started at the first call, with `PCSCLITE_CSOCK_NAME` set to
    /// its socket. Must be called before anything in the process uses PC/SC. Stopped at exit.
    pub fn shared() -> &'static PrivatePcscd {
        SHARED.get_or_init(|| {
            let pcscd = PrivatePcscd::start();
            if let Some(old) = std::env::var_os("PCSCLITE_CSOCK_NAME") {
                log::warn!("PCSCLITE_CSOCK_NAME was {old:?}; pointing it at the private pcscd");
            }
            // The client library reads the variable at its first use in the process.
            std::env::set_var("PCSCLITE_CSOCK_NAME", pcscd.socket_path());
            // SAFETY: registers a plain extern "C" function that never unwinds.
            unsafe { libc::atexit(stop_shared_at_exit) };
            pcscd
        })
    }

    /// Starts a new private pcscd and waits until its socket exists and vpcd listens on both
    /// ports. Panics with an actionable message when a requirement is missing.
    pub fn start() -> PrivatePcscd {
        check_requirements();
        remove_stale_dirs();
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{pid}-{n}"));
        let friendly_name = format!("SKS Test PCD {pid}-{n}");

        // A free port pair can be taken by someone else between our check and vpcd's bind; the
        // reader would then silently not exist, so a failed start is retried on another pair.
        let mut last_error = String::new();
        for _attempt in 0..3 {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("conf"))
                .and_then(|()| fs::create_dir_all(dir.join("ipc")))
                .and_then(|()| fs::create_dir_all("/run/pcscd"))
                .unwrap_or_else(|e| panic!("cannot create {} or /run/pcscd: {e}", dir.display()));
            let port = free_port_pair();
            let conf = format!(
                "FRIENDLYNAME \"{friendly_name}\"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\n"
            );
            fs::write(dir.join("conf").join("vpcd"), conf)
                .unwrap_or_else(|e| panic!("cannot write the reader.conf entry: {e}"));
            match launch(&dir, port) {
                Ok((child_pid, supervisor, exited)) => {
                    let pcscd = PrivatePcscd {
                        dir: dir.clone(),
                        port,
                        friendly_name: friendly_name.clone(),
                        pid: child_pid,
                        supervisor: Mutex::new(Some(supervisor)),
                        slots: SlotTable::default(),
                    };
                    match pcscd.wait_ready(&exited) {
                        Ok(()) => {
                            log::info!(
                                "private pcscd pid {child_pid} at {}, vpcd ports {port}/{}",
                                dir.display(),
                                port + 1
                            );
                            return pcscd;
                        }
                        Err(e) => {
                            last_error = format!("{e}\n--- pcscd log ---\n{}", pcscd.log());
                            pcscd.stop_process();
                        }
                    }
                }
                Err(e) => panic!("cannot run unshare/pcscd: {e}"),
            }
        }
        let _ = fs::remove_dir_all(&dir);
        panic!("the private pcscd did not start: {last_error}");
    }

    fn wait_ready(&self, exited: &Arc<Mutex<Option<ExitStatus>>>) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = *lock(exited) {
                return Err(format!(
                    "pcscd exited during startup ({status}). Is this root? Does \
                     `unshare --mount` work here (containers may need CAP_SYS_ADMIN)?"
                ));
            }
            let socket = self.socket_path().exists();
            if socket && port_in_use(self.port) && port_in_use(self.port + 1) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "after {STARTUP_TIMEOUT:?}: socket {} {}, vpcd listening on {}: {}, on {}: {}",
                    self.socket_path().display(),
                    if socket { "exists" } else { "missing" },
                    self.port,
                    port_in_use(self.port),
                    self.port + 1,
                    port_in_use(self.port + 1)
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The pcscd socket: the value for `PCSCLITE_CSOCK_NAME`.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("ipc").join("pcscd.comm")
    }

    /// Environment for a subprocess PC/SC client (opensc-tool, scriptor, pyscard) of this pcscd.
    pub fn client_env(&self) -> (&'static str, PathBuf) {
        ("PCSCLITE_CSOCK_NAME", self.socket_path())
    }

    /// Whether this instance is the one the in-process PC/SC library talks to (as far as the
    /// environment tells: the library reads it once, at its first use).
    pub fn is_process_default(&self) -> bool {
        std::env::var_os("PCSCLITE_CSOCK_NAME").is_some_and(|v| Path::new(&v) == self.socket_path())
    }

    /// vpcd's port for the first reader (slot 0); slot 1 listens on `vpcd_port() + 1`.
    pub fn vpcd_port(&self) -> u16 {
        self.port
    }

    /// vpcd's port for `slot` (0 or 1).
    pub fn vpcd_port_for_slot(&self, slot: usize) -> u16 {
        assert!(slot < 2, "a vpcd reader.conf entry has slots 0 and 1");
        self.port + slot as u16
    }

    /// The FRIENDLYNAME of the reader.conf entry (unique per instance).
    pub fn friendly_name(&self) -> &str {
        &self.friendly_name
    }

    /// The reader names, as a glob: pcscd names the readers "FRIENDLYNAME XX 00" (port PORT)
    /// and "FRIENDLYNAME XX 01" (PORT+1), XX being pcscd's reader index.
    pub fn reader_name_pattern(&self) -> String {
        format!("{} ?? 0?", self.friendly_name)
    }

    /// Whether `name` is this instance's reader for `slot`.
    pub fn is_reader(&self, name: &CStr, slot: usize) -> bool {
        let Ok(name) = name.to_str() else {
            return false;
        };
        let Some(rest) = name.strip_prefix(&self.friendly_name) else {
            return false;
        };
        let rest = rest.as_bytes();
        rest.len() == 6
            && rest[0] == b' '
            && rest[1].is_ascii_hexdigit()
            && rest[2].is_ascii_hexdigit()
            && rest[3] == b' '
            && rest[4] == b'0'
            && rest[5] == b'0' + slot as u8
    }

    /// The exact name of the reader for `slot`, looked up once through `ctx` (which must be
    /// connected to this instance). Panics when pcscd does not list it.
    pub fn reader_name(&self, ctx: &pcsc::Context, slot: usize) -> CString {
        let readers = ctx
            .list_readers_owned()
            .unwrap_or_else(|e| panic!("SCardListReaders on the private pcscd failed: {e}"));
        readers
            .iter()
            .find(|r| self.is_reader(r, slot))
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "pcscd lists no reader {} for slot {slot} (readers: {readers:?}); is the \
                     process's PC/SC context on this pcscd (PCSCLITE_CSOCK_NAME)?\n--- pcscd \
                     log ---\n{}",
                    self.reader_name_pattern(),
                    self.log()
                )
            })
    }

    /// The instance's directory (conf/, ipc/, pcscd.log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// pcscd's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// What pcscd wrote to stdout/stderr so far (with `SKS_PCSCD_DEBUG=1`, its debug log).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pcscd.log")).unwrap_or_default()
    }

    /// Takes one of the two reader slots, waiting until one is free.
    pub(crate) fn lease_slot(&self) -> SlotLease<'_> {
        self.slots.lease()
    }

    /// SIGTERM, wait (SIGKILL after 5 s). Idempotent.
    fn stop_process(&self) {
        let supervisor = lock(&self.supervisor).take();
        if let Some(Supervisor { stop, thread }) = supervisor {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

impl Drop for PrivatePcscd {
    fn drop(&mut self) {
        self.stop_process();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

extern "C" fn stop_shared_at_exit() {
    // Never unwind out of an atexit handler.
    let _ = std::panic::catch_unwind(|| {
        if let Some(pcscd) = SHARED.get() {
            pcscd.stop_process();
            let _ = fs::remove_dir_all(&pcscd.dir);
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Spawns pcscd from a dedicated supervisor thread: PR_SET_PDEATHSIG fires when the thread that
/// forked the child ends, so that thread lives exactly as long as the instance (and pcscd gets
/// SIGTERM should the test process die without cleaning up).
#[allow(clippy::type_complexity)]
fn launch(dir: &Path, port: u16) -> io::Result<(u32, Supervisor, Arc<Mutex<Option<ExitStatus>>>)> {
    let log = fs::File::create(dir.join("pcscd.log"))?;
    let log2 = log.try_clone()?;
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /run/pcscd && exec "$3" --foreground $4 -c "$2""#)
        .arg("sh")
        .arg(dir.join("ipc"))
        .arg(dir.join("conf"))
        .arg(find_program("pcscd").unwrap_or_else(|| PathBuf::from("pcscd")))
        .arg(if std::env::var_os("SKS_PCSCD_DEBUG").is_some() {
            "--debug"
        } else {
            ""
        })
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }

    let exited = Arc::new(Mutex::new(None));
    let exited_in_thread = Arc::clone(&exited);
    let (started_tx, started_rx) = mpsc::channel::<io::Result<u32>>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let thread = thread::Builder::new()
        .name(format!("pcscd-{port}"))
        .spawn(move || {
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            let _ = started_tx.send(Ok(child.id()));
            loop {
                match stop_rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if let Ok(Some(status)) = child.try_wait() {
                    *lock(&exited_in_thread) = Some(status);
                    // Keep the thread until stop, so the instance's bookkeeping stays simple.
                    let _ = stop_rx.recv();
                    return;
                }
            }
            terminate(&mut child);
        })?;
    let pid = started_rx
        .recv()
        .map_err(|_| io::Error::other("supervisor thread ended"))??;
    Ok((
        pid,
        Supervisor {
            stop: stop_tx,
            thread,
        },
        exited,
    ))
}

fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    log::warn!(
        "pcscd {} ignored SIGTERM for {STOP_TIMEOUT:?}; killing it",
        child.id()
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Panics, loudly and with the fix, when something the private pcscd needs is missing.
fn check_requirements() {
    let install = "install it with scripts/install-deps.sh (or: apt-get install";
    if find_program("pcscd").is_none() {
        panic!("pcscd not found: {install} pcscd)");
    }
    if find_program("unshare").is_none() || find_program("mount").is_none() {
        panic!("unshare/mount not found: {install} util-linux mount)");
    }
    if !Path::new(VPCD_DRIVER).is_file() {
        panic!("the vpcd reader driver {VPCD_DRIVER} is missing: {install} vsmartcard-vpcd)");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "the private pcscd needs root (unshare --mount, bind mount over /run/pcscd): run the \
             conformance tests as root (e.g. sudo -E cargo test -p conformance-tests)"
        );
    }
}

/// Removes directories of earlier test processes that died without cleaning up.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether something listens on (or holds) the TCP port on all interfaces.
fn port_in_use(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_err()
}

/// Two consecutive free ports (vpcd binds 0.0.0.0), outside Linux's ephemeral range.
fn free_port_pair() -> u16 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let mut x = seed | 1;
    for _ in 0..500 {
        // xorshift32
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let port = 20_000 + (x % 6_000) as u16 * 2;
        if !port_in_use(port) && !port_in_use(port + 1) {
            return port;
        }
    }
    panic!("no free TCP port pair found in 20000-31999");
}

/// The two vpcd slots of an instance, leased to one [`crate::CardUnderTest`] each.
#[derive(Default)]
struct SlotTable {
    busy: Mutex<[bool; 2]>,
    freed: Condvar,
}

impl SlotTable {
    fn lease(&self) -> SlotLease<'_> {
        let mut busy = lock(&self.busy);
        loop {
            if let Some(slot) = busy.iter().position(|b| !b) {
                busy[slot] = true;
                return SlotLease { table: self, slot };
            }
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// One leased slot; freed on drop.
pub(crate) struct SlotLease<'a> {
    table: &'a SlotTable,
    pub(crate) slot: usize,
}

impl Drop for SlotLease<'_> {
    fn drop(&mut self) {
        lock(&self.table.busy)[self.slot] = false;
        self.table.freed.notify_one();
    }
}
