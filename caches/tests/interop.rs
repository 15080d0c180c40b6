//! Interop tests against real third-party software sharing our caches.

mod django_interop;
