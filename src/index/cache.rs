//! Per-backend caches of each index's centroids, rotation and centroid pages, and of its list
//! heads and spreads. Centroids change only when a list splits, which also adds a list, so the
//! list count is part of the key (with the build, which REINDEX and TRUNCATE change); heads and
//! spreads change with inserts, which announce it by raising the meta page's directory epoch.
//! Without them every query decoded all centroids (474 x 768 floats at 100,000 rows) and walked
//! every centroid page for the heads and spreads (237 page locks at 100,000 x 768).
//!
//! What is read fresh is checked against the meta page read again afterwards: a split that
//! finished in between (new list count) means the pages read may mix the lists before and after
//! it, so they are read again.

use super::lists::{self, Directory};
use super::pages::Meta;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::rc::Rc;
use tasb_index::kmeans;
use tasb_index::rotation::Rotation;

pub struct Shape {
    pub centroids: Vec<f32>,
    pub inverse_norms: Vec<f32>,
    pub rotation: Rotation,
    /// The centroid pages in list order (list l is on page l / centroids_per_page).
    pub centroid_pages: Vec<pg_sys::BlockNumber>,
}

impl Shape {
    pub fn centroid(&self, dims: usize, list: usize) -> &[f32] {
        &self.centroids[list * dims..(list + 1) * dims]
    }
}

type Key = (u32, u32, u32, u32, u32, u64); // tablespace, database, relfilenode, lists, dims, build

const CAPACITY: usize = 8;

/// Entries, most recently used first.
type Lru<K, V> = RefCell<Vec<(K, Rc<V>)>>;

thread_local! {
    // Backends are single-threaded; most recently used first.
    static SHAPES: Lru<Key, Shape> = const { RefCell::new(Vec::new()) };
    static DIRECTORIES: Lru<Key, Directory> = const { RefCell::new(Vec::new()) };
}

/// # Safety
/// `index` is an open relation.
unsafe fn key(index: pg_sys::Relation, meta: &Meta) -> Key {
    // SAFETY: an open relation's rd_node is valid.
    let node = unsafe { (*index).rd_node };
    (
        node.spcNode.to_u32(),
        node.dbNode.to_u32(),
        node.relNode.to_u32(),
        meta.lists,
        meta.dims,
        meta.build_id,
    )
}

/// Most-recently-used lookup of a value that is still `current`.
fn lookup<K: PartialEq + Copy, V>(
    cache: &'static std::thread::LocalKey<Lru<K, V>>,
    key: K,
    current: impl FnOnce(&V) -> bool,
) -> Option<Rc<V>> {
    cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        let position = cache.iter().position(|(k, _)| *k == key)?;
        let entry = cache.remove(position);
        if !current(&entry.1) {
            return None;
        }
        let value = entry.1.clone();
        cache.insert(0, entry);
        Some(value)
    })
}

fn remember<K: PartialEq + Copy, V>(
    cache: &'static std::thread::LocalKey<Lru<K, V>>,
    key: K,
    value: Rc<V>,
) {
    cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.retain(|(k, _)| *k != key);
        cache.insert(0, (key, value));
        cache.truncate(CAPACITY);
    });
}

/// The same lists: no split (or rebuild) finished between the two reads of the meta page.
fn same_lists(a: &Meta, b: &Meta) -> bool {
    a.lists == b.lists && a.build_id == b.build_id && a.dims == b.dims
}

/// A consistent meta, shape and directory: the directory holds every change whose epoch the meta
/// shows (it was read after it) and the same lists as the shape. `meta` is a meta the caller has
/// just read (it is read again only when something had to be read fresh).
///
/// # Safety
/// `index` is an open tasb_ivf index and `meta` was read from it, with at least one list.
pub unsafe fn snapshot(
    index: pg_sys::Relation,
    mut meta: Meta,
) -> (Meta, Rc<Shape>, Rc<Directory>) {
    loop {
        // SAFETY: per the contract.
        let key = unsafe { key(index, &meta) };
        let shape = lookup(&SHAPES, key, |_| true);
        let epoch = meta.directory_epoch;
        let directory = lookup(&DIRECTORIES, key, |d: &Directory| d.epoch == epoch);
        let (shape, directory) = match (shape, directory) {
            (Some(shape), Some(directory)) => return (meta, shape, directory),
            // SAFETY: per the contract.
            (Some(shape), None) => (
                shape,
                Rc::new(unsafe { lists::read_directory(index, &meta) }),
            ),
            (None, _) => {
                // SAFETY: per the contract.
                let (centroids, directory, centroid_pages) =
                    unsafe { lists::read_shape(index, &meta) };
                let dims = meta.dims as usize;
                let shape = Shape {
                    inverse_norms: kmeans::inverse_norms(&centroids, dims),
                    centroids,
                    rotation: Rotation::new(dims, meta.rotation_seed),
                    centroid_pages,
                };
                (Rc::new(shape), Rc::new(directory))
            }
        };
        // SAFETY: per the contract.
        let after = unsafe { lists::meta(index) };
        if same_lists(&meta, &after) {
            remember(&SHAPES, key, shape.clone());
            remember(&DIRECTORIES, key, directory.clone());
            return (meta, shape, directory);
        }
        meta = after;
    }
}

/// A consistent meta and shape (as [`snapshot`], without needing a current directory).
///
/// # Safety
/// As for [`snapshot`].
pub unsafe fn shape(index: pg_sys::Relation, meta: Meta) -> (Meta, Rc<Shape>) {
    // SAFETY: per the contract.
    let key = unsafe { key(index, &meta) };
    if let Some(shape) = lookup(&SHAPES, key, |_| true) {
        return (meta, shape);
    }
    // SAFETY: per the contract.
    let (meta, shape, _) = unsafe { snapshot(index, meta) };
    (meta, shape)
}
