//! Work shared between the cores: a queue of tasks that threads take in
//! turn, with results that come back in task order, so that nothing
//! computed depends on the number of threads.

/// Below this many values one thread is quicker than starting another.
const PARALLEL_MIN: usize = 1 << 16;

/// How many threads `len` values are worth: one per core, up to eight.
pub fn threads_for(len: usize) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // Asking costs a few file reads (cgroup quotas): once is enough.
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
    if len < PARALLEL_MIN { 1 } else { cores }
}

/// Runs `tasks` on `threads` threads (this one among them), each taking the
/// next task whenever it is done with one, so no thread idles while
/// another has a queue. The results come back in task order, with each
/// thread's `state` at the end: nothing depends on which thread ran what.
pub fn run_tasks<T: Sync, S: Send, R: Send>(
    tasks: &[T],
    threads: usize,
    state: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, &T) -> R + Sync,
) -> (Vec<R>, Vec<S>) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let (mut s, mut done) = (state(), Vec::new());
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(task) = tasks.get(i) else { break };
            done.push((i, run(&mut s, task)));
        }
        (done, s)
    };
    let per_thread: Vec<_> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(tasks.len())).map(|_| scope.spawn(work)).collect();
        let mine = work();
        std::iter::once(mine).chain(helpers.into_iter().map(|h| h.join().expect("a compute thread panicked"))).collect()
    });
    let (mut results, mut states) = (Vec::with_capacity(tasks.len()), Vec::with_capacity(per_thread.len()));
    for (done, s) in per_thread {
        results.extend(done);
        states.push(s);
    }
    results.sort_unstable_by_key(|(i, _)| *i);
    (results.into_iter().map(|(_, r)| r).collect(), states)
}
