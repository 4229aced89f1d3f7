import Dispatch

/// `body(i)` for i in 0..<count, on up to `threads` threads (serially when `threads` ≤ 1); the
/// results in order. `body` must not touch shared mutable state.
func parallelMap<T>(_ count: Int, threads: Int, _ body: (Int) -> T) -> [T] {
    guard threads > 1, count > 1 else { return (0..<count).map(body) }
    return withoutActuallyEscaping(body) { body in
        let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        slots.initialize(repeating: nil)
        defer {
            slots.deinitialize()
            slots.deallocate()
        }
        let workers = min(threads, count)
        nonisolated(unsafe) let work = body
        nonisolated(unsafe) let out = slots
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < count {
                out[i] = work(i)
                i += workers
            }
        }
        return slots.compactMap { $0 }
    }
}
