//! The service's region in the server's main shared memory, reserved at preload.

use pgrx::pg_guard;
use pgrx::pg_sys;
use std::sync::atomic::{AtomicPtr, Ordering};
use tasb_service::Shared;

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());
static mut PREVIOUS_REQUEST_HOOK: pg_sys::shmem_request_hook_type = None;
static mut PREVIOUS_STARTUP_HOOK: pg_sys::shmem_startup_hook_type = None;

/// Installs the hooks that reserve and create the region; only while preloading.
pub fn request() {
    // SAFETY: _PG_init runs in the postmaster, single-threaded, before any hook is called; we
    // chain to whatever hook was installed before ours.
    unsafe {
        PREVIOUS_REQUEST_HOOK = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(on_request);
        PREVIOUS_STARTUP_HOOK = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(on_startup);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_request() {
    // SAFETY: called by the postmaster once, in the window where add-ins reserve shared memory.
    unsafe {
        if let Some(previous) = PREVIOUS_REQUEST_HOOK {
            previous();
        }
        pg_sys::RequestAddinShmemSpace(Shared::SIZE);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_startup() {
    // SAFETY: called while shared memory is created (postmaster start and every crash restart).
    // AddinShmemInitLock (main LWLock 21) serialises ShmemInitStruct among add-ins; the region is
    // ours alone (named), Shared::SIZE bytes, MAXALIGNed by ShmemInitStruct, and is initialised
    // before the lock is released, before any other process can see it.
    unsafe {
        if let Some(previous) = PREVIOUS_STARTUP_HOOK {
            previous();
        }
        let lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock;
        pg_sys::LWLockAcquire(lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let region =
            pg_sys::ShmemInitStruct(c"tasb encoder service".as_ptr(), Shared::SIZE, &mut found);
        if !found {
            Shared::init(region.cast::<u8>());
        }
        SHARED.store(region.cast::<Shared>(), Ordering::Release);
        pg_sys::LWLockRelease(lock);
    }
}

/// The region, when tasb was preloaded (processes inherit the pointer from the postmaster).
pub fn shared() -> Option<&'static Shared> {
    let region = SHARED.load(Ordering::Acquire);
    // SAFETY: non-null only once on_startup initialised the region, which lives as long as the
    // server's shared memory, i.e. as long as this process.
    unsafe { region.as_ref() }
}
