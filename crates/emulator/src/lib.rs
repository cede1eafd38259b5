//! Loopback emulators of Microsoft Graph (Exchange Online) and Aurea CRM.interface, the two services we cannot reach from here, faithful to the references in `../shared/reference/`.

pub mod crm;
pub mod graph;
mod seed_limits;

use std::{
    net::SocketAddr,
    sync::{Mutex, MutexGuard, PoisonError},
};

/// Binds an emulator's listener and reports the address it got (port 0 picks a free one). Both emulators
/// bind through here so that a busy or forbidden address fails the same way.
pub(crate) async fn bind(
    listen: SocketAddr,
) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Locks a mutex; a panic elsewhere must not take the whole emulator down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
