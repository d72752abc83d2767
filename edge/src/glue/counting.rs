//! The collector's page-view counting: the isolate's sums (`protocol::analytics::Buffer`) and their
//! write, scheduled once per flush window with the runtime's `waitUntil`, which keeps the isolate alive
//! until the write is done. Reports and loads between two writes cost no storage request at all.

use crate::glue::context::Cx;
use crate::platform::cloud::Cloud;
use crate::protocol::analytics::{Buffer, FLUSH_MS};
use crate::services::analytics;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use worker::{Delay, Env};

thread_local! {
    /// The isolate's sums since its last write.
    static BUFFER: Rc<RefCell<Buffer>> = Rc::new(RefCell::new(Buffer::default()));
}

/// The isolate's sums.
pub(crate) fn buffer() -> Rc<RefCell<Buffer>> {
    BUFFER.with(Rc::clone)
}

/// How many tries a scheduled write makes before it leaves what failed to the next report's write.
const TRIES: u32 = 3;

/// The flush window: `LEADGATE_FLUSH_MS` (the end-to-end tests shorten it), else `analytics::FLUSH_MS`.
fn window(env: &Env) -> u64 {
    env.var("LEADGATE_FLUSH_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(FLUSH_MS)
}

/// Writes the isolate's sums one flush window from now. Called when `Buffer::schedule` says a write must
/// be scheduled, so there is at most one waiting per isolate.
pub(crate) fn schedule(cx: &Cx<'_>) {
    let Some(ctx) = cx.ctx else { return };
    let env = cx.env.clone();
    let ms = window(&env);
    ctx.wait_until(async move {
        let buffer = buffer();
        for _ in 0..TRIES {
            Delay::from(Duration::from_millis(ms)).await;
            let cloud = match Cloud::of(&env) {
                Ok(cloud) => cloud,
                Err(e) => {
                    worker::console_error!("analytics flush: no storage: {}", e.log_line().unwrap_or_default());
                    continue;
                }
            };
            let (_, again) = analytics::flush(&cloud, &buffer).await;
            if !again {
                return;
            }
        }
        // What is left waits for the next report, which schedules a write again.
        buffer.borrow_mut().unschedule();
    });
}
