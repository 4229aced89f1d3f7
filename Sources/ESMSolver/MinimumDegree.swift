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
// Setup-time code: it allocates freely.

enum MinimumDegreeOrdering {
    /// A fill-reducing elimination order of the symmetric `n`×`n` pattern given by the entries
    /// `(rowval[k], column)` of a CSC pattern (either triangle or both; the diagonal is ignored).
    /// Returns `perm` with `perm[k]` = the original index eliminated k-th.
    static func order(n: Int, colptr: [Int], rowval: [Int]) -> [Int] {
        if n == 0 { return [] }
        // Full adjacency without diagonal or duplicates.
        var adjacency = [[Int]](repeating: [], count: n)
        for j in 0..<n {
            for k in colptr[j]..<colptr[j + 1] {
                let i = rowval[k]
                if i == j { continue }
                adjacency[i].append(j)
                adjacency[j].append(i)
            }
        }
        var stamp = [Int](repeating: -1, count: n)
        for i in 0..<n {
            var unique = [Int]()
            unique.reserveCapacity(adjacency[i].count)
            for v in adjacency[i] where stamp[v] != i { stamp[v] = i; unique.append(v) }
            adjacency[i] = unique
        }

        var dense = [Bool](repeating: false, count: n)
        let denseThreshold = max(16, Int(10.0 * Double(n).squareRoot()))
        var denseNodes = [Int]()
        for i in 0..<n where adjacency[i].count > denseThreshold && n > denseThreshold {
            dense[i] = true
            denseNodes.append(i)
        }
        if !denseNodes.isEmpty {
            for i in 0..<n { adjacency[i].removeAll { dense[$0] } }
        }

        var elements = [[Int]](repeating: [], count: n)   // E_i for variables
        var members = [[Int]](repeating: [], count: n)    // L_e for elements
        var eliminated = dense                            // dense nodes never enter the graph
        var absorbed = [Bool](repeating: false, count: n)
        var degree = adjacency.map { $0.count }
        var mark = [Int](repeating: -1, count: n)
        var weightStamp = [Int](repeating: -1, count: n)
        var weight = [Int](repeating: 0, count: n)

        var heap = MinHeap(capacity: n)
        for i in 0..<n where !dense[i] { heap.push(key: degree[i], value: i, n: n) }

        var perm = [Int]()
        perm.reserveCapacity(n)
        var remaining = n - denseNodes.count
        var pivotList = [Int]()
        var step = 0

        while let (d, p) = heap.pop(n: n) {
            if eliminated[p] || degree[p] != d { continue }   // stale heap entry
            step += 1
            // L_p = (A_p ∪ ⋃_{e∈E_p} L_e) \ {p}
            pivotList.removeAll(keepingCapacity: true)
            mark[p] = step
            for v in adjacency[p] where !eliminated[v] && mark[v] != step {
                mark[v] = step
                pivotList.append(v)
            }
            for e in elements[p] where !absorbed[e] {
                for v in members[e] where !eliminated[v] && mark[v] != step {
                    mark[v] = step
                    pivotList.append(v)
                }
                absorbed[e] = true
                members[e] = []
            }
            eliminated[p] = true
            adjacency[p] = []
            elements[p] = []
            perm.append(p)
            remaining -= 1

            // |L_e \ L_p| for every element adjacent to L_p.
            for i in pivotList {
                for e in elements[i] where !absorbed[e] {
                    if weightStamp[e] != step { weightStamp[e] = step; weight[e] = members[e].count }
                    weight[e] -= 1
                }
            }
            for i in pivotList {
                for e in elements[i] where !absorbed[e] && weightStamp[e] == step && weight[e] == 0 {
                    absorbed[e] = true          // L_e ⊆ L_p: p covers e
                    members[e] = []
                }
            }
            let lp = pivotList.count
            for i in pivotList {
                elements[i].removeAll { absorbed[$0] }
                elements[i].append(p)
                adjacency[i].removeAll { eliminated[$0] || mark[$0] == step }
                var approx = adjacency[i].count + (lp - 1)
                for e in elements[i] where e != p { approx += weight[e] }
                let bound = min(remaining - 1, degree[i] + lp - 1)
                degree[i] = max(0, min(approx, bound))
                heap.push(key: degree[i], value: i, n: n)
            }
            members[p] = pivotList
        }
        perm.append(contentsOf: denseNodes)
        return perm
    }
}

/// A binary min-heap of (key, value) pairs packed into one Int (key·n + value); ties go to the
/// smaller value, so the ordering is deterministic.
private struct MinHeap {
    var items: [Int] = []
    init(capacity: Int) { items.reserveCapacity(capacity) }

    mutating func push(key: Int, value: Int, n: Int) {
        items.append(key * n + value)
        var c = items.count - 1
        while c > 0 {
            let parent = (c - 1) / 2
            if items[parent] <= items[c] { break }
            items.swapAt(parent, c)
            c = parent
        }
    }

    mutating func pop(n: Int) -> (Int, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var c = 0
            while true {
                let l = 2 * c + 1, r = l + 1
                var s = c
                if l < items.count && items[l] < items[s] { s = l }
                if r < items.count && items[r] < items[s] { s = r }
                if s == c { break }
                items.swapAt(s, c)
                c = s
            }
        }
        return (top / n, top % n)
    }
}
