//! [`LiveState`]: the [`AppState`] every request reads, swapped whole by a configuration reload.
//!
//! A handler takes `AppState` as an extractor: it gets the state current when the request
//! arrived (a clone of a few `Arc`s) and keeps it to the end, so a request in flight during a
//! reload finishes with the configuration it started with, and the old core lives until the last
//! such request is done.

use std::future::{Ready, ready};
use std::sync::RwLock;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::AppState;

/// The current state, shared by every worker of every listener. The lock is held only to clone
/// or replace the state (never across an `.await`).
pub struct LiveState {
    current: RwLock<AppState>,
}

impl LiveState {
    /// Starts with `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            current: RwLock::new(state),
        }
    }

    /// The current state.
    pub fn load(&self) -> AppState {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the state; returns the previous one.
    pub fn swap(&self, state: AppState) -> AppState {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *current, state)
    }
}

/// Missing `LiveState` app data: a wiring error, answered 500 rather than a panic.
#[derive(Debug, thiserror::Error)]
#[error("jwtgate's state is not registered on this App")]
pub struct NoState;

impl actix_web::ResponseError for NoState {}

impl FromRequest for AppState {
    type Error = NoState;
    type Future = Ready<Result<Self, NoState>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.app_data::<web::Data<LiveState>>()
                .map(|live| live.load())
                .ok_or(NoState),
        )
    }
}
