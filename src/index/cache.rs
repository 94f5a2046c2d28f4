//! Per-backend caches of each index's centroids and rotation, which never change once written
//! (an index gets a new build on REINDEX or TRUNCATE, and its first list when an empty index
//! gets its first row, both part of the key), and of its list heads and spreads, which inserts
//! change and announce by raising the meta page's directory epoch. Without them every query
//! decoded all centroids (474 x 768 floats at 100,000 rows) and walked every centroid page for the
//! heads and spreads (237 page locks at 100,000 x 768; 750 at a million rows).

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
}

type Key = (u32, u32, u32, u32, u32, u64); // tablespace, database, relfilenode, lists, dims, build

const CAPACITY: usize = 8;

/// Entries, most recently used first.
type Lru<K, V> = RefCell<Vec<(K, Rc<V>)>>;

thread_local! {
    // Backends are single-threaded; most recently used first.
    static CACHE: Lru<Key, Shape> = const { RefCell::new(Vec::new()) };
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

/// Most-recently-used lookup of a value that is still `current`, or `make` and remember it in
/// place of the outdated one.
fn cached<K: PartialEq + Copy, V>(
    cache: &'static std::thread::LocalKey<Lru<K, V>>,
    key: K,
    current: impl FnOnce(&V) -> bool,
    make: impl FnOnce() -> V,
) -> Rc<V> {
    let found = cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        let position = cache.iter().position(|(k, _)| *k == key)?;
        let entry = cache.remove(position);
        if !current(&entry.1) {
            return None;
        }
        let value = entry.1.clone();
        cache.insert(0, entry);
        Some(value)
    });
    if let Some(found) = found {
        return found;
    }
    let value = Rc::new(make());
    cache.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.insert(0, (key, value.clone()));
        cache.truncate(CAPACITY);
    });
    value
}

/// The index's list heads and spreads as of `meta`'s directory epoch.
///
/// # Safety
/// `index` is an open tasb_ivf index and `meta` was read from it before this call (a directory
/// read after the meta holds every change whose epoch the meta shows).
pub unsafe fn directory(index: pg_sys::Relation, meta: &Meta) -> Rc<Directory> {
    // SAFETY: per the contract.
    let key = unsafe { key(index, meta) };
    let current = |directory: &Directory| directory.epoch == meta.directory_epoch;
    // SAFETY: per the contract.
    cached(&DIRECTORIES, key, current, || unsafe {
        lists::directory(index, meta)
    })
}

/// The index's centroids and rotation.
///
/// # Safety
/// `index` is an open tasb_ivf index and `meta` its current meta, with at least one list.
pub unsafe fn shape(index: pg_sys::Relation, meta: &Meta) -> Rc<Shape> {
    // SAFETY: per the contract.
    let key = unsafe { key(index, meta) };
    cached(
        &CACHE,
        key,
        |_| true,
        || {
            // SAFETY: per the contract.
            let centroids = unsafe { lists::centroids(index, meta) };
            let dims = meta.dims as usize;
            Shape {
                inverse_norms: kmeans::inverse_norms(&centroids, dims),
                centroids,
                rotation: Rotation::new(dims, meta.rotation_seed),
            }
        },
    )
}
