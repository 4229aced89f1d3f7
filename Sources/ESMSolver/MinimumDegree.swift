// Approximate minimum degree ordering on a quotient graph.
//
// The graph of a symmetric matrix is eliminated one node at a time; an eliminated node becomes
// an *element* (the clique its elimination creates) so that fill is never stored explicitly:
// each live variable keeps a list of adjacent variables and a list of adjacent elements, and
// each element the list of its live variables. The degree of a variable after the elimination of
// pivot p is bounded from above, as in Amestoy–Davis–Duff's AMD, by
//     |A_i| + |L_p \ {i}| + Σ_{e ∈ E_i, e ≠ p} |L_e \ L_p|,
// where the set differences |L_e \ L_p| are counted in one sweep over L_p. Elements whose
// variables are all in L_p are absorbed into p (aggressive absorption). Rows denser than
// 10·√n are set aside at the start and ordered last. Supervariable detection is not done.
// Setup-time code: all lists live in one integer pool, compacted when it fills up.

enum MinimumDegreeOrdering {
    private enum State: UInt8 { case variable, element, absorbed, dense }

    /// A fill-reducing elimination order of the symmetric `n`×`n` pattern given by the entries
    /// `(rowval[k], column)` of a CSC pattern (either triangle or both; the diagonal is ignored).
    /// Returns `perm` with `perm[k]` = the original index eliminated k-th.
    ///
    /// Storage: one pool `iw` of node lists. A variable's list holds its `elen` adjacent elements
    /// followed by its adjacent variables; an element's list holds its variables. Lists only
    /// shrink when rewritten in place; a new element's list is appended at the end of the pool,
    /// which is compacted when full.
    /// Stage by stage: the nodes of each stage (ascending) in the minimum-degree order of the
    /// pattern they induce, stages one after another. Fill that an earlier stage leaves on later
    /// nodes is not counted in their degrees; what the stages buy is that it never spreads back.
    static func order(n: Int, colptr: [Int], rowval: [Int], stages: [Int]) -> [Int] {
        guard stages.count == n, n > 0 else { return order(n: n, colptr: colptr, rowval: rowval) }
        var byStage = [Int: [Int]]()
        for i in 0..<n { byStage[stages[i], default: []].append(i) }
        guard byStage.count > 1 else { return order(n: n, colptr: colptr, rowval: rowval) }
        var local = [Int](repeating: -1, count: n)
        var perm: [Int] = []
        perm.reserveCapacity(n)
        for stage in byStage.keys.sorted() {
            let nodes = byStage[stage] ?? []
            for (k, i) in nodes.enumerated() { local[i] = k }
            // The induced pattern, column by column in local numbering.
            var subColptr = [0]
            var subRowval: [Int] = []
            for j in nodes {
                for k in colptr[j]..<colptr[j + 1] {
                    let r = rowval[k]
                    if r >= 0 && r < n && local[r] >= 0 && stages[r] == stage { subRowval.append(local[r]) }
                }
                subColptr.append(subRowval.count)
            }
            for k in order(n: nodes.count, colptr: subColptr, rowval: subRowval) { perm.append(nodes[k]) }
            for i in nodes { local[i] = -1 }
        }
        return perm
    }

    static func order(n: Int, colptr: [Int], rowval: [Int]) -> [Int] {
        if n == 0 { return [] }
        // Symmetric adjacency without diagonal or duplicates, in CSR form.
        var degree = [Int](repeating: 0, count: n)
        for j in 0..<n {
            for k in colptr[j]..<colptr[j + 1] where rowval[k] != j {
                degree[rowval[k]] += 1
                degree[j] += 1
            }
        }
        var start = [Int](repeating: 0, count: n)
        var total = 0
        for i in 0..<n { start[i] = total; total += degree[i] }
        var len = [Int](repeating: 0, count: n)
        var iw = [Int](repeating: 0, count: max(2 * total + 2 * n, 16))
        var mark = [Int](repeating: -1, count: n)
        for j in 0..<n {
            for k in colptr[j]..<colptr[j + 1] {
                let i = rowval[k]
                if i == j { continue }
                iw[start[i] + len[i]] = j; len[i] += 1
                iw[start[j] + len[j]] = i; len[j] += 1
            }
        }
        // Deduplicate each list in place.
        for i in 0..<n {
            var w = start[i]
            for r in start[i]..<(start[i] + len[i]) {
                let v = iw[r]
                if mark[v] != i { mark[v] = i; iw[w] = v; w += 1 }
            }
            len[i] = w - start[i]
            degree[i] = len[i]
        }
        var pfree = total
        var elen = [Int](repeating: 0, count: n)
        var state = [State](repeating: .variable, count: n)

        // Dense rows are ordered last and take no part in the elimination.
        let denseThreshold = max(16, Int(10.0 * Double(n).squareRoot()))
        var denseNodes = [Int]()
        if n > denseThreshold {
            for i in 0..<n where len[i] > denseThreshold { state[i] = .dense; denseNodes.append(i) }
            if !denseNodes.isEmpty {
                for i in 0..<n where state[i] == .variable {
                    var w = start[i]
                    for r in start[i]..<(start[i] + len[i]) where state[iw[r]] != .dense { iw[w] = iw[r]; w += 1 }
                    len[i] = w - start[i]
                    degree[i] = len[i]
                }
            }
        }

        var weightStamp = [Int](repeating: -1, count: n)
        var weight = [Int](repeating: 0, count: n)
        var scratch = [Int](repeating: 0, count: n)
        for i in 0..<n { mark[i] = -1 }
        var buckets = DegreeBuckets(n: n)
        for i in stride(from: n - 1, through: 0, by: -1) where state[i] == .variable {
            buckets.insert(i, degree: degree[i])
        }

        var perm = [Int]()
        perm.reserveCapacity(n)
        var remaining = n - denseNodes.count
        var step = 0

        /// Moves every live list to the front of the pool (and grows it if `needed` won't fit).
        func compact(needed: Int) {
            var fresh = [Int](repeating: 0, count: max(iw.count, 2 * (pfree + needed)))
            var w = 0
            for i in 0..<n where state[i] == .variable || state[i] == .element {
                let s = start[i]
                start[i] = w
                for r in s..<(s + len[i]) { fresh[w] = iw[r]; w += 1 }
            }
            iw = fresh
            pfree = w
        }

        while let p = buckets.popMinimum() {
            step += 1
            // L_p = (A_p ∪ ⋃_{e∈E_p} L_e) \ {p}, appended at the end of the pool.
            var needed = len[p] - elen[p]
            for r in start[p]..<(start[p] + elen[p]) where state[iw[r]] == .element { needed += len[iw[r]] }
            if pfree + needed > iw.count { compact(needed: needed) }
            let lpStart = pfree
            mark[p] = step
            let ps = start[p], pe = elen[p], pl = len[p]
            for r in ps..<(ps + pe) {
                let e = iw[r]
                guard state[e] == .element else { continue }
                for t in start[e]..<(start[e] + len[e]) {
                    let v = iw[t]
                    if state[v] == .variable && mark[v] != step { mark[v] = step; iw[pfree] = v; pfree += 1 }
                }
                state[e] = .absorbed
                len[e] = 0
            }
            for r in (ps + pe)..<(ps + pl) {
                let v = iw[r]
                if state[v] == .variable && mark[v] != step { mark[v] = step; iw[pfree] = v; pfree += 1 }
            }
            state[p] = .element
            start[p] = lpStart
            len[p] = pfree - lpStart
            elen[p] = 0
            perm.append(p)
            remaining -= 1
            let lp = len[p]

            // |L_e \ L_p| for every element adjacent to L_p; absorb those it covers entirely.
            for r in lpStart..<(lpStart + lp) {
                let i = iw[r]
                for t in start[i]..<(start[i] + elen[i]) {
                    let e = iw[t]
                    guard state[e] == .element && e != p else { continue }
                    if weightStamp[e] != step { weightStamp[e] = step; weight[e] = len[e] }
                    weight[e] -= 1
                }
            }
            for r in lpStart..<(lpStart + lp) {
                let i = iw[r]
                for t in start[i]..<(start[i] + elen[i]) {
                    let e = iw[t]
                    if state[e] == .element && e != p && weightStamp[e] == step && weight[e] == 0 {
                        state[e] = .absorbed
                        len[e] = 0
                    }
                }
            }
            // Rewrite each i ∈ L_p: live elements, then p, then variables outside L_p.
            for r in lpStart..<(lpStart + lp) {
                let i = iw[r]
                let s = start[i], l = len[i], el = elen[i]
                for t in 0..<l { scratch[t] = iw[s + t] }
                var w = s
                var approx = lp - 1
                for t in 0..<el {
                    let e = scratch[t]
                    if state[e] == .element && e != p { iw[w] = e; w += 1; approx += weight[e] }
                }
                iw[w] = p; w += 1
                let newElen = w - s
                for t in el..<l {
                    let v = scratch[t]
                    if state[v] == .variable && mark[v] != step { iw[w] = v; w += 1 }
                }
                elen[i] = newElen
                len[i] = w - s
                approx += len[i] - newElen
                let bound = min(remaining - 1, degree[i] + lp - 1)
                buckets.remove(i, degree: degree[i])
                degree[i] = max(0, min(approx, bound))
                buckets.insert(i, degree: degree[i])
            }
        }
        perm.append(contentsOf: denseNodes)
        return perm
    }
}

/// Variables bucketed by degree in doubly linked lists, with a moving lower bound on the
/// smallest non-empty bucket: insert, remove and pop-minimum in O(1) amortized.
private struct DegreeBuckets {
    var head: [Int]
    var next: [Int]
    var previous: [Int]
    var minimum: Int

    init(n: Int) {
        head = [Int](repeating: -1, count: n + 1)
        next = [Int](repeating: -1, count: n)
        previous = [Int](repeating: -1, count: n)
        minimum = n + 1
    }

    mutating func insert(_ i: Int, degree d: Int) {
        let h = head[d]
        next[i] = h
        previous[i] = -1
        if h >= 0 { previous[h] = i }
        head[d] = i
        if d < minimum { minimum = d }
    }

    mutating func remove(_ i: Int, degree d: Int) {
        let p = previous[i], q = next[i]
        if p >= 0 { next[p] = q } else { head[d] = q }
        if q >= 0 { previous[q] = p }
    }

    mutating func popMinimum() -> Int? {
        while minimum < head.count && head[minimum] < 0 { minimum += 1 }
        guard minimum < head.count else { return nil }
        let i = head[minimum]
        remove(i, degree: minimum)
        return i
    }
}
