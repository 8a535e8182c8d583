//! Work shared between the cores: a queue of tasks that threads take in
//! turn, with results that come back in task order, so that nothing
//! computed depends on the number of threads.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many values one thread is quicker than starting another.
const PARALLEL_MIN: usize = 1 << 16;

thread_local! {
    /// Set while this thread runs one of several tasks that share the cores
    /// (`on_one_thread`): the work inside it then starts no threads of its own.
    static ONE_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// How many threads `len` values are worth: one per core, up to eight;
/// one inside `on_one_thread`.
pub fn threads_for(len: usize) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // Asking costs a few file reads (cgroup quotas): once is enough.
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
    if len < PARALLEL_MIN || ONE_THREAD.get() { 1 } else { cores }
}

/// Runs `f` with `threads_for` answering 1 on this thread: for a task that
/// runs beside others, one per core, where threads of its own would only
/// take turns with them. The bits do not change (no result depends on the
/// number of threads); only the spawning and the hand-offs are saved.
pub fn on_one_thread<R>(f: impl FnOnce() -> R) -> R {
    /// Puts the flag back however `f` ends, a panic included.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ONE_THREAD.set(self.0);
        }
    }
    let _restore = Restore(ONE_THREAD.replace(true));
    f()
}

/// Runs `tasks` on `threads` threads (this one among them), each taking the
/// next task whenever it is done with one, so no thread idles while
/// another has a queue. The results come back in task order, with each
/// thread's `state` at the end: nothing depends on which thread ran what.
/// With more than one thread, each runs its tasks inside `on_one_thread`
/// (a spawned thread would not inherit the flag), so nested work does not
/// start threads of its own on cores these already fill.
pub fn run_tasks<T: Sync, S: Send, R: Send>(
    tasks: &[T],
    threads: usize,
    state: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, &T) -> R + Sync,
) -> (Vec<R>, Vec<S>) {
    let next = AtomicUsize::new(0);
    let threads = threads.min(tasks.len());
    let take_tasks = || {
        let (mut s, mut done) = (state(), Vec::new());
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(task) = tasks.get(i) else { break };
            done.push((i, run(&mut s, task)));
        }
        (done, s)
    };
    let work = || if threads > 1 { on_one_thread(take_tasks) } else { take_tasks() };
    let per_thread: Vec<_> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
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

/// Runs `tasks` on `threads` threads as `run_tasks` does, but hands each
/// result to `take` on this thread in task order as soon as it and every
/// one before it are done, so the caller can show results while later
/// ones run. The first error in task order ends it: no task after it is
/// started, those before it are taken, and it is returned; an error from
/// `take` ends it the same way (a cancelled consumer). Each thread
/// holds one task at a time (and its `state`), the results waiting for an
/// earlier one aside.
pub fn run_in_order<T: Sync, S, R: Send, E: Send>(
    tasks: &[T],
    threads: usize,
    state: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, &T) -> Result<R, E> + Sync,
    mut take: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    let threads = threads.min(tasks.len());
    if threads <= 1 {
        let mut s = state();
        return tasks.iter().try_for_each(|task| run(&mut s, task).and_then(&mut take));
    }
    let (next, stop_at) = (AtomicUsize::new(0), AtomicUsize::new(usize::MAX));
    std::thread::scope(|scope| {
        let (sender, results) = std::sync::mpsc::channel();
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, stop_at, state, run) = (&next, &stop_at, &state, &run);
            scope.spawn(move || {
                let mut s = state();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(i).filter(|_| i < stop_at.load(Ordering::Relaxed)) else { break };
                    let result = run(&mut s, task);
                    if result.is_err() {
                        stop_at.fetch_min(i, Ordering::Relaxed);
                    }
                    // The receiver is gone once an earlier error ended the run.
                    if sender.send((i, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut waiting = BTreeMap::new();
        let mut wanted = 0;
        // Every thread's sender gone ends this loop (a panic is raised by the scope).
        for (i, result) in results {
            waiting.insert(i, result);
            while let Some(result) = waiting.remove(&wanted) {
                take(result?)?;
                wanted += 1;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uneven work, so that threads overtake each other.
    fn slow_square(t: u64) -> u64 {
        std::thread::sleep(std::time::Duration::from_micros((t * 37) % 50));
        t * t
    }

    #[test]
    fn results_are_taken_in_task_order_whatever_the_threads() {
        let tasks: Vec<u64> = (0..200).collect();
        for threads in [1, 2, 7] {
            let mut taken = Vec::new();
            let done = run_in_order(
                &tasks,
                threads,
                || (),
                |_, &t| Ok::<_, ()>(slow_square(t)),
                |r| {
                    taken.push(r);
                    Ok(())
                },
            );
            assert_eq!(done, Ok(()));
            assert_eq!(taken, tasks.iter().map(|t| t * t).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    #[test]
    fn the_first_error_in_task_order_ends_the_run() {
        let tasks: Vec<u64> = (0..200).collect();
        for threads in [1, 2, 7] {
            let started = AtomicUsize::new(0);
            let mut taken = Vec::new();
            let run = |_: &mut (), &t: &u64| {
                started.fetch_add(1, Ordering::Relaxed);
                // Task 150 fails fast, 90 fails slowly: 90 is the one returned.
                if t == 150 {
                    return Err(t);
                }
                let square = slow_square(t);
                if t == 90 { Err(t) } else { Ok(square) }
            };
            let done = run_in_order(
                &tasks,
                threads,
                || (),
                run,
                |r| {
                    taken.push(r);
                    Ok(())
                },
            );
            assert_eq!(done, Err(90), "{threads} threads");
            assert_eq!(taken, (0..90).map(|t| t * t).collect::<Vec<_>>());
            // Past a failed task only those already taken by another thread start.
            assert!(started.load(Ordering::Relaxed) <= 150 + threads, "{threads} threads");
        }
    }

    #[test]
    fn on_one_thread_caps_the_threads_inside_it_only() {
        let big = PARALLEL_MIN * 4;
        let outside = threads_for(big);
        assert_eq!(on_one_thread(|| threads_for(big)), 1);
        assert_eq!(on_one_thread(|| on_one_thread(|| threads_for(big))), 1);
        assert_eq!(threads_for(big), outside, "restored after");
        let panicked = std::panic::catch_unwind(|| on_one_thread(|| panic!("a task failed")));
        assert!(panicked.is_err());
        assert_eq!(threads_for(big), outside, "restored after a panic too");
    }

    /// What `threads_for` answers on each of two workers of `run_tasks`
    /// (a barrier makes both take a task), and on the caller afterwards.
    fn threads_seen_by_two_workers(big: usize) -> (Vec<usize>, usize) {
        let both = std::sync::Barrier::new(2);
        let meet_then_ask = |_: &mut (), _: &i32| {
            both.wait();
            threads_for(big)
        };
        let (seen, _) = run_tasks(&[0, 1], 2, || (), meet_then_ask);
        (seen, threads_for(big))
    }

    #[test]
    fn run_tasks_workers_start_no_threads_of_their_own() {
        let big = PARALLEL_MIN * 4;
        let outside = threads_for(big);
        // A spawned thread does not inherit a thread-local flag: the cap
        // must be set in every worker, the spawned ones included.
        assert_eq!(on_one_thread(|| threads_seen_by_two_workers(big)), (vec![1, 1], 1));
        assert_eq!(threads_seen_by_two_workers(big), (vec![1, 1], outside), "restored after");
        // Alone, the caller's thread keeps its own answer.
        let (alone, _) = run_tasks(&[0], 2, || (), |_, _: &i32| threads_for(big));
        assert_eq!(alone, vec![outside]);
    }

    /// A sum of sums over chunks of `values`, each chunk a task of a
    /// `run_tasks` on `threads_for` threads, merged in chunk order.
    fn nested_sum(values: &[f64]) -> f64 {
        let chunks: Vec<&[f64]> = values.chunks(1000).collect();
        let (sums, _) = run_tasks(&chunks, threads_for(values.len()), || (), |_, c| c.iter().sum::<f64>());
        sums.iter().sum()
    }

    #[test]
    fn nested_work_gives_the_same_bits_on_any_thread_count() {
        let groups: Vec<Vec<f64>> =
            (0..6).map(|g| (0..PARALLEL_MIN + 17 * g).map(|i| ((i * 7 + g) as f64).sin() / 3.0).collect()).collect();
        let alone: Vec<u64> = groups.iter().map(|g| nested_sum(g).to_bits()).collect();
        for threads in [1, 2, 7] {
            let (sums, _) = run_tasks(&groups, threads, || (), |_, g| nested_sum(g).to_bits());
            assert_eq!(sums, alone, "{threads} threads");
            let (capped, _) = on_one_thread(|| run_tasks(&groups, threads, || (), |_, g| nested_sum(g).to_bits()));
            assert_eq!(capped, alone, "{threads} threads under on_one_thread");
        }
    }
}
