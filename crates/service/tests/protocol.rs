//! The service protocol with real threads standing in for sessions and the serving process:
//! every client gets its own texts' vectors, long texts survive the trip in pieces, cancels and
//! crashes leave no slot behind, a model change answers nothing with the wrong model.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use tasb_service::batch::BatchPolicy;
use tasb_service::client::{route, Client, Route, Wait};
use tasb_service::model::Model;
use tasb_service::server::{Server, Wake};
use tasb_service::{futex, Failure, FailureKind, RunnerState, ServiceStatus, Shared, SLOTS};

const OWNERS: usize = 32;

/// One futex word per client: the stand-in for a Postgres latch.
struct Latches {
    words: Vec<AtomicU32>,
}

impl Latches {
    fn new() -> Arc<Latches> {
        Arc::new(Latches {
            words: (0..OWNERS).map(|_| AtomicU32::new(0)).collect(),
        })
    }
}

impl Latches {
    fn wake(&self, owner: u32) {
        let word = &self.words[owner as usize];
        word.store(1, Ordering::Release);
        futex::wake_all(word);
    }
}

struct LatchWake(Arc<Latches>);

impl Wake for LatchWake {
    fn wake(&self, owner: u32) {
        self.0.wake(owner);
    }
}

struct LatchWait {
    latches: Arc<Latches>,
    owner: usize,
}

impl Wait for LatchWait {
    fn wait(&mut self, timeout: Duration) {
        let word = &self.latches.words[self.owner];
        futex::wait(word, 0, timeout);
        word.store(0, Ordering::Release);
    }
}

/// A wait that is cancelled (unwinds, as a Postgres error would) once `after` is set.
struct CancelledWait {
    inner: LatchWait,
    after: Arc<AtomicBool>,
}

impl Wait for CancelledWait {
    fn wait(&mut self, timeout: Duration) {
        if self.after.load(Ordering::Acquire) {
            panic!("canceling statement due to user request");
        }
        self.inner.wait(timeout.min(Duration::from_millis(5)));
    }
}

/// The independent reference: a vector made from every byte of the text.
fn reference(text: &str) -> Vec<f32> {
    let mut hash: u64 = 0xcbf29ce484222325;
    for &b in text.as_bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    let mut v: Vec<f32> = (0..7).map(|k| ((hash >> (k * 9)) & 0x1ff) as f32).collect();
    v.push(text.len() as f32);
    v
}

#[derive(Clone, Default)]
struct FakeModel {
    batches: Arc<Mutex<Vec<usize>>>,
    /// While set, `run` waits (a model busy with a long batch).
    hold: Arc<AtomicBool>,
    running: Arc<AtomicBool>,
    call_delay: Duration,
}

impl Model for FakeModel {
    type Tokens = String;

    fn dimensions(&self) -> usize {
        8
    }

    fn tokenize(&self, text: &str) -> Result<String, Failure> {
        if text == "cannot tokenize" {
            return Err(Failure::new(FailureKind::Input, "bad text", Some("fix it")));
        }
        Ok(text.to_string())
    }

    fn token_count(tokens: &String) -> usize {
        2 + tokens.len() / 4
    }

    fn run(&mut self, batch: &[&String]) -> Result<Vec<Vec<f32>>, Failure> {
        self.running.store(true, Ordering::Release);
        while self.hold.load(Ordering::Acquire) {
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(self.call_delay);
        self.batches.lock().unwrap().push(batch.len());
        Ok(batch.iter().map(|t| reference(t)).collect())
    }
}

const CPU: BatchPolicy = BatchPolicy {
    max_texts: 8,
    max_padded_tokens: 2048,
};

/// A serving thread for `generation` until `stop` is set.
fn serve(
    shared: &'static Shared,
    generation: u64,
    model: FakeModel,
    latches: Arc<Latches>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut server = Server::new(shared, generation, model, LatchWake(latches), CPU);
        server.serve(&mut || !stop.load(Ordering::Acquire));
    })
}

fn leaked() -> &'static Shared {
    Box::leak(Shared::boxed())
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn sixteen_sessions_each_get_their_own_vectors() {
    let shared = leaked();
    let generation = shared.publish_config(true, "/models/m", "/models/m");
    let latches = Latches::new();
    let stop = Arc::new(AtomicBool::new(false));
    let model = FakeModel {
        call_delay: Duration::from_millis(1),
        ..FakeModel::default()
    };
    let server = serve(
        shared,
        generation,
        model.clone(),
        latches.clone(),
        stop.clone(),
    );
    let clients: Vec<_> = (0..16)
        .map(|session| {
            let latches = latches.clone();
            thread::spawn(move || {
                let mut client = Client::new(
                    shared,
                    session as u32,
                    LatchWait {
                        latches,
                        owner: session,
                    },
                );
                for call in 0..6 {
                    // Single texts and batches of up to 23, each session's texts its own.
                    let n = [1, 23, 1, 7, 16, 2][call];
                    let texts: Vec<String> = (0..n)
                        .map(|i| {
                            format!(
                                "session {session} call {call} text {i} {}",
                                "w ".repeat(i * 3)
                            )
                        })
                        .collect();
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let vectors = client.encode(generation, &refs).expect("encoded");
                    assert_eq!(vectors.len(), n);
                    for (text, vector) in texts.iter().zip(&vectors) {
                        assert_eq!(vector, &reference(text), "{text}");
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Release);
    shared.notify_server();
    server.join().unwrap();
    let counters = shared.counters.snapshot();
    assert_eq!(counters.texts, 16 * 50);
    let batches = model.batches.lock().unwrap();
    assert!(batches.iter().all(|&b| b <= 8), "{batches:?}");
    assert!(
        batches.iter().any(|&b| b > 1),
        "texts from many sessions share calls: {batches:?}"
    );
    assert_eq!(counters.batches as usize, batches.len());
    assert!(counters.wait_quantile_ms(0.5).is_some());
    assert_eq!(shared.slots_in_use(), 0);
}

#[test]
fn long_texts_travel_in_pieces() {
    let shared = leaked();
    let generation = shared.publish_config(true, "/m", "/m");
    let latches = Latches::new();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(
        shared,
        generation,
        FakeModel::default(),
        latches.clone(),
        stop.clone(),
    );
    let mut client = Client::new(shared, 1, LatchWait { latches, owner: 1 });
    let megabyte: String = (0..1 << 20)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let with_multibyte = "é".repeat(40_000); // pieces end inside characters
    let texts = [megabyte.as_str(), "", "short", with_multibyte.as_str()];
    let vectors = client.encode(generation, &texts).unwrap();
    for (text, vector) in texts.iter().zip(&vectors) {
        assert_eq!(vector, &reference(text));
    }
    stop.store(true, Ordering::Release);
    shared.notify_server();
    server.join().unwrap();
    assert_eq!(shared.slots_in_use(), 0);
}

#[test]
fn a_text_the_model_refuses_fails_that_call_and_frees_its_slots() {
    let shared = leaked();
    let generation = shared.publish_config(true, "/m", "/m");
    let latches = Latches::new();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(
        shared,
        generation,
        FakeModel::default(),
        latches.clone(),
        stop.clone(),
    );
    let mut client = Client::new(shared, 2, LatchWait { latches, owner: 2 });
    let error = client
        .encode(generation, &["fine", "cannot tokenize", "also fine"])
        .unwrap_err();
    assert_eq!(error.kind, FailureKind::Input);
    assert_eq!(error.message, "bad text");
    assert_eq!(error.hint.as_deref(), Some("fix it"));
    // The same client goes on working.
    assert_eq!(
        client.encode(generation, &["next"]).unwrap()[0],
        reference("next")
    );
    stop.store(true, Ordering::Release);
    shared.notify_server();
    server.join().unwrap();
    wait_until("slots freed", || shared.slots_in_use() == 0);
}

#[test]
fn a_cancel_while_queued_or_in_the_model_leaves_no_slot_behind() {
    let shared = leaked();
    let generation = shared.publish_config(true, "/m", "/m");
    let latches = Latches::new();
    // Queued only: no server yet.
    let cancel = Arc::new(AtomicBool::new(true));
    let mut client = Client::new(
        shared,
        3,
        CancelledWait {
            inner: LatchWait {
                latches: latches.clone(),
                owner: 3,
            },
            after: cancel.clone(),
        },
    );
    let texts: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert!(catch_unwind(AssertUnwindSafe(|| client.encode(generation, &refs))).is_err());
    assert_eq!(shared.slots_in_use(), 0, "queued slots are freed at once");

    // In the model: the server holds the slots when the client gives up.
    let model = FakeModel::default();
    model.hold.store(true, Ordering::Release);
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(
        shared,
        generation,
        model.clone(),
        latches.clone(),
        stop.clone(),
    );
    cancel.store(false, Ordering::Release);
    let running = model.running.clone();
    let cancel_when_running = cancel.clone();
    let canceller = thread::spawn(move || {
        wait_until("the model runs", || running.load(Ordering::Acquire));
        cancel_when_running.store(true, Ordering::Release);
    });
    assert!(catch_unwind(AssertUnwindSafe(|| client.encode(generation, &refs))).is_err());
    canceller.join().unwrap();
    assert!(
        shared.slots_in_use() > 0,
        "the server still holds the batch in the model"
    );
    model.hold.store(false, Ordering::Release);
    wait_until("abandoned slots freed", || shared.slots_in_use() == 0);
    // Abandoned texts that had not reached the model never do.
    let ran: usize = model.batches.lock().unwrap().iter().sum();
    assert!(ran <= 8, "ran {ran} texts for a cancelled call");
    cancel.store(false, Ordering::Release);
    assert_eq!(
        client.encode(generation, &["after"]).unwrap()[0],
        reference("after")
    );
    stop.store(true, Ordering::Release);
    shared.notify_server();
    server.join().unwrap();
}

#[test]
fn a_model_change_answers_nothing_with_the_new_model() {
    let shared = leaked();
    let old = shared.publish_config(true, "/models/a", "/models/a");
    let latches = Latches::new();
    let sent = Arc::new(AtomicUsize::new(0));
    let client_latches = latches.clone();
    let client = thread::spawn(move || {
        let mut client = Client::new(
            shared,
            4,
            LatchWait {
                latches: client_latches,
                owner: 4,
            },
        );
        client.encode(old, &["routed to a", "also to a"])
    });
    wait_until("queued", || shared.slots_in_use() == 2);
    sent.store(1, Ordering::Release);
    let new = shared.publish_config(true, "/models/b", "/models/b");
    // The new generation's server finds texts routed to the old one and refuses them.
    let mut server = Server::new(
        shared,
        new,
        FakeModel::default(),
        LatchWake(latches.clone()),
        CPU,
    );
    while server.step() {}
    let error = client.join().unwrap().unwrap_err();
    assert_eq!(error.kind, FailureKind::Retry);
    assert_eq!(route(shared, Some("/models/a")), Route::Backend);
    assert_eq!(
        route(shared, Some("/models/b")),
        Route::Service { generation: new }
    );
    wait_until("slots freed", || shared.slots_in_use() == 0);

    // A server whose generation is replaced while it serves stops and fails what it held.
    let model = FakeModel::default();
    model.hold.store(true, Ordering::Release);
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(shared, new, model.clone(), latches.clone(), stop.clone());
    let client_latches = latches.clone();
    let client = thread::spawn(move || {
        let mut client = Client::new(
            shared,
            5,
            LatchWait {
                latches: client_latches,
                owner: 5,
            },
        );
        let texts: Vec<String> = (0..12).map(|i| format!("b{i}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        client.encode(new, &refs)
    });
    wait_until("the model runs", || model.running.load(Ordering::Acquire));
    shared.publish_config(true, "/models/c", "/models/c");
    model.hold.store(false, Ordering::Release);
    shared.notify_server();
    server.join().unwrap();
    // The supervisor fails what is still queued for the old generation once its server is gone.
    let failed =
        shared.fail_in_flight(new, &Failure::model_changed(), &|owner| latches.wake(owner));
    assert!(failed <= SLOTS);
    // The batch in the model was answered by b, which it was sent to; the rest were not run.
    if let Err(e) = client.join().unwrap() {
        assert_eq!(e.kind, FailureKind::Retry);
    }
    wait_until("slots freed", || shared.slots_in_use() == 0);
}

#[test]
fn a_crashed_server_fails_what_it_held_and_keeps_the_next_generation_queued() {
    let shared = leaked();
    let generation = shared.publish_config(true, "/m", "/m");
    let latches = Latches::new();
    let client_latches = latches.clone();
    let waiting = thread::spawn(move || {
        let mut client = Client::new(
            shared,
            6,
            LatchWait {
                latches: client_latches,
                owner: 6,
            },
        );
        let started = Instant::now();
        (
            client.encode(generation, &["x", "y", "z"]),
            started.elapsed(),
        )
    });
    wait_until("queued", || shared.slots_in_use() == 3);
    // A queued request of a newer generation (sent after a reload) must survive the crash.
    let (index, ticket) = shared.claim_free_slot().unwrap();
    // SAFETY: Claimed lends the data to us.
    unsafe {
        let data = &mut *shared.slot(index).data();
        data.generation = generation + 1;
        data.piece_offset = 0;
        data.piece_len = 0;
    }
    assert!(shared.slot(index).transition(
        ticket,
        tasb_service::slot::SlotState::Claimed,
        tasb_service::slot::SlotState::Queued
    ));
    let failed =
        shared.fail_in_flight(generation, &Failure::ended("was killed (signal 9)"), &|o| {
            latches.wake(o)
        });
    // The client gives up its other slots as soon as it sees the first failure.
    assert!((1..=3).contains(&failed), "{failed}");
    let (result, elapsed) = waiting.join().unwrap();
    let error = result.unwrap_err();
    assert_eq!(error.kind, FailureKind::Ended);
    assert!(error.message.contains("signal 9"), "{}", error.message);
    assert!(error.hint.is_some());
    assert!(elapsed < Duration::from_secs(2));
    assert_eq!(
        shared.slot(index).load().1,
        tasb_service::slot::SlotState::Queued
    );
}

#[test]
fn routing_follows_configuration_and_status() {
    let shared = leaked();
    assert_eq!(
        route(shared, Some("/m")),
        Route::Backend,
        "never configured"
    );
    let generation = shared.publish_config(true, "/m", "/m");
    assert_eq!(route(shared, Some("/m")), Route::Service { generation });
    assert_eq!(route(shared, Some("/other")), Route::Backend);
    assert_eq!(route(shared, None), Route::Backend);
    shared.publish_status(&ServiceStatus {
        generation,
        state: RunnerState::Failed,
        dimensions: 0,
        threads: 2,
        pid: 1,
        device: String::new(),
        message: "cannot load tokenizer /m/tokenizer.json".into(),
        hint: "export it".into(),
    });
    match route(shared, Some("/m")) {
        Route::Unavailable(f) => {
            assert!(f.message.contains("tokenizer"));
            assert_eq!(f.hint.as_deref(), Some("export it"));
        }
        other => panic!("{other:?}"),
    }
    let off = shared.publish_config(false, "/m", "/m");
    assert!(off > generation);
    assert_eq!(
        route(shared, Some("/m")),
        Route::Backend,
        "service turned off"
    );
}
