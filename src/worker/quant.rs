//! The quantization worker. It keeps the loaded weights and the last
//! results, so a change of a quantization setting never reloads the weights,
//! and it skips analyses that a newer one has made stale.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Alternatives, EnsembleView, Job, JobError, JobId, Outcome, Output, QuantView, WeightsSummary};

use crate::compute::analysis::{
    Analysis, AnalysisError, MseCurve, WeightStats, alternatives, analyze_with, mse_curve, weight_stats,
};
use crate::compute::calibrate::Target;
use crate::compute::diagnose::diagnose;
use crate::compute::formats::table::{self, FormatRow};
use crate::compute::quant::QuantConfig;
use crate::compute::watch::{Cancelled, Watch};
use crate::compute::weights::{self, TensorInfo, Weights};
use crate::settings::{Settings, WeightsConfig};

struct Loaded {
    config: WeightsConfig,
    weights: Arc<Weights>,
    stats: WeightStats,
    summary: Arc<WeightsSummary>,
    tensors: Arc<Vec<TensorInfo>>,
}

/// How often a long calibration tells the pane how far it is.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// The worker's caches; also driven directly by tests and benches.
#[derive(Default)]
pub struct Worker {
    loaded: Option<Loaded>,
    analysis: Option<(QuantConfig, Arc<Analysis>)>,
    alternatives: Option<(Target, Arc<Alternatives>)>,
    curve: Option<(QuantConfig, Arc<MseCurve>)>,
    /// The Formats table of the weights loaded (it depends on them alone),
    /// all of it or the rows measured before a waiting job stopped it.
    formats: Option<(WeightsConfig, Arc<Vec<FormatRow>>)>,
    /// Jobs sent to this worker so far (by whoever sends them): the table
    /// gives way to any job that waits, and goes on after it.
    sent: Arc<AtomicU64>,
    /// The id of the newest analysis sent to this worker: a running one
    /// with an older id stops at its next check.
    newest: Arc<AtomicU64>,
}

/// What a job gives back: nothing when a newer job stopped it.
type Answer<T> = Option<Result<T, JobError>>;

impl Worker {
    /// A worker whose analyses stop once `newest` (set by whoever sends the
    /// jobs) names a newer one.
    pub fn new(newest: Arc<AtomicU64>) -> Worker {
        Worker { newest, ..Worker::default() }
    }

    /// The same worker, told by `sent` how many jobs were sent to it.
    pub fn counting_sent(self, sent: Arc<AtomicU64>) -> Worker {
        Worker { sent, ..self }
    }

    /// Stops job `id` once a newer analysis has been sent.
    fn superseded(&self, id: JobId) -> impl Fn() -> bool + Sync + use<> {
        let newest = self.newest.clone();
        move || newest.load(Ordering::Relaxed) > id
    }

    fn load(&mut self, config: &WeightsConfig) -> Result<&Loaded, JobError> {
        if self.loaded.as_ref().is_none_or(|l| &l.config != config) {
            self.analysis = None;
            self.alternatives = None;
            self.curve = None;
            self.loaded = None;
            let weights = config.load().map_err(|e| JobError::Weights(Arc::new(e)))?;
            let tensors = if config.is_synthetic() {
                Vec::new()
            } else {
                weights::list_tensors(std::path::Path::new(&config.source))
                    .map_err(|e| JobError::Weights(Arc::new(e)))?
            };
            let summary = WeightsSummary::of(&weights);
            self.loaded = Some(Loaded {
                stats: weight_stats(&weights),
                config: config.clone(),
                weights: Arc::new(weights),
                summary: Arc::new(summary),
                tensors: Arc::new(tensors),
            });
        }
        Ok(self.loaded.as_ref().expect("loaded above"))
    }

    fn analysis(&mut self, settings: &Settings, watch: &Watch) -> Answer<Arc<Analysis>> {
        if let Err(e) = self.load(&settings.weights) {
            return Some(Err(e));
        }
        if let Some((cfg, a)) = &self.analysis
            && cfg == &settings.quant
        {
            return Some(Ok(a.clone()));
        }
        let loaded = self.loaded.as_ref().expect("loaded above");
        let a = match analyze_with(&loaded.weights, &loaded.stats, &settings.quant, watch) {
            Ok(a) => Arc::new(a),
            Err(AnalysisError::Cancelled(_)) => return None,
            Err(e) => return Some(Err(JobError::Analysis(Arc::new(e)))),
        };
        self.analysis = Some((settings.quant.clone(), a.clone()));
        Some(Ok(a))
    }

    /// The fast part of an Analyze job: everything but the alternatives and
    /// the curve, which are included only when already known.
    pub fn analyze(&mut self, settings: &Settings, watch: &Watch) -> Answer<QuantView> {
        let start = Instant::now();
        let analysis = match self.analysis(settings, watch)? {
            Ok(a) => a,
            Err(e) => return Some(Err(e)),
        };
        let loaded = self.loaded.as_ref().expect("analysis loads the weights");
        let target = Target::of(&settings.quant, analysis.effective_bits);
        let alternatives = self.alternatives.as_ref().filter(|(t, _)| *t == target).map(|(_, a)| a.clone());
        let curve = self.curve.as_ref().filter(|(c, _)| *c == settings.quant).map(|(_, c)| c.clone());
        Some(Ok(QuantView {
            settings: settings.clone(),
            weights: loaded.summary.clone(),
            tensors: loaded.tensors.clone(),
            findings: diagnose(&analysis),
            analysis,
            // Both or neither: the follow-up computes them together.
            alternatives: alternatives.clone().filter(|_| curve.is_some()),
            curve: curve.filter(|_| alternatives.is_some()),
            compute_ms: start.elapsed().as_secs_f64() * 1e3,
        }))
    }

    /// The slow part: every calibration method on the whole tensor, and
    /// the MSE curve on every value.
    pub fn slow_part(
        &mut self,
        view: &QuantView,
        watch: &Watch,
    ) -> Result<(Arc<Alternatives>, Arc<MseCurve>), Cancelled> {
        let (cfg, a) = (&view.settings.quant, &view.analysis);
        let weights = self.loaded.as_ref().expect("loaded by analyze").weights.clone();
        let curve = Arc::new(mse_curve(&weights, cfg, a, watch)?);
        self.curve = Some((cfg.clone(), curve.clone()));
        watch.check()?;
        let target = Target::of(cfg, a.effective_bits);
        let alts = match &self.alternatives {
            Some((t, alts)) if *t == target => alts.clone(),
            _ => Arc::new(alternatives(&weights, cfg, a.effective_bits)),
        };
        self.alternatives = Some((target, alts.clone()));
        Ok((alts, curve))
    }

    /// The settings file text with the quantizer's derived figures and, when
    /// given, the ensemble's. The edge writes it (`io::finish_export`).
    pub fn export_text(&mut self, settings: &Settings, ensemble: Option<&EnsembleView>) -> Result<String, JobError> {
        let analysis = self.analysis(settings, &Watch::NONE).expect("nothing stops an export")?;
        let (report, deploy) = (ensemble.map(|e| &*e.report), ensemble.map(|e| &*e.deploy));
        Ok(settings.portable().to_toml(Some(&analysis), report, deploy))
    }

    /// Runs one job and returns its result; None when `watch` stopped it.
    pub fn handle(&mut self, job: Job, watch: &Watch) -> Option<Output> {
        Some(match job {
            Job::Analyze { id, settings } => {
                let result = match self.analyze(&settings, watch)? {
                    Ok(view) => Outcome::Done(Box::new(view)),
                    Err(e) => Outcome::Failed(e),
                };
                Output::Analyzed { id, result }
            }
            Job::Export { id, settings, path, ensemble } => {
                Output::ExportReady { id, path, text: self.export_text(&settings, ensemble.as_deref()) }
            }
            Job::Train { id, .. } => Output::Trained {
                id,
                result: Outcome::Failed(JobError::Misrouted("the ensemble worker trains, not this one")),
            },
            Job::Scan { id, .. } | Job::Against { id, .. } => Output::Scanned {
                id,
                result: Outcome::Failed(JobError::Misrouted("the checkpoint worker scans, not this one")),
            },
        })
    }

    /// The second, slower result an analysis may need: the alternatives and
    /// the curve. None when they came with it, or `watch` stopped them.
    pub fn follow_up(&mut self, out: &Output, watch: &Watch) -> Option<Output> {
        match out {
            Output::Analyzed { id, result: Outcome::Done(view) } if view.curve.is_none() => {
                let start = Instant::now();
                let (alternatives, curve) = self.slow_part(view, watch).ok()?;
                let compute_ms = start.elapsed().as_secs_f64() * 1e3;
                Some(Output::Alternatives { id: *id, alternatives, curve, compute_ms })
            }
            _ => None,
        }
    }

    /// The Formats table of an analysis's weights, each row sent by `emit`
    /// as it is finished (at once when known); stops when `watch` does.
    /// Returns whether the table is whole: false when `watch` stopped it,
    /// which keeps the rows measured for the next call to go on from.
    pub fn format_rows(&mut self, out: &Output, watch: &Watch, emit: &mut dyn FnMut(Output)) -> bool {
        let Output::Analyzed { id, result: Outcome::Done(view) } = out else { return true };
        let (id, config) = (*id, &view.settings.weights);
        let rows = table::default_rows();
        let total = rows.len();
        let Some(loaded) = self.loaded.as_ref().filter(|l| &l.config == config) else { return true };
        let mut so_far: Vec<FormatRow> = match &self.formats {
            Some((c, done)) if c == config => done.to_vec(),
            _ => Vec::new(),
        };
        if !so_far.is_empty() {
            emit(Output::FormatRows { id, rows: Arc::new(so_far.clone()), total });
        }
        for (name, cfg) in &rows[so_far.len()..] {
            match table::measure(&loaded.weights, &loaded.stats, name, cfg, watch) {
                Ok(row) => so_far.push(row),
                Err(Cancelled) => break,
            }
            emit(Output::FormatRows { id, rows: Arc::new(so_far.clone()), total });
        }
        let whole = so_far.len() == total;
        self.formats = Some((config.clone(), Arc::new(so_far)));
        whole
    }

    /// Runs jobs until the job channel closes. `wrap` turns an output into
    /// the event loop's event type, so results share the input channel.
    pub fn run<E: Send>(mut self, jobs: Receiver<Job>, out: Sender<E>, wrap: impl Fn(Output) -> E + Sync) {
        let mut queue = VecDeque::new();
        let mut received = 0u64;
        // The analysis whose Formats table is still to finish: it goes on
        // whenever nothing waits, and gives way to the next job sent.
        let mut unfinished: Option<Output> = None;
        loop {
            if queue.is_empty() && unfinished.is_none() {
                match jobs.recv() {
                    Ok(job) => {
                        queue.push_back(job);
                        received += 1;
                    }
                    Err(_) => return,
                }
            }
            pull(&jobs, &mut queue, &mut received);
            if queue.is_empty() {
                let Some(analysis) = unfinished.take() else { continue };
                let whole = self.more_rows(&analysis, received, &mut |o| {
                    let _ = out.send(wrap(o));
                });
                // A newer analysis replaces it; a failed one leaves nothing to finish.
                let newer = matches!(&analysis, Output::Analyzed { id, .. } if self.superseded(*id)());
                if !whole && !newer {
                    unfinished = Some(analysis);
                }
                continue;
            }
            drop_stale(&mut queue);
            let Some(job) = queue.pop_front() else { continue };
            let id = job.id();
            let stop = self.superseded(id);
            let last_told = Mutex::new(Instant::now());
            let progress = |done, total| {
                let mut last = last_told.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= PROGRESS_EVERY {
                    *last = Instant::now();
                    let _ = out.send(wrap(Output::Calibrating { id, done, total }));
                }
            };
            let watch = Watch::new(&stop, &progress);
            let Some(output) = self.handle(job, &watch) else { continue };
            let pending = output.clone();
            if out.send(wrap(output)).is_err() {
                return;
            }
            // The slow part is worth computing only if no newer analysis is waiting.
            pull(&jobs, &mut queue, &mut received);
            if !queue.iter().any(|j| matches!(j, Job::Analyze { .. }))
                && let Some(follow) = self.follow_up(&pending, &watch)
                && out.send(wrap(follow)).is_err()
            {
                return;
            }
            if matches!(pending, Output::Analyzed { result: Outcome::Done(_), .. }) {
                unfinished = Some(pending);
            }
        }
    }

    /// The Formats table of `analysis`, on until a job beyond the first
    /// `received` is sent or a newer analysis supersedes it; whether it is whole.
    fn more_rows(&mut self, analysis: &Output, received: u64, emit: &mut dyn FnMut(Output)) -> bool {
        let Output::Analyzed { id, .. } = analysis else { return true };
        let (superseded, sent) = (self.superseded(*id), self.sent.clone());
        let stop = move || superseded() || sent.load(Ordering::Relaxed) > received;
        self.format_rows(analysis, &Watch::new(&stop, &|_, _| {}), emit)
    }
}

/// Moves the jobs already sent into the queue, counting them.
fn pull(jobs: &Receiver<Job>, queue: &mut VecDeque<Job>, received: &mut u64) {
    let before = queue.len();
    queue.extend(jobs.try_iter());
    *received += (queue.len() - before) as u64;
}

/// Of several queued analyses only the newest matters; exports all run.
fn drop_stale(queue: &mut VecDeque<Job>) {
    if let Some(last) = queue.iter().rposition(|j| matches!(j, Job::Analyze { .. })) {
        let mut i = 0;
        queue.retain(|j| {
            let keep = !matches!(j, Job::Analyze { .. }) || i == last;
            i += 1;
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::JobId;
    use std::sync::mpsc;

    fn analyze_job(id: JobId, bits: u32) -> Job {
        let mut settings = Settings::default();
        settings.quant.bits = bits;
        Job::Analyze { id, settings }
    }

    #[test]
    fn stale_analyses_are_dropped_and_exports_kept() {
        let export = Job::Export { id: 2, settings: Settings::default(), path: "x".into(), ensemble: None };
        let mut q: VecDeque<Job> = [analyze_job(1, 4), export, analyze_job(3, 5), analyze_job(4, 6)].into();
        drop_stale(&mut q);
        let ids: Vec<JobId> = q.iter().map(Job::id).collect();
        assert_eq!(ids, vec![2, 4]);
    }

    #[test]
    fn the_thread_answers_every_newest_job_with_its_id() {
        let (job_tx, job_rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::channel();
        let handle = std::thread::spawn(move || Worker::default().run(job_rx, out_tx, |o| o));
        job_tx.send(analyze_job(7, 4)).unwrap();
        match out_rx.recv().unwrap() {
            Output::Analyzed { id, result } => {
                assert_eq!(id, 7);
                let Outcome::Done(view) = result else { panic!("{result:?}") };
                assert_eq!(view.analysis.qmax, 7);
            }
            other => panic!("unexpected {other:?}"),
        }
        match out_rx.recv().unwrap() {
            Output::Alternatives { id, alternatives, curve, .. } => {
                assert_eq!((id, alternatives.len(), curve.points.len()), (7, 5, 40))
            }
            other => panic!("unexpected {other:?}"),
        }
        drop(job_tx);
        handle.join().unwrap();
    }

    #[test]
    fn a_newer_job_stops_a_slow_per_channel_calibration() {
        let newest = Arc::new(AtomicU64::new(0));
        let mut w = Worker::new(newest.clone());
        let mut settings = Settings::default();
        settings.weights.rows = 30_000;
        settings.weights.cols = 64;
        settings.quant.granularity = crate::compute::quant::Granularity::PerChannel;
        settings.quant.calibration = crate::compute::quant::Calibration::Mse;
        w.load(&settings.weights).unwrap();
        // Job 1 runs while job 2 has been sent: it stops without a result.
        newest.store(2, Ordering::Relaxed);
        let stop = w.superseded(1);
        let started = Instant::now();
        assert!(w.handle(Job::Analyze { id: 1, settings: settings.clone() }, &Watch::new(&stop, &|_, _| {})).is_none());
        assert!(started.elapsed() < Duration::from_millis(200), "stopped at the first check: {:?}", started.elapsed());
        // Job 2 itself runs to the end.
        let stop = w.superseded(2);
        let out = w.handle(Job::Analyze { id: 2, settings }, &Watch::new(&stop, &|_, _| {})).unwrap();
        assert!(matches!(out, Output::Analyzed { id: 2, result: Outcome::Done(_) }));
    }

    #[test]
    fn a_slow_part_stopped_halfway_is_computed_again() {
        let mut w = Worker::default();
        let a = w.analyze(&Settings::default(), &Watch::NONE).unwrap().unwrap();
        w.slow_part(&a, &Watch::NONE).unwrap();
        let mut s = Settings::default();
        s.quant.bits = 4;
        let b = w.analyze(&s, &Watch::NONE).unwrap().unwrap();
        // Stopped after the curve (one task here), before the alternatives.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let stop = || calls.fetch_add(1, Ordering::Relaxed) >= 1;
        assert_eq!(w.slow_part(&b, &Watch::new(&stop, &|_, _| {})), Err(Cancelled));
        let again = w.analyze(&s, &Watch::NONE).unwrap().unwrap();
        assert!(again.curve.is_none() && again.alternatives.is_none(), "both come again in the follow-up");
        let out = Output::Analyzed { id: 1, result: Outcome::Done(Box::new(again)) };
        assert!(matches!(w.follow_up(&out, &Watch::NONE), Some(Output::Alternatives { .. })));
    }

    #[test]
    fn a_load_error_is_typed_and_names_the_file() {
        let mut settings = Settings::default();
        settings.weights.source = "/no/such/file.npy".into();
        let err = Worker::default().analyze(&settings, &Watch::NONE).unwrap().unwrap_err();
        assert!(matches!(err, JobError::Weights(_)), "{err:?}");
        assert!(err.to_string().contains("/no/such/file.npy"), "{err}");
    }

    #[test]
    fn weights_are_loaded_once_for_many_quantizers() {
        let mut w = Worker::default();
        let a = w.analyze(&Settings::default(), &Watch::NONE).unwrap().unwrap();
        let mut s = Settings::default();
        s.quant.bits = 3;
        let b = w.analyze(&s, &Watch::NONE).unwrap().unwrap();
        assert!(Arc::ptr_eq(&a.weights, &b.weights));
        assert_ne!(a.analysis.qmax, b.analysis.qmax);
    }

    #[test]
    fn the_formats_table_gives_way_to_a_waiting_export_and_then_finishes() {
        let (job_tx, job_rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::channel();
        let sent = Arc::new(AtomicU64::new(0));
        let worker = Worker::default().counting_sent(sent.clone());
        let handle = std::thread::spawn(move || worker.run(job_rx, out_tx, |o| o));
        let mut settings = Settings::default();
        (settings.weights.rows, settings.weights.cols) = (512, 1024);
        let send = |job: Job| {
            sent.fetch_add(1, Ordering::Relaxed);
            job_tx.send(job).unwrap();
        };
        send(Job::Analyze { id: 1, settings: settings.clone() });
        let whole = |o: &Output| matches!(o, Output::FormatRows { rows, total, .. } if rows.len() == *total);
        // The first rows arrive: the table is under way when the export is sent.
        loop {
            match out_rx.recv().unwrap() {
                Output::FormatRows { rows, total, .. } if rows.len() < total => break,
                o => assert!(!whole(&o), "the table finished before the export was sent"),
            }
        }
        let path = std::path::PathBuf::from("unused.toml");
        send(Job::Export { id: 2, settings: settings.clone(), path, ensemble: None });
        let mut before_export = Vec::new();
        loop {
            let o = out_rx.recv().unwrap();
            if matches!(o, Output::ExportReady { .. }) {
                break;
            }
            before_export.push(o);
        }
        // At most the row under way when the export was sent finishes before it.
        let rows_then = |o: &Output| if let Output::FormatRows { rows, .. } = o { rows.len() } else { 0 };
        assert!(!before_export.iter().any(whole), "the export waited for the whole table");
        let last_before = before_export.iter().map(rows_then).max().unwrap_or(0);
        let finished = loop {
            let o = out_rx.recv().unwrap();
            if whole(&o) {
                break o;
            }
        };
        assert!(rows_then(&finished) > last_before, "the table went on after the export");
        drop(job_tx);
        handle.join().unwrap();
    }
}
