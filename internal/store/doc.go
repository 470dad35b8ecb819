// Package store holds floodgate's counter stores. All of them implement
// ulule/limiter/v3's limiter.Store, so the rule engine can call
//
//	ctx, err := store.Increment(reqCtx, key, 1, rate)
//
// once per budget per request and act when ctx.Reached, with
// Retry-After = ctx.Reset - now (Reset is in unix seconds, rounded up).
//
// Three stores:
//
//   - Memory (NewMemory): the embedded default for a single proxy. Bounded
//     (at most MaxKeys counters, least recently used evicted first),
//     sharded, O(1) per operation, no background goroutine.
//   - Exact (NewExact): ulule/limiter's stock Redis store. One Redis round
//     trip per call, fixed window starting at the first hit. Kept as the
//     exact mode and as the benchmark baseline.
//   - Batched (NewBatched): counts locally like Memory and syncs to Redis in
//     batches every SyncInterval, so several proxies share one budget at a
//     small, documented overshoot, and never wait on Redis.
//
// # Window semantics (Memory and Batched)
//
// Windows are aligned to the unix epoch (window n covers
// [n*period, (n+1)*period)), so every proxy agrees on them. The count used
// for a decision is the approximate sliding window
//
//	count = cur + floor(prev * (1 - elapsed/period))
//
// where cur is the number of hits in the current window (including this
// one), prev the number in the previous window and elapsed the time since
// the current window began. It assumes the previous window's hits were
// spread evenly; with hits bunched at its end it can admit up to about
// prev*elapsed/period more than a true sliding window would. A request is
// Reached when count > Limit. Every Increment counts, also when Reached, as
// in ulule/limiter's own stores: a client that keeps hammering a refused
// budget stays refused. Once Reached, Reset is the earliest time at which
// one more hit would be admitted if no other hits arrived; otherwise Reset
// is the end of the current window. Get counts one hit, exactly like
// Increment(…, 1, …) (ulule/limiter's convention); Peek never counts.
package store
