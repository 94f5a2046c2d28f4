//! CREATE INDEX / REINDEX. One table scan writes every vector to vector pages and keeps a
//! reservoir sample; k-means then trains on the sample on worker threads (no Postgres calls there);
//! the vectors are read back in chunks, assigned and encoded in parallel, and their entries
//! written to list pages. Everything is logged with log_newpage_range at the end.

use super::metric::{self, Metric};
use super::options::lists_option;
use super::pages::Locked;
use super::pages::{
    self, Meta, PageImage, Payload, CENTROID_PREFIX, KIND_CENTROID, KIND_LIST, KIND_META,
    KIND_VECTOR,
};
use super::vectors::{
    as_elements, column_dims, datum_elements, dims_mismatch, element_bytes, to_f32, too_large,
};
use crate::errors::raise;
use pgrx::{pg_sys, PgSqlErrorCode};
use rayon::prelude::*;
use tasb_index::block::BlockLayout;
use tasb_index::ivf::{default_lists, encode_entry, KMEANS_ITERATIONS, TRAINING_ROWS_PER_LIST};
use tasb_index::kmeans;
use tasb_index::rng::Rng;
use tasb_index::rotation::Rotation;
use tasb_index::tune::{self, Calibration};
use tasb_index::vector::normalize;

pub const PHASE_LOADING: i64 = 2;
pub const PHASE_TRAINING: i64 = 3;
pub const PHASE_WRITING: i64 = 4;

/// Rows read back, assigned and encoded per parallel step.
const ENCODE_CHUNK: usize = 4096;

struct BuildState {
    index: pg_sys::Relation,
    dims: usize,
    vector_page: PageImage,
    vector_blocks: Vec<pg_sys::BlockNumber>,
    rows: usize,
    sample: Vec<f32>,
    sample_capacity: usize,
    rng: Rng,
    /// A cosine index lists rows' directions.
    metric: Metric,
}

fn progress(param: u32, value: i64) {
    // SAFETY: plain call; outside a CREATE INDEX it updates nothing.
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) };
}

pub fn phase_name(phase: i64) -> Option<&'static std::ffi::CStr> {
    match phase {
        PHASE_LOADING => Some(c"loading tuples"),
        PHASE_TRAINING => Some(c"training lists"),
        PHASE_WRITING => Some(c"writing lists"),
        _ => None,
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    // SAFETY: called by Postgres with open relations for a new, empty index.
    unsafe {
        // A column with a size (tasbvec(768)) fixes the dimensions, also for an empty table.
        let column_dims = column_dims(index);
        let metric = metric::of_index(index);
        let mut meta_image = PageImage::new(KIND_META);
        pages::write_meta(
            meta_image.page(),
            &pages::new_meta(column_dims.unwrap_or(0) as u32),
        );
        if meta_image.flush(index) != pages::META_BLOCK {
            raise(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "tasb_ivf build: index was not empty",
                None,
                None,
            );
        }
        // Sample memory: maintenance_work_mem, as other index builds use.
        let budget = pg_sys::maintenance_work_mem as usize * 1024;
        let mut state = BuildState {
            index,
            dims: column_dims.unwrap_or(0),
            vector_page: PageImage::new(KIND_VECTOR),
            vector_blocks: Vec::new(),
            rows: 0,
            sample: Vec::new(),
            sample_capacity: budget,
            rng: Rng(0x5eed),
            metric,
        };
        if state.dims > 0 {
            state.sample_capacity = (state.sample_capacity / (state.dims * 4)).max(1);
        }
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOADING);
        let table_am = (*heap).rd_tableam;
        let Some(scan) = (*table_am).index_build_range_scan else {
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "tasb_ivf: the table's access method cannot scan for an index build",
                None,
                None,
            );
        };
        let heap_tuples = scan(
            heap,
            index,
            index_info,
            true,
            false,
            true,
            0,
            pg_sys::InvalidBlockNumber,
            Some(build_callback),
            &mut state as *mut BuildState as *mut std::ffi::c_void,
            std::ptr::null_mut(),
        );
        if !state.vector_page.is_empty() {
            let block = state.vector_page.flush(index);
            state.vector_blocks.push(block);
        }
        let meta = write_lists(&mut state);
        let meta_lock = Locked::new(index, pages::META_BLOCK, pg_sys::BUFFER_LOCK_EXCLUSIVE);
        pages::write_meta(meta_lock.page(), &meta);
        pg_sys::MarkBufferDirty(meta_lock.buffer());
        drop(meta_lock);
        if (*(*index).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char
        {
            let blocks =
                pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM);
            pg_sys::log_newpage_range(index, pg_sys::ForkNumber::MAIN_FORKNUM, 0, blocks, true);
        }
        let mut result = pgrx::PgBox::<pg_sys::IndexBuildResult>::alloc0();
        result.heap_tuples = heap_tuples;
        result.index_tuples = state.rows as f64;
        result.into_pg()
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: `state` is the BuildState passed to index_build_range_scan; values/isnull hold one
    // column (the index has one key) for the tuple at `tid`.
    unsafe {
        let state = &mut *(state as *mut BuildState);
        if *isnull {
            return; // NULL vectors are not indexed (they have no distance to order by)
        }
        let (dims, bytes) = element_bytes(*values);
        let direction = (state.metric == Metric::Cosine).then(|| {
            let mut x = to_f32(datum_elements(dims, bytes));
            normalize(&mut x).then_some(x)
        });
        if direction == Some(None) {
            return; // a zero vector has no direction, so no cosine distance (as in pgvector)
        }
        let sample_row = || match &direction {
            Some(Some(unit)) => unit.clone(),
            _ => to_f32(datum_elements(dims, bytes)),
        };
        if state.dims == 0 {
            state.dims = dims;
            state.sample_capacity = (state.sample_capacity / (dims * 4)).max(1);
        } else if dims != state.dims {
            dims_mismatch(state.dims as u32, dims);
        }
        let item = pages::vector_item(&*tid, bytes);
        if pages::add_item(state.vector_page.page(), &item).is_none() {
            let block = state.vector_page.flush(state.index);
            state.vector_blocks.push(block);
            state.vector_page = PageImage::new(KIND_VECTOR);
            if pages::add_item(state.vector_page.page(), &item).is_none() {
                too_large(dims);
            }
        }
        // Reservoir sample (Algorithm R) of the rows for k-means; rows not kept are not converted.
        let seen = state.rows;
        if seen < state.sample_capacity {
            state.sample.extend(sample_row());
        } else {
            let slot = (state.rng.next_u64() % (seen as u64 + 1)) as usize;
            if slot < state.sample_capacity {
                state.sample[slot * dims..(slot + 1) * dims].copy_from_slice(&sample_row());
            }
        }
        state.rows += 1;
        if state.rows.is_multiple_of(1024) {
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, state.rows as i64);
        }
    }
}

fn notice(message: String) {
    pgrx::notice!("{message}");
}

/// Trains the lists and writes list and centroid pages; returns the finished meta.
///
/// # Safety
/// Called once from ambuild after the table scan.
unsafe fn write_lists(state: &mut BuildState) -> Meta {
    let mut meta = pages::new_meta(state.dims as u32);
    meta.vector_tail = state
        .vector_blocks
        .last()
        .copied()
        .unwrap_or(pages::INVALID_BLOCK);
    let rows = state.rows;
    meta.vectors = rows as u64;
    if rows == 0 {
        notice(
            "tasb_ivf: the table has no vectors yet; the index makes its lists as rows arrive"
                .into(),
        );
        return meta;
    }
    let dims = state.dims;
    // SAFETY: the index is open (ambuild's contract).
    let requested = unsafe { lists_option(state.index) };
    let mut lists = if requested > 0 {
        requested
    } else {
        default_lists(rows)
    };
    if lists > rows {
        notice(format!(
            "tasb_ivf: {lists} lists requested but the table has {rows} vectors; using {rows}"
        ));
        lists = rows;
    }
    // Training rows: a random subset of the reservoir, or all of it when that is smaller.
    let wanted = lists * TRAINING_ROWS_PER_LIST;
    let in_sample = state.sample.len() / dims;
    if in_sample < wanted.min(rows) {
        notice(format!(
            "tasb_ivf: training {lists} lists on {in_sample} vectors (of {rows}); {} are recommended but maintenance_work_mem ({} MB) holds {in_sample}; raise maintenance_work_mem for better lists",
            wanted.min(rows),
            // SAFETY: reading a GUC variable.
            unsafe { pg_sys::maintenance_work_mem } / 1024
        ));
    }
    let training_rows = in_sample.min(wanted);
    // The reservoir keeps table order until it is full; shuffle the rows used so that training
    // and calibration see the whole table, not its first rows (tables are often loaded by topic).
    for i in 0..training_rows {
        let j = i + (state.rng.next_u64() as usize) % (in_sample - i);
        if i != j {
            for d in 0..dims {
                state.sample.swap(i * dims + d, j * dims + d);
            }
        }
    }
    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_TRAINING);
    let pool = build_pool();
    let pool = Some(&pool);
    let centroids = kmeans::train_in(
        pool,
        &state.sample[..training_rows * dims],
        dims,
        lists,
        KMEANS_ITERATIONS,
        7,
        |_| {
            pgrx::check_for_interrupts!();
        },
    );
    // Rows of the (shuffled) training sample become the queries that choose the default probes.
    let query_rows = tune::QUERIES.min(training_rows);
    let mut calibration = Calibration::new(&state.sample[..query_rows * dims], dims);
    state.sample = Vec::new();
    let norms = kmeans::inverse_norms(&centroids, dims);
    let rotation = Rotation::new(dims, meta.rotation_seed);

    progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITING);
    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, rows as i64);
    progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, 0);
    let layout = pages::list_layout(dims).unwrap_or_else(|| too_large(dims));
    let mut heads = vec![pages::INVALID_BLOCK; lists];
    let mut spreads = vec![0.0f32; lists];
    let mut images: Vec<Option<PageImage>> = (0..lists).map(|_| None).collect();
    // One page image per list being filled, within maintenance_work_mem (the sample is gone by
    // now): past that, a list's partly filled page is written out (clock order) to make room.
    // SAFETY: reading a GUC variable.
    let image_budget = unsafe { pg_sys::maintenance_work_mem } as usize * 1024;
    let mut images_held = ImageBudget::new(image_budget / pg_sys::BLCKSZ as usize);
    let mut chunk: Vec<f32> = Vec::with_capacity(ENCODE_CHUNK * dims);
    let mut payloads: Vec<Payload> = Vec::with_capacity(ENCODE_CHUNK);
    let mut done = 0usize;
    let blocks = std::mem::take(&mut state.vector_blocks);
    for (i, &block) in blocks.iter().enumerate() {
        // SAFETY: a vector page this build wrote, locked while read; the guard releases it.
        let locked = unsafe { Locked::new(state.index, block, pg_sys::BUFFER_LOCK_SHARE) };
        let page = locked.view(KIND_VECTOR);
        for offset in 1..=page.max_offset() {
            let (tid, bytes) = locked.ok(page.any_vector_item(offset, dims));
            let elements = as_elements(dims, bytes).unwrap_or_else(|| {
                let error = pages::PageError::ItemSize {
                    offset,
                    len: bytes.len(),
                    expected: dims * 4,
                };
                pages::corrupt(state.index, block, error)
            });
            let start = chunk.len();
            chunk.extend(to_f32(elements));
            if state.metric == Metric::Cosine {
                // The build callback left out rows without a direction.
                normalize(&mut chunk[start..]);
            }
            payloads.push(Payload {
                heap: pages::tid_from_bytes(tid),
                vector_block: block,
                vector_offset: offset,
            });
        }
        drop(locked);
        if payloads.len() >= ENCODE_CHUNK || i + 1 == blocks.len() {
            pgrx::check_for_interrupts!();
            let coded: Vec<(usize, Vec<u8>, f32)> = kmeans::on(pool, || {
                chunk
                    .par_chunks(dims)
                    .map(|x| {
                        let list = kmeans::nearest(&centroids, &norms, dims, x);
                        let mut code = Vec::new();
                        let spread = encode_entry(
                            &rotation,
                            &centroids[list * dims..(list + 1) * dims],
                            x,
                            layout.ex_planes(),
                            &mut code,
                        );
                        (list, code, spread)
                    })
                    .collect()
            });
            let assigned: Vec<u32> = coded.iter().map(|(list, _, _)| *list as u32).collect();
            kmeans::on(pool, || calibration.observe(&chunk, &assigned));
            let mut payload_bytes = Vec::with_capacity(pages::PAYLOAD_BYTES);
            for ((list, code, spread), payload) in coded.into_iter().zip(&payloads) {
                payload_bytes.clear();
                payload.write(&mut payload_bytes);
                spreads[list] = spreads[list].max(spread);
                if images[list].is_none() {
                    // SAFETY: the index is being built by this backend.
                    unsafe { images_held.make_room(state.index, &mut images, &mut heads) };
                }
                // SAFETY: the index is being built by this backend.
                unsafe {
                    append_entry(
                        state.index,
                        &layout,
                        &mut images[list],
                        &mut heads[list],
                        &code,
                        &payload_bytes,
                    )
                };
            }
            done += payloads.len();
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done as i64);
            chunk.clear();
            payloads.clear();
        }
    }
    for (image, head) in images.iter_mut().zip(heads.iter_mut()) {
        if let Some(image) = image {
            // SAFETY: as above.
            unsafe {
                (*pages::opaque(image.page())).next = *head;
                *head = image.flush(state.index);
            }
        }
    }
    // SAFETY: as above.
    unsafe { write_centroids(state.index, &mut meta, &centroids, &spreads, &heads) };
    let chosen = kmeans::on(pool, || calibration.probes(&centroids, &norms));
    meta.default_probes = chosen.probes as u32;
    meta.tuned_lists = meta.lists;
    meta.estimated_recall = chosen.estimated_recall as f32;
    meta
}

/// Counts the lists' page images held in memory and, when the budget is reached, writes one out
/// (the next held image after the last one written, round the lists) to make room for another.
struct ImageBudget {
    limit: usize,
    held: usize,
    hand: usize,
}

impl ImageBudget {
    fn new(limit: usize) -> Self {
        ImageBudget {
            limit: limit.max(1),
            held: 0,
            hand: 0,
        }
    }

    /// Makes room for one more image (the caller is about to create it).
    ///
    /// # Safety
    /// `index` is being built by this backend.
    unsafe fn make_room(
        &mut self,
        index: pg_sys::Relation,
        images: &mut [Option<PageImage>],
        heads: &mut [pg_sys::BlockNumber],
    ) {
        while self.held >= self.limit {
            self.hand = (self.hand + 1) % images.len();
            if let Some(mut image) = images[self.hand].take() {
                // SAFETY: a private list page image; flush writes to the index being built.
                unsafe {
                    (*pages::opaque(image.page())).next = heads[self.hand];
                    heads[self.hand] = image.flush(index);
                }
                self.held -= 1;
            }
        }
        self.held += 1;
    }
}

/// The build's worker threads: leader plus `max_parallel_maintenance_workers`, as Postgres's own
/// parallel builds (at most one per core). They start with every signal blocked, so Postgres's
/// signal handlers only ever run on the backend's own thread; they never call Postgres.
pub fn build_pool() -> rayon::ThreadPool {
    // SAFETY: reading a GUC variable.
    let workers = unsafe { pg_sys::max_parallel_maintenance_workers }.max(0) as usize;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (workers + 1).min(cores).max(1);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tasb_ivf build {i}"))
        .spawn_handler(|thread| {
            let mut builder = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_owned());
            }
            if let Some(size) = thread.stack_size() {
                builder = builder.stack_size(size);
            }
            with_signals_blocked(|| builder.spawn(|| thread.run()))?;
            Ok(())
        })
        .build()
        .unwrap_or_else(|error| {
            raise(
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_RESOURCES,
                format!("tasb_ivf build could not start its worker threads: {error}"),
                None,
                Some("Lower max_parallel_maintenance_workers, or raise the server's thread limit."),
            )
        })
}

unsafe extern "C" {
    fn sigfillset(set: *mut pg_sys::__sigset_t) -> std::ffi::c_int;
    fn pthread_sigmask(
        how: std::ffi::c_int,
        set: *const pg_sys::__sigset_t,
        old: *mut pg_sys::__sigset_t,
    ) -> std::ffi::c_int;
}

/// Runs `spawn` with every signal blocked on this thread, so threads it starts inherit a full
/// mask; the previous mask is restored after.
fn with_signals_blocked<R>(spawn: impl FnOnce() -> R) -> R {
    // SAFETY: sigset_t values on this stack frame (glibc's __sigset_t, which the bindings
    // describe); pthread_sigmask changes only this thread's mask and is restored below, with no
    // Postgres call or possible ERROR in between.
    unsafe {
        let mut all: pg_sys::__sigset_t = std::mem::zeroed();
        let mut previous: pg_sys::__sigset_t = std::mem::zeroed();
        sigfillset(&mut all);
        pthread_sigmask(pg_sys::SIG_SETMASK as std::ffi::c_int, &all, &mut previous);
        let result = spawn();
        pthread_sigmask(
            pg_sys::SIG_SETMASK as std::ffi::c_int,
            &previous,
            std::ptr::null_mut(),
        );
        result
    }
}

/// Adds an entry to the last block of a list's page image; starts a new block when that one is
/// full, and writes the image out first when the page has no room for another block.
unsafe fn append_entry(
    index: pg_sys::Relation,
    layout: &BlockLayout,
    image: &mut Option<PageImage>,
    head: &mut pg_sys::BlockNumber,
    code: &[u8],
    payload: &[u8],
) {
    let current = image.get_or_insert_with(|| PageImage::new(KIND_LIST));
    // SAFETY: private page images whose items are all blocks of `layout`; flush writes to the
    // index being built.
    unsafe {
        let last = pages::max_offset(current.page());
        let block_item = if last > 0 {
            pages::item_mut(current.page(), last).ok()
        } else {
            None
        };
        if block_item.is_some_and(|item| layout.push(item, code, payload)) {
            return;
        }
        let block = layout.with_entry(code, payload);
        if pages::add_item(current.page(), &block).is_some() {
            return;
        }
        (*pages::opaque(current.page())).next = *head;
        *head = current.flush(index);
        let mut fresh = PageImage::new(KIND_LIST);
        if pages::add_item(fresh.page(), &block).is_none() {
            // Unreachable: list_layout sizes blocks to fit an empty page.
            pgrx::error!(
                "tasb_ivf: a {}-byte list block does not fit on an empty page",
                block.len()
            );
        }
        *image = Some(fresh);
    }
}

/// Writes the centroid pages (contiguous blocks) and records them in `meta`.
///
/// # Safety
/// `index` is being built by this backend, which alone extends it.
pub unsafe fn write_centroids(
    index: pg_sys::Relation,
    meta: &mut Meta,
    centroids: &[f32],
    spreads: &[f32],
    heads: &[pg_sys::BlockNumber],
) {
    let dims = meta.dims as usize;
    let per_page = pages::items_per_page(CENTROID_PREFIX + dims * 4);
    if per_page == 0 {
        too_large(dims);
    }
    let mut image = PageImage::new(KIND_CENTROID);
    let mut first = pages::INVALID_BLOCK;
    let mut expected = pages::INVALID_BLOCK;
    let lists = heads.len();
    for list in 0..lists {
        let item = pages::centroid_item(
            heads[list],
            spreads[list],
            &centroids[list * dims..(list + 1) * dims],
        );
        // SAFETY: private image; per_page items fit by construction.
        unsafe {
            pages::add_item(image.page(), &item);
            if (list + 1) % per_page == 0 || list + 1 == lists {
                let block = image.flush(index);
                if first == pages::INVALID_BLOCK {
                    first = block;
                } else if block != expected {
                    raise(
                        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                        "tasb_ivf: centroid pages are not contiguous",
                        None,
                        None,
                    );
                }
                expected = block + 1;
                image = PageImage::new(KIND_CENTROID);
            }
        }
    }
    meta.lists = lists as u32;
    meta.centroid_start = first;
    meta.centroid_tail = expected - 1;
    meta.centroids_per_page = per_page as u32;
}

/// ambuildempty: the init fork of an unlogged index, an empty meta page.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    // SAFETY: Postgres calls this with the new index's relation; the init fork is empty. As in
    // Postgres's own AMs (e.g. brinbuildempty), the page is initialised, marked dirty and logged
    // in one critical section, so no ERROR can leave a dirty buffer unlogged; nothing in it can
    // raise one (the meta is made before).
    unsafe {
        let meta = pages::new_meta(column_dims(index).unwrap_or(0) as u32);
        let buffer = pg_sys::ReadBufferExtended(
            index,
            pg_sys::ForkNumber::INIT_FORKNUM,
            pages::INVALID_BLOCK,
            pg_sys::ReadBufferMode::RBM_NORMAL,
            std::ptr::null_mut(),
        );
        pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
        pg_sys::CritSectionCount += 1; // START_CRIT_SECTION
        let page = pg_sys::BufferGetPage(buffer);
        pages::init_page(page, KIND_META);
        pages::write_meta(page, &meta);
        pg_sys::MarkBufferDirty(buffer);
        pg_sys::log_newpage_buffer(buffer, true);
        pg_sys::CritSectionCount -= 1; // END_CRIT_SECTION
        pg_sys::UnlockReleaseBuffer(buffer);
    }
}
