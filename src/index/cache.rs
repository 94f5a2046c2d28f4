//! A per-backend cache of each index's centroids and rotation, which never change once written
//! (an index gets a new relfilenode on REINDEX or TRUNCATE, and its first list when an empty index
//! gets its first row, both part of the key). Without it every query decoded all centroids
//! (474 x 768 floats at 100,000 rows). List spreads do change, so they are always read fresh.

use super::lists;
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

type Key = (u32, u32, u32, u32, u32); // tablespace, database, relfilenode, lists, dims

const CAPACITY: usize = 8;

thread_local! {
    // Backends are single-threaded; most recently used first.
    static CACHE: RefCell<Vec<(Key, Rc<Shape>)>> = const { RefCell::new(Vec::new()) };
}

/// The index's centroids and rotation.
///
/// # Safety
/// `index` is an open tasb_ivf index and `meta` its current meta, with at least one list.
pub unsafe fn shape(index: pg_sys::Relation, meta: &Meta) -> Rc<Shape> {
    // SAFETY: an open relation's rd_node is valid.
    let node = unsafe { (*index).rd_node };
    let key = (
        node.spcNode.to_u32(),
        node.dbNode.to_u32(),
        node.relNode.to_u32(),
        meta.lists,
        meta.dims,
    );
    if let Some(found) = CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let position = cache.iter().position(|(k, _)| *k == key)?;
        let entry = cache.remove(position);
        let shape = entry.1.clone();
        cache.insert(0, entry);
        Some(shape)
    }) {
        return found;
    }
    // SAFETY: per the contract.
    let centroids = unsafe { lists::centroids(index, meta) };
    let dims = meta.dims as usize;
    let shape = Rc::new(Shape {
        inverse_norms: kmeans::inverse_norms(&centroids, dims),
        centroids,
        rotation: Rotation::new(dims, meta.rotation_seed),
    });
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.insert(0, (key, shape.clone()));
        cache.truncate(CAPACITY);
    });
    shape
}
