//! Resolving host names: one thread for the whole run, which asks the
//! system's resolver (`getaddrinfo`, so `/etc/hosts` and nsswitch apply)
//! and keeps each answer for a while, so that a run that connects to one
//! host many times asks once.
//!
//! The system resolver has no time limit of its own and cannot be
//! cancelled, so it runs on a thread apart, and a caller waits for its
//! answer only as long as its own limit allows. A lookup given up on goes
//! on, and its answer lands in the cache; no thread is left behind per
//! lookup. The thread is started on the first name (an IP address needs
//! none) and ends when the last clone of the [`Resolver`] is dropped and
//! the lookup it is in, if any, returns.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use log::debug;

use super::time::Deadline;
use crate::exit::{Code, WithCode, fail};

/// How long an answer is kept: curl's default (`--dns-cache-timeout`). The
/// system resolver does not say a record's TTL; a minute is short enough
/// for a host that moves, and covers a run's many connections to one host.
pub const CACHE_TIME: Duration = Duration::from_secs(60);

/// How a name is looked up: the system's resolver, or a test's.
type Lookup = fn(&str) -> io::Result<Vec<IpAddr>>;

/// One question to the resolver thread, and where its answer goes.
struct Question {
    name: String,
    answer: Sender<io::Result<Arc<[IpAddr]>>>,
}

/// The run's resolver. Clones share its thread and its cache.
#[derive(Clone)]
pub struct Resolver {
    lookup: Lookup,
    /// The way to the thread, once it is started.
    thread: Arc<Mutex<Option<Sender<Question>>>>,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::with_lookup(system_lookup)
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver asking `lookup`.
    fn with_lookup(lookup: Lookup) -> Resolver {
        Resolver {
            lookup,
            thread: Arc::new(Mutex::new(None)),
        }
    }

    /// The addresses of `name`, in the resolver's order, answered by
    /// `deadline` (`None`: however long the system takes).
    pub fn resolve(&self, name: &str, deadline: Option<Deadline>) -> anyhow::Result<Arc<[IpAddr]>> {
        let (answer, answered) = mpsc::channel();
        self.ask(Question {
            name: name.to_owned(),
            answer,
        })
        .with_code(Code::CouldntResolve, || format!("resolving {name}"))?;
        let limit = Deadline::cap(deadline, None)
            .with_code(Code::Timeout, || format!("timed out resolving {name}"))?;
        let answer = match limit {
            Some(limit) => answered.recv_timeout(limit),
            None => answered.recv().map_err(RecvTimeoutError::from),
        };
        let addrs = match answer {
            Ok(addrs) => addrs,
            Err(RecvTimeoutError::Timeout) => {
                let ran_out = deadline.map_or_else(|| "no answer".to_owned(), |d| d.to_string());
                return Err(fail(
                    Code::Timeout,
                    format!("timed out resolving {name}: {ran_out}"),
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(fail(
                    Code::CouldntResolve,
                    format!("resolving {name}: the resolver stopped"),
                ));
            }
        };
        let addrs = addrs.with_code(Code::CouldntResolve, || {
            format!("could not resolve host {name}")
        })?;
        if addrs.is_empty() {
            return Err(fail(
                Code::CouldntResolve,
                format!("host {name} has no address"),
            ));
        }
        Ok(addrs)
    }

    /// Hands `question` to the thread, starting it first if need be.
    fn ask(&self, question: Question) -> io::Result<()> {
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let question = match &*thread {
            Some(questions) => match questions.send(question) {
                Ok(()) => return Ok(()),
                // The thread is gone (it panicked): start another.
                Err(mpsc::SendError(question)) => question,
            },
            None => question,
        };
        let (questions, asked) = mpsc::channel();
        let lookup = self.lookup;
        thread::Builder::new()
            .name("resolve".into())
            .spawn(move || answer(&asked, lookup))?;
        questions
            .send(question)
            .map_err(|_| io::Error::other("the resolver thread ended at once"))?;
        *thread = Some(questions);
        Ok(())
    }
}

/// The resolver thread: answers each question from the cache, or by
/// `lookup`, until every [`Resolver`] is gone.
fn answer(questions: &Receiver<Question>, lookup: Lookup) {
    let mut cache: HashMap<String, (Instant, Arc<[IpAddr]>)> = HashMap::new();
    for Question { name, answer } in questions {
        let cached = cache
            .get(&name)
            .filter(|(at, _)| at.elapsed() < CACHE_TIME)
            .map(|(_, addrs)| Arc::clone(addrs));
        let looked_up = cached.is_none();
        let addrs = match cached {
            Some(addrs) => {
                debug!("{name}: answered from the cache ({})", list(&addrs));
                Ok(addrs)
            }
            None => lookup(&name).map(Arc::<[IpAddr]>::from),
        };
        match &addrs {
            Ok(fresh) if looked_up && !fresh.is_empty() => {
                debug!("{name} resolves to {}", list(fresh));
                cache.insert(name, (Instant::now(), Arc::clone(fresh)));
            }
            // A failure is not kept: the next attempt asks again, as a
            // resolver that was busy may answer then.
            _ => {}
        }
        // No one waits any more when the caller gave up: the answer is cached.
        let _ = answer.send(addrs);
    }
}

/// Addresses as a list for a log line: `::1, 127.0.0.1`.
fn list(addrs: &[IpAddr]) -> String {
    let addrs: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    addrs.join(", ")
}

/// The system's resolver: `getaddrinfo`, through the standard library.
fn system_lookup(name: &str) -> io::Result<Vec<IpAddr>> {
    Ok((name, 0).to_socket_addrs()?.map(|addr| addr.ip()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn each_name_is_looked_up_once_and_shared_by_clones() {
        static LOOKUPS: AtomicUsize = AtomicUsize::new(0);
        fn counting(name: &str) -> io::Result<Vec<IpAddr>> {
            LOOKUPS.fetch_add(1, Ordering::SeqCst);
            match name {
                "a.test" => Ok(vec!["192.0.2.1".parse().unwrap(), "::1".parse().unwrap()]),
                _ => Err(io::Error::other("no such host")),
            }
        }
        let resolver = Resolver::with_lookup(counting);
        let clone = resolver.clone();
        let first = resolver.resolve("a.test", None).unwrap();
        let again = clone.resolve("a.test", None).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.len(), 2);
        assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
        // Failures are asked again.
        for _ in 0..2 {
            let err = resolver.resolve("b.test", None).unwrap_err();
            assert_eq!(Code::of(&err), Code::CouldntResolve);
            assert_eq!(
                format!("{err:#}"),
                "could not resolve host b.test: no such host"
            );
        }
        assert_eq!(LOOKUPS.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_slow_answer_times_out_and_is_cached_for_the_next_caller() {
        static THREADS: Mutex<Vec<thread::ThreadId>> = Mutex::new(Vec::new());
        fn slow(name: &str) -> io::Result<Vec<IpAddr>> {
            THREADS.lock().unwrap().push(thread::current().id());
            thread::sleep(Duration::from_millis(300));
            match name {
                "slow.test" => Ok(vec!["192.0.2.7".parse().unwrap()]),
                _ => Ok(vec!["192.0.2.8".parse().unwrap()]),
            }
        }
        let resolver = Resolver::with_lookup(slow);
        let soon = || Deadline::after(Some(Duration::from_millis(20)), "the step");
        let err = resolver.resolve("slow.test", soon()).unwrap_err();
        assert_eq!(Code::of(&err), Code::Timeout);
        assert_eq!(
            format!("{err:#}"),
            "timed out resolving slow.test: the step did not complete within 20ms"
        );
        let err = resolver.resolve("other.test", soon()).unwrap_err();
        assert_eq!(Code::of(&err), Code::Timeout);
        // The thread went on with the lookups; the next callers get their answers.
        let addrs = resolver.resolve("slow.test", None).unwrap();
        assert_eq!(&*addrs, &["192.0.2.7".parse::<IpAddr>().unwrap()]);
        let addrs = resolver.resolve("other.test", None).unwrap();
        assert_eq!(&*addrs, &["192.0.2.8".parse::<IpAddr>().unwrap()]);
        // Two lookups given up on, one thread: none left behind per lookup.
        let threads = THREADS.lock().unwrap();
        assert_eq!(threads.len(), 2);
        assert_eq!(threads[0], threads[1]);
        assert_ne!(threads[0], thread::current().id());
    }

    #[test]
    fn an_empty_answer_is_no_address() {
        let resolver = Resolver::with_lookup(|_| Ok(Vec::new()));
        let err = resolver.resolve("empty.test", None).unwrap_err();
        assert_eq!(Code::of(&err), Code::CouldntResolve);
        assert_eq!(err.to_string(), "host empty.test has no address");
    }
}
